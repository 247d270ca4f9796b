"""Train the two tokenizer families Skipper must read, on real text, deterministically.

* SentencePiece BPE with byte fallback (Llama 1/2, Mistral style) -> ``tokenizer.model``.
* GPT-2 style byte-level BPE with HF ``tokenizers`` (SmolLM2, Qwen, Llama 3 style)
  -> ``tokenizer.json``.

Both get ChatML specials ``<|im_start|>`` / ``<|im_end|>`` so chat templates can be tested.
Determinism matters because tests cache generated models and compare bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import ExportError

# Ids fixed by construction; other code (loaders, tests) may rely on them.
SPM_UNK, SPM_BOS, SPM_EOS = 0, 1, 2  # <unk>, <s>, </s>
SPM_IM_START, SPM_IM_END = 3, 4  # user_defined_symbols come right after the meta pieces
BPE_ENDOFTEXT, BPE_IM_START, BPE_IM_END = 0, 1, 2  # trainer special tokens, in order

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"

# The temp input file name is recorded inside the model proto; we overwrite it with this
# so the written bytes do not depend on the random temp path.
_SPM_INPUT_PLACEHOLDER = "pydoc_data.topics.txt"


def train_sentencepiece(text: str, vocab_size: int, out_path: str | os.PathLike[str]) -> Path:
    """Train a Llama-style SentencePiece BPE model on ``text`` and write it to ``out_path``.

    Ids: <unk>=0, <s>=1, </s>=2, <|im_start|>=3, <|im_end|>=4, then 256 byte pieces
    <0x00>..<0xFF>, then merged pieces. No pad piece (pad_id=-1), as in Llama.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    out = Path(out_path)
    # Why 256 + 5 + margin: byte_fallback reserves 256 pieces; the vocab must also hold the
    # corpus characters, or the trainer fails with a hard_vocab_limit error.
    if vocab_size < 300:
        raise ExportError("tiny tokenizer", f"SentencePiece vocab_size {vocab_size} is too small (need >= 300)")
    # Fixed seed: the BPE trainer itself is deterministic, but sampling code paths use the
    # global generator; pinning it removes any doubt.
    spm.set_random_generator_seed(1234)
    with tempfile.TemporaryDirectory(prefix="skipper-spm-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text(text, encoding="utf-8")
        prefix = Path(tmp) / "tokenizer"
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(prefix),
            model_type="bpe",
            vocab_size=vocab_size,
            byte_fallback=True,
            character_coverage=0.9995,  # rare chars (e.g. "ß") go to byte pieces
            num_threads=1,
            input_sentence_size=0,  # use every line: no sampling
            shuffle_input_sentence=False,
            normalization_rule_name="identity",
            add_dummy_prefix=True,
            remove_extra_whitespaces=False,  # as Llama's tokenizer.model
            split_digits=True,  # as Llama's tokenizer.model
            allow_whitespace_only_pieces=True,
            max_sentence_length=1 << 16,
            unk_id=SPM_UNK,
            bos_id=SPM_BOS,
            eos_id=SPM_EOS,
            pad_id=-1,
            user_defined_symbols=[IM_START, IM_END],
            hard_vocab_limit=True,
            minloglevel=2,  # quiet: no training log on stderr
        )
        proto = pb.ModelProto()
        proto.ParseFromString((prefix.with_suffix(".model")).read_bytes())
    # Scrub the temp paths recorded in trainer_spec so the bytes are reproducible.
    proto.trainer_spec.input[:] = [_SPM_INPUT_PLACEHOLDER]
    proto.trainer_spec.model_prefix = "tokenizer"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(proto.SerializeToString(deterministic=True))
    _check_spm_layout(proto)
    return out


def _check_spm_layout(proto: object) -> None:
    """Fail loudly if the trainer changed the id layout other code relies on."""
    pieces = [p.piece for p in proto.pieces]  # type: ignore[attr-defined]
    expect = {SPM_UNK: "<unk>", SPM_BOS: "<s>", SPM_EOS: "</s>", SPM_IM_START: IM_START, SPM_IM_END: IM_END}
    for i, piece in expect.items():
        if pieces[i] != piece:
            raise ExportError("tiny tokenizer", f"SentencePiece id {i} is {pieces[i]!r}, expected {piece!r}")


def train_byte_level_bpe(text: str, vocab_size: int, out_path: str | os.PathLike[str]) -> Path:
    """Train a GPT-2 style byte-level BPE with HF ``tokenizers`` and write ``tokenizer.json``.

    Ids: <|endoftext|>=0, <|im_start|>=1, <|im_end|>=2, then the 256 byte-level alphabet
    symbols, then merges. Digits are split one by one before byte-level mapping (as SmolLM2).
    No BOS is prepended by the tokenizer (GPT-2 style, no post-processor).
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 3 + 256 + 16:
        raise ExportError("tiny tokenizer", f"byte-level BPE vocab_size {vocab_size} is too small (need >= 275)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=[ENDOFTEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    # Why lines: training from an iterator of lines is equivalent to a file and avoids a temp file.
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    for i, piece in ((BPE_ENDOFTEXT, ENDOFTEXT), (BPE_IM_START, IM_START), (BPE_IM_END, IM_END)):
        if tok.id_to_token(i) != piece:
            raise ExportError("tiny tokenizer", f"byte-level BPE id {i} is {tok.id_to_token(i)!r}, expected {piece!r}")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(out), pretty=True)
    return out


# Characters of real text used for training: enough for ~250 merges, trains in ~0.1 s.
TRAIN_CHARS = 120_000


def tokenizer_filename(kind: str) -> str:
    if kind == "spm":
        return "tokenizer.model"
    if kind == "bpe":
        return "tokenizer.json"
    raise ExportError("tiny tokenizer", f"unknown tokenizer kind {kind!r} (expected 'spm' or 'bpe')")


def train_tokenizer(kind: str, vocab_size: int, out_path: str | os.PathLike[str]) -> Path:
    """Train the ``kind`` tokenizer ('spm' or 'bpe') on the standard real-text corpus."""
    from .corpus import real_text

    tokenizer_filename(kind)  # validates kind
    text = real_text(TRAIN_CHARS)
    if kind == "spm":
        return train_sentencepiece(text, vocab_size, out_path)
    return train_byte_level_bpe(text, vocab_size, out_path)


def tokenizer_vocab_size(kind: str, path: str | os.PathLike[str]) -> int:
    """Number of ids of a trained tokenizer file (added tokens included)."""
    if tokenizer_filename(kind) == "tokenizer.model":
        from sentencepiece import sentencepiece_model_pb2 as pb

        proto = pb.ModelProto()
        proto.ParseFromString(Path(path).read_bytes())
        return len(proto.pieces)
    from tokenizers import Tokenizer

    return int(Tokenizer.from_file(str(path)).get_vocab_size(with_added_tokens=True))


def check_vocab_size(kind: str, path: str | os.PathLike[str], expected: int) -> None:
    """The model's embedding rows must match the tokenizer exactly for these tiny models."""
    got = tokenizer_vocab_size(kind, path)
    if got != expected:
        raise ExportError("tiny tokenizer", f"{path} has {got} tokens but the spec says vocab_size={expected}")

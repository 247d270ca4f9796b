"""Tokenizer files for the bundle: taken from a Hugging Face folder, or rebuilt from GGUF metadata.

GGUF stores the vocabulary as arrays (tokens, merges or scores, token types); the runtime wants the
library formats: ``tokenizer.json`` (byte-level BPE, loaded by HF tokenizers) or ``tokenizer.model``
(SentencePiece). Both are rebuilt here with the libraries' own writers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ExportError
from .checkpoint import TokenizerSpec

# GGUF token types (llama.cpp's llama_token_type).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6

# Pre-tokenizer regexes of the BPE vocabularies we know, keyed by tokenizer.ggml.pre.
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
BPE_PRE_TOKENIZERS = ("default", "gpt2", "smollm", "llama-bpe", "llama3", "qwen2")


def tokenizer_from_gguf(meta: dict[str, Any], where: str) -> TokenizerSpec:
    model = meta.get("tokenizer.ggml.model")
    tokens = meta.get("tokenizer.ggml.tokens")
    if model is None or tokens is None:
        raise ExportError(where, "no tokenizer in the GGUF metadata (tokenizer.ggml.model / tokenizer.ggml.tokens)")
    types = meta.get("tokenizer.ggml.token_type") or [_NORMAL] * len(tokens)
    if len(types) != len(tokens):
        raise ExportError(where, f"tokenizer.ggml.token_type has {len(types)} entries for {len(tokens)} tokens")
    specials = {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == _CONTROL}
    bos = meta.get("tokenizer.ggml.bos_token_id")
    eos = meta.get("tokenizer.ggml.eos_token_id")
    eot = meta.get("tokenizer.ggml.eot_token_id")
    for key, v in (("bos", bos), ("eos", eos), ("eot", eot)):
        if v is not None and not 0 <= int(v) < len(tokens):
            raise ExportError(where, f"tokenizer.ggml.{key}_token_id {v} is outside the vocabulary of {len(tokens)}")
    eos_ids = tuple(sorted({int(x) for x in (eos, eot) if x is not None}))
    common = dict(
        bos_id=None if bos is None else int(bos),
        eos_ids=eos_ids,
        pad_id=_opt_int(meta.get("tokenizer.ggml.padding_token_id")),
        unk_id=_opt_int(meta.get("tokenizer.ggml.unknown_token_id")),
        special_tokens=specials,
    )
    if model == "gpt2":
        merges = meta.get("tokenizer.ggml.merges")
        if merges is None:
            raise ExportError(where, "byte-level BPE tokenizer without tokenizer.ggml.merges")
        pre = meta.get("tokenizer.ggml.pre") or "default"
        data = _byte_level_bpe_json(tokens, types, merges, pre, where)
        add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", False)) and common["bos_id"] is not None
        return TokenizerSpec(kind="bpe", files={"tokenizer.json": data}, add_bos=add_bos, **common)
    if model == "llama":
        scores = meta.get("tokenizer.ggml.scores")
        if scores is None or len(scores) != len(tokens):
            raise ExportError(where, "SentencePiece tokenizer needs tokenizer.ggml.scores, one per token")
        add_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
        data = _sentencepiece_model(tokens, scores, types, add_prefix, common["unk_id"], common["bos_id"], eos_ids, where)
        add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", True)) and common["bos_id"] is not None
        return TokenizerSpec(kind="spm", files={"tokenizer.model": data}, add_bos=add_bos, **common)
    raise ExportError(where, f"unsupported tokenizer.ggml.model '{model}' (supported: gpt2, llama)")


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _byte_level_bpe_json(tokens: list[str], types: list[int], merges: list[str], pre: str, where: str) -> bytes:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    if pre not in BPE_PRE_TOKENIZERS:
        raise ExportError(where, f"unsupported tokenizer.ggml.pre '{pre}' (supported: {', '.join(BPE_PRE_TOKENIZERS)})")
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ExportError(where, "tokenizer.ggml.tokens has duplicate entries")
    pairs = []
    for m in merges:
        a, sep, b = m.partition(" ")
        if not sep:
            raise ExportError(where, f"malformed merge '{m}' in tokenizer.ggml.merges")
        pairs.append((a, b))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, ignore_merges=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in ("llama-bpe", "llama3", "qwen2"):
        split = _LLAMA3_SPLIT if pre != "qwen2" else _QWEN2_SPLIT
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    added = [
        AddedToken(t, special=(ty == _CONTROL), normalized=False)
        for t, ty in zip(tokens, types)
        if ty in (_CONTROL, _USER_DEFINED)
    ]
    tok.add_tokens(added)
    # Canonical JSON: sorted keys make the file byte-identical across runs.
    return (json.dumps(json.loads(tok.to_str()), ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _sentencepiece_model(tokens: list[str], scores: list[float], types: list[int], add_prefix: bool,
                         unk_id: int | None, bos_id: int | None, eos_ids: tuple[int, ...], where: str) -> bytes:
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb
    except ImportError as e:  # pragma: no cover - depends on the sentencepiece build
        raise ExportError(where, f"cannot build tokenizer.model: {e}") from None
    piece_type = {
        _NORMAL: pb.ModelProto.SentencePiece.NORMAL,
        _UNKNOWN: pb.ModelProto.SentencePiece.UNKNOWN,
        _CONTROL: pb.ModelProto.SentencePiece.CONTROL,
        _USER_DEFINED: pb.ModelProto.SentencePiece.USER_DEFINED,
        _UNUSED: pb.ModelProto.SentencePiece.UNUSED,
        _BYTE: pb.ModelProto.SentencePiece.BYTE,
    }
    m = pb.ModelProto()
    for t, s, ty in zip(tokens, scores, types):
        p = m.pieces.add()
        p.piece = t
        p.score = float(s)
        p.type = piece_type.get(int(ty), pb.ModelProto.SentencePiece.NORMAL)
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(tokens)
    m.trainer_spec.byte_fallback = any(int(t) == _BYTE for t in types)
    m.trainer_spec.unk_id = -1 if unk_id is None else unk_id
    m.trainer_spec.bos_id = -1 if bos_id is None else bos_id
    m.trainer_spec.eos_id = eos_ids[0] if eos_ids else -1
    m.trainer_spec.pad_id = -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = add_prefix
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    return m.SerializeToString(deterministic=True)


def tokenizer_from_hf(folder: Path) -> TokenizerSpec:
    """Copy the folder's tokenizer file and read its special tokens from tokenizer_config.json."""
    where = str(folder)
    cfg_path = folder / "tokenizer_config.json"
    tcfg: dict[str, Any] = {}
    if cfg_path.exists():
        tcfg = _read_json(cfg_path)
    if (folder / "tokenizer.json").exists():
        data = (folder / "tokenizer.json").read_bytes()
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_str(data.decode("utf-8"))
        except Exception as e:
            raise ExportError(str(folder / "tokenizer.json"), f"not a valid tokenizers file: {str(e).splitlines()[0]}") from None
        vocab_lookup = tok.token_to_id
        specials = {a.content: tok.token_to_id(a.content) for a in tok.get_added_tokens_decoder().values() if a.special}
        kind, files = "bpe", {"tokenizer.json": data}
    elif (folder / "tokenizer.model").exists():
        data = (folder / "tokenizer.model").read_bytes()
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor()
        try:
            sp.LoadFromSerializedProto(data)
        except Exception as e:
            raise ExportError(str(folder / "tokenizer.model"), f"not a valid SentencePiece model: {e}") from None

        def vocab_lookup(t: str) -> int | None:
            i = sp.PieceToId(t)
            return None if i == sp.unk_id() and t != sp.IdToPiece(sp.unk_id()) else i

        specials = {sp.IdToPiece(i): i for i in range(sp.GetPieceSize()) if sp.IsControl(i)}
        kind, files = "spm", {"tokenizer.model": data}
    else:
        raise ExportError(where, "no tokenizer.json or tokenizer.model in the folder")

    def special_id(key: str) -> int | None:
        v = tcfg.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if v is None:
            return None
        i = vocab_lookup(v)
        if i is None:
            raise ExportError(str(cfg_path), f"{key} '{v}' is not in the vocabulary")
        return int(i)

    eos = special_id("eos_token")
    gen_eos = _generation_eos(folder)
    eos_ids = tuple(sorted({*(gen_eos or ()), *(() if eos is None else (eos,))}))
    if "add_bos_token" in tcfg:
        add_bos = bool(tcfg["add_bos_token"])
    elif kind == "bpe":
        # tokenizer.json may add BOS through its post-processor (Llama 3 does): ask it.
        bos = special_id("bos_token")
        add_bos = bos is not None and tok.encode("a", add_special_tokens=True).ids[:1] == [bos]
    else:
        add_bos = True
    add_bos = add_bos and special_id("bos_token") is not None
    return TokenizerSpec(kind=kind, files=files, bos_id=special_id("bos_token"), eos_ids=eos_ids,
                         pad_id=special_id("pad_token"), unk_id=special_id("unk_token"), add_bos=add_bos,
                         special_tokens={k: int(v) for k, v in specials.items() if v is not None})


def _generation_eos(folder: Path) -> list[int] | None:
    p = folder / "generation_config.json"
    if not p.exists():
        return None
    v = _read_json(p).get("eos_token_id")
    if v is None:
        return None
    return [int(x) for x in (v if isinstance(v, list) else [v])]


def _read_json(p: Path) -> dict[str, Any]:
    try:
        v = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportError(str(p), f"not valid JSON: {e}") from None
    if not isinstance(v, dict):
        raise ExportError(str(p), "expected a JSON object")
    return v

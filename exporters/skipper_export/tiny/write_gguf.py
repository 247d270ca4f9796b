"""Write a tiny model as a llama.cpp-style GGUF file with ``gguf.GGUFWriter``.

Mirrors what llama.cpp's ``convert_hf_to_gguf.py`` + ``llama-quantize`` produce for Llama
and Qwen2, so the GGUF loader is tested against the same conventions as real files:
GGUF tensor names, the q/k row permutation for arch llama (llama.cpp uses interleaved
RoPE pairs; HF uses half-split pairs), metadata keys, and the embedded tokenizer.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType
from gguf.constants import GGML_QUANT_SIZES

from ..errors import ExportError
from . import tokenizers_train as tt
from .ggml_quant import quantize
from .weights import TinySpec
from .write_hf import CHATML_TEMPLATE, special_tokens

log = logging.getLogger(__name__)

T = GGMLQuantizationType
TENSOR_TYPES: dict[str, tuple[T, int]] = {  # name -> (type for matrices, general.file_type)
    "F32": (T.F32, LlamaFileType.ALL_F32),
    "F16": (T.F16, LlamaFileType.MOSTLY_F16),
    "BF16": (T.BF16, LlamaFileType.MOSTLY_BF16),
    "Q8_0": (T.Q8_0, LlamaFileType.MOSTLY_Q8_0),
    "Q4_0": (T.Q4_0, LlamaFileType.MOSTLY_Q4_0),
    "Q4_1": (T.Q4_1, LlamaFileType.MOSTLY_Q4_1),
    "Q4_K": (T.Q4_K, LlamaFileType.MOSTLY_Q4_K_S),  # every matrix Q4_K: closest to Q4_K_S
    "Q6_K": (T.Q6_K, LlamaFileType.MOSTLY_Q6_K),
    # As the published SmolLM2 Q4 file: Q8_0 embedding (and output), Q4_1 layer matrices.
    "MIXED": (T.Q4_1, LlamaFileType.MOSTLY_Q4_1),
}

# SentencePiece ModelProto.SentencePiece.Type -> GGUF token type.
_SPM_TYPE_TO_GGUF = {1: TokenType.NORMAL, 2: TokenType.UNKNOWN, 3: TokenType.CONTROL, 4: TokenType.USER_DEFINED, 5: TokenType.UNUSED, 6: TokenType.BYTE}


def hf_to_gguf_name(name: str) -> str:
    """Hugging Face tensor name -> llama.cpp GGUF tensor name."""
    fixed = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    if name in fixed:
        return fixed[name]
    parts = name.split(".")  # model.layers.{i}.{module...}
    if parts[:2] != ["model", "layers"]:
        raise ExportError("tiny gguf", f"unexpected tensor name {name!r}")
    rest = ".".join(parts[3:])
    table = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.bias": "attn_k.bias",
        "self_attn.v_proj.bias": "attn_v.bias",
        "self_attn.o_proj.weight": "attn_output.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    if rest not in table:
        raise ExportError("tiny gguf", f"unexpected tensor name {name!r}")
    return f"blk.{parts[2]}.{table[rest]}"


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF half-split RoPE layout -> llama.cpp interleaved layout (rows of q/k weights or biases)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of :func:`permute_rows` (what a GGUF loader applies to get HF layout back)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def normalize_tensor_type(tensor_type: str) -> str:
    key = tensor_type.upper()
    if key not in TENSOR_TYPES:
        raise ExportError("tiny gguf", f"tensor type {tensor_type!r} must be one of {', '.join(TENSOR_TYPES)} (case-insensitive)")
    return key


def plan_tensor_types(weights: dict[str, np.ndarray], tensor_type: str) -> dict[str, T]:
    """GGUF name -> storage type. 1-D tensors stay F32; a matrix whose row length is not a
    multiple of the type's block size falls back to F16, as no block can span rows."""
    key = normalize_tensor_type(tensor_type)
    matrix_type = TENSOR_TYPES[key][0]
    plan: dict[str, T] = {}
    for hf_name, w in weights.items():
        name = hf_to_gguf_name(hf_name)
        if w.ndim == 1:
            plan[name] = T.F32
            continue
        want = matrix_type
        if key == "MIXED" and name in ("token_embd.weight", "output.weight"):
            want = T.Q8_0
        block = GGML_QUANT_SIZES[want][0]
        if w.shape[-1] % block:
            want = T.F16
        plan[name] = want
    return plan


def _spm_vocab(path: Path) -> tuple[list[str], list[float], list[int], bool]:
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(path.read_bytes())
    tokens = [p.piece for p in proto.pieces]
    scores = [float(p.score) for p in proto.pieces]
    types = [int(_SPM_TYPE_TO_GGUF[int(p.type)]) for p in proto.pieces]
    return tokens, scores, types, bool(proto.normalizer_spec.add_dummy_prefix)


def _bpe_vocab(path: Path) -> tuple[list[str], list[int], list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    by_id: dict[int, str] = {int(i): t for t, i in data["model"]["vocab"].items()}
    special: set[int] = set()
    for added in data.get("added_tokens", []):
        by_id[int(added["id"])] = added["content"]
        if added.get("special", False):
            special.add(int(added["id"]))
    if sorted(by_id) != list(range(len(by_id))):
        raise ExportError("tiny gguf", f"{path}: token ids are not contiguous from 0")
    tokens = [by_id[i] for i in range(len(by_id))]
    # llama.cpp marks special added tokens CONTROL, other added tokens USER_DEFINED.
    added_ids = {int(a["id"]) for a in data.get("added_tokens", [])}
    types = [int(TokenType.CONTROL if i in special else TokenType.USER_DEFINED if i in added_ids else TokenType.NORMAL) for i in range(len(tokens))]
    # tokenizers >= 0.20 stores merges as [a, b] pairs, older versions as "a b" strings.
    merges = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in data["model"]["merges"]]
    return tokens, types, merges


def _add_tokenizer(writer: GGUFWriter, kind: str, path: Path) -> None:
    st = special_tokens(kind)  # type: ignore[arg-type]
    if kind == "spm":
        tokens, scores, types, add_space_prefix = _spm_vocab(path)
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_add_space_prefix(add_space_prefix)
        writer.add_eot_token_id(st["im_end"])  # ChatML turns end with <|im_end|>
    else:
        tokens, types, merges = _bpe_vocab(path)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("smollm")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
    writer.add_bos_token_id(st["bos"][1])
    writer.add_eos_token_id(st["eos"][1])
    writer.add_unk_token_id(st["unk"][1])
    if st["pad"] is not None:
        writer.add_pad_token_id(st["pad"][1])
    writer.add_add_bos_token(st["add_bos"])
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)


def write_gguf(
    out_path: str | os.PathLike[str],
    spec: TinySpec,
    weights: dict[str, np.ndarray],
    tokenizer_kind: Literal["spm", "bpe"],
    tensor_type: str = "F32",
    tokenizer_file: str | os.PathLike[str] | None = None,
) -> Path:
    """Write one GGUF file (arch llama, or qwen2 when ``spec.attention_bias``).

    ``tokenizer_file``: the trained tokenizer.model / tokenizer.json to embed; trained here
    (deterministically) when None. Returns the path written.
    """
    key = normalize_tensor_type(tensor_type)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    arch = spec.arch
    with tempfile.TemporaryDirectory(prefix="skipper-tiny-tok-") as tmp:
        tok_path = Path(tokenizer_file) if tokenizer_file is not None else tt.train_tokenizer(
            tokenizer_kind, spec.vocab_size, Path(tmp) / tt.tokenizer_filename(tokenizer_kind)
        )
        tt.check_vocab_size(tokenizer_kind, tok_path, spec.vocab_size)
        writer = GGUFWriter(str(out), arch)
        writer.add_name(spec.name)
        writer.add_file_type(int(TENSOR_TYPES[key][1]))
        if key not in ("F32", "F16", "BF16"):
            writer.add_quantization_version(2)  # GGML_QNT_VERSION written by llama-quantize
        writer.add_block_count(spec.layers)
        writer.add_context_length(spec.max_position)
        writer.add_embedding_length(spec.hidden)
        writer.add_feed_forward_length(spec.intermediate)
        writer.add_head_count(spec.heads)
        writer.add_head_count_kv(spec.kv_heads)
        writer.add_layer_norm_rms_eps(spec.rms_eps)
        writer.add_rope_freq_base(spec.rope_theta)
        writer.add_rope_dimension_count(spec.head_dim)
        writer.add_vocab_size(spec.vocab_size)
        _add_tokenizer(writer, tokenizer_kind, tok_path)

    plan = plan_tensor_types(weights, key)
    wanted = TENSOR_TYPES[key][0]
    fallback = [n for n, t in plan.items() if t == T.F16 and wanted not in (T.F16, T.F32)]
    if fallback:
        # Say so: a test asking for Q4_K on a 64-wide model would otherwise silently test F16.
        log.warning(
            "%s: %d matrices stored as F16 because their row length is not a multiple of the %s block size "
            "(use hidden/intermediate multiples of %d): %s",
            out.name, len(fallback), key, GGML_QUANT_SIZES[wanted][0], ", ".join(fallback),
        )
    for hf_name, w in weights.items():
        name = hf_to_gguf_name(hf_name)
        data = np.ascontiguousarray(w, dtype=np.float32)
        if arch == "llama" and (".attn_q." in name or ".attn_k." in name):
            data = permute_rows(data, spec.heads if ".attn_q." in name else spec.kv_heads)
        qtype = plan[name]
        encoded = quantize(data, qtype)
        writer.add_tensor(name, encoded, raw_dtype=qtype)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out

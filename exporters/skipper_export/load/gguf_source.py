"""Read a GGUF file (llama.cpp's format) into a Checkpoint, checking every size against the file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from .checkpoint import Checkpoint
from .config import ModelConfig, RopeScaling
from .tokenizer_build import tokenizer_from_gguf
from .weight import Weight

SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K")

# GGUF tensor name suffix -> Hugging Face name suffix, per layer.
_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def load_gguf(path: Path) -> Checkpoint:
    where = str(path)
    reader = _open(path)
    meta = _Metadata(reader, where)
    arch = meta.str("general.architecture")
    if arch not in ("llama", "qwen2"):
        raise ExportError(where, f"unsupported architecture '{arch}' (supported: llama, qwen2)")
    cfg = _config(meta, arch, reader, where)
    weights = _weights(reader, path, cfg, where)
    tok = tokenizer_from_gguf(meta.raw, where)
    ckpt = Checkpoint(
        source=where,
        source_format="gguf",
        config=cfg,
        weights=weights,
        tokenizer=tok,
        chat_template=meta.get("tokenizer.chat_template"),
        name=display_name(meta.get("general.name"), meta.get("general.basename"), meta.get("general.size_label"),
                          meta.get("general.finetune"), path),
    )
    ckpt.check_shapes()
    return ckpt


_QUANT_SUFFIX = re.compile(r"[.-](?:I?Q\d\w*|F16|F32|BF16)$", re.IGNORECASE)


def display_name(name: Any, basename: Any, size_label: Any, finetune: Any, path: Path) -> str:
    """The model's name for people. llama.cpp's converter fills ``general.name`` from the training
    folder's name when the checkpoint has none ("Smollm2 135M 8k Lc100K Mix1 Ep2" for
    SmolLM2-135M-Instruct): that name, recognised as the title-cased join of basename, size label and
    finetune, gives way to the file's own name without its quantization suffix when a person cased
    that one (it has capitals)."""
    stem = _QUANT_SUFFIX.sub("", path.stem) or path.stem
    if not isinstance(name, str) or not name.strip():
        return stem
    parts = [str(p) for p in (basename, size_label, finetune) if isinstance(p, str) and p]
    generated = "-".join(parts).lower()
    if len(parts) >= 2 and re.sub(r"[\s_]+", "-", name.strip()).lower() == generated and stem != stem.lower():
        return stem
    return name.strip()


def _open(path: Path) -> Any:
    where = str(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ExportError(where, f"cannot read file: {e.strerror}") from None
    if magic != b"GGUF":
        raise ExportError(where, f"not a GGUF file (magic bytes {magic!r}, expected b'GGUF')")
    from gguf import GGUFReader

    try:
        return GGUFReader(path)
    except (ValueError, IndexError, KeyError, OverflowError, EOFError, MemoryError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "is not a valid GGMLQuantizationType" in msg:
            raise ExportError(where, f"unknown tensor type: {msg}") from None
        raise ExportError(where, f"corrupt or truncated GGUF file: {msg}") from None


class _Metadata:
    """Typed access to GGUF key/values with one-line errors naming the key."""

    def __init__(self, reader: Any, where: str) -> None:
        self.where = where
        self.raw: dict[str, Any] = {}
        for key, fld in reader.fields.items():
            try:
                self.raw[key] = fld.contents()
            except Exception:  # a field the library cannot decode; we report it if we need it
                self.raw[key] = None

    def get(self, key: str, default: Any = None) -> Any:
        v = self.raw.get(key)
        return default if v is None else v

    def str(self, key: str) -> str:
        v = self.raw.get(key)
        if not isinstance(v, str):
            raise ExportError(self.where, f"metadata key '{key}' is missing or not a string")
        return v

    def int(self, key: str, default: int | None = None) -> int:
        v = self.raw.get(key, default)
        if v is None:
            raise ExportError(self.where, f"missing metadata key '{key}'")
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ExportError(self.where, f"metadata key '{key}' must be an integer, got {v!r}")
        return int(v)

    def float(self, key: str, default: float | None = None) -> float:
        v = self.raw.get(key, default)
        if v is None:
            raise ExportError(self.where, f"missing metadata key '{key}'")
        if not isinstance(v, (int, float, np.floating, np.integer)):
            raise ExportError(self.where, f"metadata key '{key}' must be a number, got {v!r}")
        return float(v)


def _config(meta: _Metadata, arch: str, reader: Any, where: str) -> ModelConfig:
    hidden = meta.int(f"{arch}.embedding_length")
    heads = meta.int(f"{arch}.attention.head_count")
    if heads <= 0 or hidden % heads:
        raise ExportError(where, f"{arch}.embedding_length {hidden} is not a multiple of {arch}.attention.head_count {heads}")
    head_dim = meta.int(f"{arch}.attention.key_length", hidden // heads)
    rope_dim = meta.int(f"{arch}.rope.dimension_count", head_dim)
    if rope_dim != head_dim:
        raise ExportError(where, f"{arch}.rope.dimension_count {rope_dim} != head dim {head_dim}: partial rotary is not supported")
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = meta.int(f"{arch}.vocab_size", len(tokens) if tokens is not None else None)
    tied = not any(t.name == "output.weight" for t in reader.tensors)
    kind = meta.get(f"{arch}.rope.scaling.type", "none")
    factor = meta.float(f"{arch}.rope.scaling.factor", 1.0)
    if kind not in ("none", "linear", "yarn"):
        raise ExportError(where, f"unsupported {arch}.rope.scaling.type '{kind}' (supported: none, linear, yarn)")
    original = meta.int(f"{arch}.rope.scaling.original_context_length", 0)
    if kind == "yarn" and original <= 0:
        raise ExportError(where, f"yarn rope scaling needs {arch}.rope.scaling.original_context_length")
    attn_factor = meta.get(f"{arch}.rope.scaling.attn_factor")
    scaling = RopeScaling(kind=kind, factor=factor, original_max_position=original,
                          beta_fast=meta.float(f"{arch}.rope.scaling.yarn_beta_fast", 32.0),
                          beta_slow=meta.float(f"{arch}.rope.scaling.yarn_beta_slow", 1.0),
                          attention_factor=None if attn_factor is None else float(attn_factor))
    if arch == "llama" and any(t.name == "rope_freqs.weight" for t in reader.tensors):
        raise ExportError(where, "tensor 'rope_freqs.weight' (llama3 rope scaling baked by llama.cpp) is not supported yet")
    cfg = ModelConfig(
        architecture=arch,
        num_layers=meta.int(f"{arch}.block_count"),
        hidden_size=hidden,
        intermediate_size=meta.int(f"{arch}.feed_forward_length"),
        num_heads=heads,
        num_kv_heads=meta.int(f"{arch}.attention.head_count_kv", heads),
        head_dim=head_dim,
        vocab_size=vocab,
        rms_norm_eps=meta.float(f"{arch}.attention.layer_norm_rms_epsilon"),
        rope_theta=meta.float(f"{arch}.rope.freq_base", 10000.0),
        max_position=meta.int(f"{arch}.context_length"),
        tie_word_embeddings=tied,
        attention_bias=any(t.name.endswith("attn_q.bias") for t in reader.tensors),
        rope_scaling=scaling,
    )
    cfg.validate(where)
    return cfg


def _qk_row_perm(n_head: int, head_dim: int) -> np.ndarray:
    """Row order that undoes llama.cpp's q/k permutation (interleaved pairs -> rotate-half halves).

    llama.cpp stores HF row (h, j*half + i) at GGUF row (h, 2*i + j); returns perm with
    hf_rows = gguf_rows[perm].
    """
    half = head_dim // 2
    h, j, i = np.meshgrid(np.arange(n_head), np.arange(2), np.arange(half), indexing="ij")
    return (h * head_dim + 2 * i + j).reshape(-1).astype(np.int64)


def _weights(reader: Any, path: Path, cfg: ModelConfig, where: str) -> dict[str, Weight]:
    from gguf import GGML_QUANT_SIZES

    file_size = os.path.getsize(path)
    out: dict[str, Weight] = {}
    for t in reader.tensors:
        name = _hf_name(t.name, cfg.num_layers, where)
        if name is None:
            continue
        tname = t.tensor_type.name
        if tname not in SUPPORTED_TYPES:
            raise ExportError(where, f"tensor '{t.name}' has type {tname}, supported: {', '.join(SUPPORTED_TYPES)}")
        shape = tuple(int(x) for x in reversed([int(d) for d in t.shape]))  # GGUF lists dims innermost first
        if not shape or min(shape) < 1:
            raise ExportError(where, f"tensor '{t.name}' has shape {shape}: every dimension must be >= 1")
        block, type_size = GGML_QUANT_SIZES[t.tensor_type]
        if shape[-1] % block:
            raise ExportError(where, f"tensor '{t.name}' row length {shape[-1]} is not a multiple of the {tname} block size {block}")
        n_elems = int(np.prod(shape))
        n_bytes = n_elems // block * type_size
        if int(t.data_offset) + n_bytes > file_size or t.data.nbytes != n_bytes:
            raise ExportError(where, f"tensor '{t.name}' data ({n_bytes} bytes at offset {int(t.data_offset)}) runs past the end of the file ({file_size} bytes): truncated file")
        raw = _raw_array(t.data, tname, shape)
        perm = None
        if cfg.architecture == "llama" and t.name.endswith(("attn_q.weight", "attn_q.bias")):
            perm = _qk_row_perm(cfg.num_heads, cfg.head_dim)
        elif cfg.architecture == "llama" and t.name.endswith(("attn_k.weight", "attn_k.bias")):
            perm = _qk_row_perm(cfg.num_kv_heads, cfg.head_dim)
        if perm is not None and len(perm) != shape[0]:
            raise ExportError(where, f"tensor '{t.name}' has {shape[0]} rows, expected {len(perm)} from the head counts")
        out[name] = Weight(name, shape, tname, raw, perm)
    return out


def _raw_array(data: np.ndarray, tname: str, shape: tuple[int, ...]) -> np.ndarray:
    if tname == "F32":
        return np.asarray(data, dtype=np.float32).reshape(shape)
    if tname == "F16":
        return np.asarray(data).view(np.float16).reshape(shape)
    if tname == "BF16":
        bits = np.asarray(data).view(np.uint16).reshape(shape).astype(np.uint32) << 16
        return bits.view(np.float32)
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return np.asarray(data).view(np.uint8).reshape(rows, -1)


def _hf_name(gguf_name: str, n_layers: int, where: str) -> str | None:
    if gguf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[gguf_name]
    if gguf_name.startswith("blk."):
        parts = gguf_name.split(".", 2)
        if len(parts) == 3 and parts[1].isdigit():
            layer = int(parts[1])
            if layer >= n_layers:
                raise ExportError(where, f"tensor '{gguf_name}' names layer {layer} but block_count is {n_layers}")
            suffix = _LAYER_NAMES.get(parts[2])
            if suffix is None:
                # An unknown per-layer tensor means an architecture feature we would silently drop.
                raise ExportError(where, f"unexpected tensor '{gguf_name}': not part of the supported Llama/Qwen2 layer")
            return f"model.layers.{layer}.{suffix}"
    return None  # global tensors we do not use (rope_freqs is rejected in _config)

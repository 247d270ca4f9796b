"""Independent checkpoint reader for the numpy reference model.

This module deliberately shares no code with the exporter's own loaders (``skipper_export.load``):
it is half of the oracle the exported ONNX graphs are checked against, so a bug in the exporter's
reader must not be able to hide by also being present here.

Output is always Hugging Face naming and orientation (linear weights [out, in]), float32.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skipper_export.errors import ExportError

Weights = dict[str, np.ndarray]


@dataclass(frozen=True)
class RopeScaling:
    """Normalised RoPE scaling; field meanings follow Hugging Face's ``rope_scaling`` dict."""

    kind: str  # "linear" | "llama3" | "yarn"
    factor: float
    original_max_position: int | None = None  # llama3, yarn
    low_freq_factor: float = 1.0  # llama3
    high_freq_factor: float = 4.0  # llama3
    beta_fast: float = 32.0  # yarn
    beta_slow: float = 1.0  # yarn
    attention_factor: float | None = None  # yarn; None -> 0.1 * ln(factor) + 1


@dataclass(frozen=True)
class RefConfig:
    arch: str  # "llama" | "mistral" | "qwen2"
    n_layers: int
    hidden: int
    intermediate: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    rms_eps: float
    rope_theta: float
    vocab_size: int
    max_position: int
    tied: bool
    rope_scaling: RopeScaling | None = None
    # llama.cpp stores Llama-3 rope scaling as a per-frequency divisor tensor (rope_freqs.weight)
    # instead of metadata; kept here so such GGUFs are not silently read with plain RoPE.
    rope_freq_factors: tuple[float, ...] | None = None


def load_weights(path: str | os.PathLike[str]) -> tuple[RefConfig, Weights]:
    """Read a GGUF file or a Hugging Face folder into (config, HF-named float32 weights)."""
    p = Path(path)
    if not p.exists():
        raise ExportError(str(p), "no such file or directory")
    if p.is_file() and p.suffix.lower() == ".gguf":
        return _load_gguf(p)
    if p.is_dir():
        return _load_hf(p)
    raise ExportError(str(p), "expected a .gguf file or a Hugging Face model folder")


# --------------------------------------------------------------------------------------------
# GGUF
# --------------------------------------------------------------------------------------------

_GGUF_ARCHS = ("llama", "qwen2")

# GGUF per-layer suffix -> HF per-layer suffix.
_GGUF_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_GGUF_GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def _unpermute_rope_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Invert llama.cpp's q/k row permutation (HF rotate-half -> interleaved pairs).

    llama.cpp writes ``w.reshape(n, 2, d/2, ...).swapaxes(1, 2)``, i.e. output row h*d + 2j + a
    comes from input row h*d + a*d/2 + j. Reading the permuted rows as (n, d/2, 2) and swapping
    back restores HF order.
    """
    rows = w.shape[0]
    if rows % (2 * n_head):
        raise ExportError("gguf", f"q/k tensor with {rows} rows cannot hold {n_head} heads")
    half = rows // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _load_gguf(path: Path) -> tuple[RefConfig, Weights]:
    import gguf  # local import: the HF path must work without touching gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as e:  # noqa: BLE001 - any parse failure means a bad file
        raise ExportError(str(path), f"not a readable GGUF file ({e})") from e

    def meta(key: str, default: Any = None) -> Any:
        field = reader.fields.get(key)
        return default if field is None else field.contents()

    arch = meta("general.architecture")
    if arch not in _GGUF_ARCHS:
        raise ExportError(str(path), f"unsupported GGUF architecture {arch!r} (supported: {', '.join(_GGUF_ARCHS)})")

    def need(key: str) -> Any:
        value = meta(f"{arch}.{key}")
        if value is None:
            raise ExportError(str(path), f"missing GGUF metadata {arch}.{key}")
        return value

    hidden = int(need("embedding_length"))
    n_heads = int(need("attention.head_count"))
    n_kv_heads = int(meta(f"{arch}.attention.head_count_kv", n_heads))
    head_dim = int(meta(f"{arch}.attention.key_length", hidden // n_heads))
    rope_dim = int(meta(f"{arch}.rope.dimension_count", head_dim))
    if rope_dim != head_dim:
        raise ExportError(str(path), f"partial rotary (rope dim {rope_dim} != head dim {head_dim}) is not supported")

    vocab = meta(f"{arch}.vocab_size")
    if vocab is None:
        tokens = meta("tokenizer.ggml.tokens")
        if tokens is None:
            raise ExportError(str(path), "no vocab_size and no tokenizer.ggml.tokens")
        vocab = len(tokens)

    scaling: RopeScaling | None = None
    kind = meta(f"{arch}.rope.scaling.type", "none")
    if kind == "linear":
        scaling = RopeScaling("linear", float(need("rope.scaling.factor")))
    elif kind == "yarn":
        scaling = RopeScaling(
            "yarn",
            float(need("rope.scaling.factor")),
            original_max_position=int(need("rope.scaling.original_context_length")),
            beta_fast=float(meta(f"{arch}.rope.scaling.yarn_beta_fast", 32.0)),
            beta_slow=float(meta(f"{arch}.rope.scaling.yarn_beta_slow", 1.0)),
        )
    elif kind != "none":
        raise ExportError(str(path), f"unsupported rope scaling type {kind!r}")

    weights: Weights = {}
    freq_factors: tuple[float, ...] | None = None
    for t in reader.tensors:
        # GGUF lists dims fastest-first; numpy wants them slowest-first -> [out, in].
        shape = [int(d) for d in reversed(t.shape)]
        try:
            arr = gguf.quants.dequantize(t.data, t.tensor_type)
        except NotImplementedError as e:
            raise ExportError(str(path), f"tensor {t.name}: cannot dequantize {t.tensor_type.name}") from e
        arr = np.ascontiguousarray(arr, dtype=np.float32).reshape(shape)

        if t.name == "rope_freqs.weight":
            freq_factors = tuple(float(x) for x in arr.reshape(-1))
            continue
        if t.name in _GGUF_GLOBAL_NAMES:
            weights[_GGUF_GLOBAL_NAMES[t.name]] = arr
            continue
        parts = t.name.split(".", 2)  # blk, N, suffix
        if len(parts) != 3 or parts[0] != "blk" or parts[2] not in _GGUF_LAYER_NAMES:
            raise ExportError(str(path), f"unexpected GGUF tensor {t.name!r}")
        suffix = parts[2]
        if arch == "llama" and suffix.startswith("attn_q."):
            arr = _unpermute_rope_rows(arr, n_heads)
        elif arch == "llama" and suffix.startswith("attn_k."):
            arr = _unpermute_rope_rows(arr, n_kv_heads)
        weights[f"model.layers.{parts[1]}.{_GGUF_LAYER_NAMES[suffix]}"] = arr

    tied = "lm_head.weight" not in weights
    cfg = RefConfig(
        arch=arch,
        n_layers=int(need("block_count")),
        hidden=hidden,
        intermediate=int(need("feed_forward_length")),
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=head_dim,
        rms_eps=float(need("attention.layer_norm_rms_epsilon")),
        rope_theta=float(meta(f"{arch}.rope.freq_base", 10000.0)),
        vocab_size=int(vocab),
        max_position=int(meta(f"{arch}.context_length", 0)),
        tied=tied,
        rope_scaling=scaling,
        rope_freq_factors=freq_factors,
    )
    return cfg, _finish(cfg, weights, str(path))


# --------------------------------------------------------------------------------------------
# Hugging Face folder
# --------------------------------------------------------------------------------------------

_HF_TYPES = ("llama", "mistral", "qwen2")


def _hf_rope_scaling(raw: dict[str, Any] | None, where: str) -> RopeScaling | None:
    if not raw:
        return None
    kind = raw.get("rope_type", raw.get("type"))
    if kind in (None, "default"):
        return None
    factor = float(raw.get("factor", 1.0))
    orig = raw.get("original_max_position_embeddings")
    if kind == "linear":
        return RopeScaling("linear", factor)
    if kind == "llama3":
        return RopeScaling(
            "llama3",
            factor,
            original_max_position=int(orig) if orig is not None else 8192,
            low_freq_factor=float(raw.get("low_freq_factor", 1.0)),
            high_freq_factor=float(raw.get("high_freq_factor", 4.0)),
        )
    if kind == "yarn":
        attn = raw.get("attention_factor")
        return RopeScaling(
            "yarn",
            factor,
            original_max_position=int(orig) if orig is not None else None,
            beta_fast=float(raw.get("beta_fast") or 32.0),
            beta_slow=float(raw.get("beta_slow") or 1.0),
            attention_factor=float(attn) if attn is not None else None,
        )
    raise ExportError(where, f"unsupported rope_scaling type {kind!r}")


def _load_hf(folder: Path) -> tuple[RefConfig, Weights]:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ExportError(str(folder), "no config.json in Hugging Face folder")
    try:
        c = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ExportError(str(cfg_path), f"unreadable config ({e})") from e

    model_type = c.get("model_type")
    if model_type not in _HF_TYPES:
        raise ExportError(str(cfg_path), f"unsupported model_type {model_type!r} (supported: {', '.join(_HF_TYPES)})")
    try:
        hidden = int(c["hidden_size"])
        n_heads = int(c["num_attention_heads"])
        n_layers = int(c["num_hidden_layers"])
        intermediate = int(c["intermediate_size"])
        vocab = int(c["vocab_size"])
        rms_eps = float(c["rms_norm_eps"])
    except KeyError as e:
        raise ExportError(str(cfg_path), f"missing config key {e.args[0]}") from e

    # transformers >= 5 moves theta/scaling into "rope_parameters"; accept either spelling.
    rope_params = c.get("rope_parameters") or {}
    rope_theta = float(c.get("rope_theta", rope_params.get("rope_theta", 10000.0)))
    scaling_raw = c.get("rope_scaling") or (rope_params if rope_params.get("rope_type") not in (None, "default") else None)

    weights: Weights = {}
    for f in _safetensors_files(folder):
        for name, arr in _read_safetensors(f).items():
            weights[name] = arr

    cfg = RefConfig(
        arch=model_type,
        n_layers=n_layers,
        hidden=hidden,
        intermediate=intermediate,
        n_heads=n_heads,
        n_kv_heads=int(c.get("num_key_value_heads") or n_heads),
        head_dim=int(c.get("head_dim") or hidden // n_heads),
        rms_eps=rms_eps,
        rope_theta=rope_theta,
        vocab_size=vocab,
        max_position=int(c.get("max_position_embeddings", 0)),
        tied=bool(c.get("tie_word_embeddings", False)),
        rope_scaling=_hf_rope_scaling(scaling_raw, str(cfg_path)),
    )
    return cfg, _finish(cfg, weights, str(folder))


def _safetensors_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text()).get("weight_map", {})
        files = [folder / name for name in sorted(set(weight_map.values()))]
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ExportError(str(folder), "no *.safetensors files")
    for f in files:
        if not f.is_file():
            raise ExportError(str(f), "listed in the safetensors index but missing")
    return files


def _read_safetensors(path: Path) -> Weights:
    header = _safetensors_header(path)
    if any(v.get("dtype") == "BF16" for k, v in header.items() if k != "__metadata__"):
        return _read_safetensors_raw(path, header)  # numpy has no bfloat16
    from safetensors.numpy import load_file

    return {k: np.asarray(v, dtype=np.float32) for k, v in load_file(str(path)).items()}


def _safetensors_header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        raw_len = fh.read(8)
        if len(raw_len) != 8:
            raise ExportError(str(path), "truncated safetensors file")
        n = int.from_bytes(raw_len, "little")
        try:
            return json.loads(fh.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ExportError(str(path), f"bad safetensors header ({e})") from e


_RAW_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def _read_safetensors_raw(path: Path, header: dict[str, Any]) -> Weights:
    """Minimal safetensors parser: 8-byte LE header length, JSON header, then the data block."""
    with open(path, "rb") as fh:
        data_start = 8 + int.from_bytes(fh.read(8), "little")
    blob = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start)
    out: Weights = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _RAW_DTYPES.get(info["dtype"])
        if dt is None:
            raise ExportError(str(path), f"tensor {name}: unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        flat = np.frombuffer(blob[begin:end].tobytes(), dtype=dt)
        if info["dtype"] == "BF16":
            # bfloat16 is the top half of a float32: shift the bits into place.
            flat = (flat.astype(np.uint32) << 16).view(np.float32)
        shape = [int(d) for d in info["shape"]]
        if flat.size != math.prod(shape):
            raise ExportError(str(path), f"tensor {name}: {flat.size} values for shape {shape}")
        out[name] = flat.astype(np.float32).reshape(shape)
    return out


# --------------------------------------------------------------------------------------------
# Shared validation (of the output format, not shared with the exporter)
# --------------------------------------------------------------------------------------------


def _finish(cfg: RefConfig, w: Weights, where: str) -> Weights:
    """Fill the tied head and check every tensor the forward pass needs is present and shaped."""
    if cfg.tied:
        # A tied model uses the embedding even if the file also carries a (stale) lm_head copy.
        if "model.embed_tokens.weight" in w:
            w["lm_head.weight"] = w["model.embed_tokens.weight"]
    elif "lm_head.weight" not in w:
        raise ExportError(where, "no lm_head.weight and tie_word_embeddings is false")

    H, F, V, D = cfg.hidden, cfg.intermediate, cfg.vocab_size, cfg.head_dim
    q_out, kv_out = cfg.n_heads * D, cfg.n_kv_heads * D
    expected: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (V, H),
        "model.norm.weight": (H,),
        "lm_head.weight": (V, H),
    }
    for i in range(cfg.n_layers):
        p = f"model.layers.{i}."
        expected.update({
            p + "input_layernorm.weight": (H,),
            p + "self_attn.q_proj.weight": (q_out, H),
            p + "self_attn.k_proj.weight": (kv_out, H),
            p + "self_attn.v_proj.weight": (kv_out, H),
            p + "self_attn.o_proj.weight": (H, q_out),
            p + "post_attention_layernorm.weight": (H,),
            p + "mlp.gate_proj.weight": (F, H),
            p + "mlp.up_proj.weight": (F, H),
            p + "mlp.down_proj.weight": (H, F),
        })
    optional = {
        f"model.layers.{i}.self_attn.{n}_proj.bias": (q_out if n == "q" else kv_out,)
        for i in range(cfg.n_layers)
        for n in "qkv"
    }
    for name, shape in expected.items():
        arr = w.get(name)
        if arr is None:
            raise ExportError(where, f"missing tensor {name}")
        if tuple(arr.shape) != shape:
            raise ExportError(where, f"tensor {name} has shape {list(arr.shape)}, expected {list(shape)}")
    for name, shape in optional.items():
        if name in w and tuple(w[name].shape) != shape:
            raise ExportError(where, f"tensor {name} has shape {list(w[name].shape)}, expected {list(shape)}")
    # Drop anything the forward pass does not use (e.g. rotary_emb.inv_freq buffers in old checkpoints).
    return {k: v for k, v in w.items() if k in expected or k in optional}

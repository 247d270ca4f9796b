"""Read a Hugging Face model folder (config.json, safetensors, tokenizer) into a Checkpoint.

The safetensors files are parsed here (header, offsets and sizes all checked against the file)
and mapped read-only, so a large checkpoint is not copied into memory until a precision is chosen.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from .checkpoint import Checkpoint
from .config import ModelConfig, RopeScaling
from .tokenizer_build import tokenizer_from_hf
from .weight import Weight

# config.json model_type -> ModelConfig.architecture (Mistral is a Llama without extra features).
MODEL_TYPES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}
_ARCHITECTURE_CLASSES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "Qwen2ForCausalLM": "qwen2"}
ROPE_TYPES = ("default", "linear", "llama3", "yarn")

# safetensors dtype -> (numpy dtype of the stored data, bytes per element).
_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}
# Element sizes of every dtype safetensors defines, to check sizes of tensors we go on to refuse.
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
             "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1}

_LAYER_SUFFIXES = (
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "self_attn.q_proj.bias",
    "self_attn.k_proj.bias",
    "self_attn.v_proj.bias",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
)
_GLOBAL_NAMES = ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight")
_LAYER_RE = re.compile(r"model\.layers\.(\d+)\.(.+)")
_MISSING = object()


def load_hf_folder(folder: Path) -> Checkpoint:
    folder = Path(folder)
    where = str(folder)
    if not folder.is_dir():
        raise ExportError(where, "not a directory (expected a Hugging Face model folder)")
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ExportError(str(cfg_path), "missing config.json: not a Hugging Face model folder")
    cfg = _config(_read_json(cfg_path), str(cfg_path))
    weights = _weights(folder, cfg)
    tok = tokenizer_from_hf(folder)
    ckpt = Checkpoint(
        source=where,
        source_format="hf",
        config=cfg,
        weights=weights,
        tokenizer=tok,
        chat_template=_chat_template(folder),
        name=Path(os.path.abspath(folder)).name,
    )
    ckpt.check_shapes()
    return ckpt


def _read_json(p: Path) -> dict[str, Any]:
    try:
        v = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ExportError(str(p), f"cannot read file: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportError(str(p), f"not valid JSON: {e}") from None
    if not isinstance(v, dict):
        raise ExportError(str(p), "expected a JSON object")
    return v


# --------------------------------------------------------------------------- config.json


class _Keys:
    """Typed access to a JSON object with one-line errors naming the key; null counts as absent."""

    def __init__(self, obj: dict[str, Any], where: str, prefix: str = "") -> None:
        self.obj, self.where, self.prefix = obj, where, prefix

    def _get(self, key: str, default: Any) -> Any:
        v = self.obj.get(key)
        if v is None:
            if default is _MISSING:
                raise ExportError(self.where, f"missing key '{self.prefix}{key}'")
            return default
        return v

    def int(self, key: str, default: Any = _MISSING) -> int:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ExportError(self.where, f"key '{self.prefix}{key}' must be an integer, got {v!r}")
        return v

    def float(self, key: str, default: Any = _MISSING) -> float:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ExportError(self.where, f"key '{self.prefix}{key}' must be a number, got {v!r}")
        return float(v)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        v = self._get(key, default)
        if not isinstance(v, bool):
            raise ExportError(self.where, f"key '{self.prefix}{key}' must be true or false, got {v!r}")
        return v


def _model_type(c: dict[str, Any], where: str) -> str:
    mt = c.get("model_type")
    if mt is None:
        archs = c.get("architectures")
        if isinstance(archs, list) and len(archs) == 1 and isinstance(archs[0], str):
            mt = _ARCHITECTURE_CLASSES.get(archs[0], archs[0])
    if mt not in MODEL_TYPES:
        raise ExportError(where, f"unsupported model_type '{mt}' (supported: {', '.join(MODEL_TYPES)})")
    return str(mt)


def _config(c: dict[str, Any], where: str) -> ModelConfig:
    model_type = _model_type(c, where)
    k = _Keys(c, where)
    hidden = k.int("hidden_size")
    heads = k.int("num_attention_heads")
    if heads <= 0:
        raise ExportError(where, f"num_attention_heads must be positive, got {heads}")
    if c.get("head_dim") is None and hidden % heads:
        raise ExportError(where, f"hidden_size {hidden} is not a multiple of num_attention_heads {heads} and no head_dim is given")
    head_dim = k.int("head_dim", hidden // heads)
    max_pos = k.int("max_position_embeddings")

    act = c.get("hidden_act", "silu")
    if act not in ("silu", "swish"):
        raise ExportError(where, f"unsupported hidden_act '{act}' (supported: silu)")
    if k.bool("mlp_bias", False):
        raise ExportError(where, "mlp_bias true (biases on the MLP projections) is not supported")
    partial = k.float("partial_rotary_factor", 1.0)
    if partial != 1.0:
        raise ExportError(where, f"partial_rotary_factor {partial} is not supported (rotary must cover the whole head)")
    # Mistral v0.1 and Qwen2 with use_sliding_window attend to a window only; we do full attention.
    window_on = model_type != "qwen2" or k.bool("use_sliding_window", False)
    window = c.get("sliding_window")
    if window_on and window is not None:
        window = k.int("sliding_window")
        if window < max_pos:
            raise ExportError(where, f"sliding_window {window} is smaller than max_position_embeddings {max_pos}: "
                                     "sliding-window attention is not supported")

    # transformers >= 5 moves rope_theta and the scaling into "rope_parameters".
    rope_params = c.get("rope_parameters")
    if rope_params is not None and not isinstance(rope_params, dict):
        raise ExportError(where, f"key 'rope_parameters' must be an object, got {rope_params!r}")
    if rope_params and not ({"rope_type", "rope_theta", "type"} & set(rope_params)):
        raise ExportError(where, "key 'rope_parameters' has no rope_type / rope_theta (per-layer-type RoPE is not supported)")
    rope_params = rope_params or {}
    if c.get("rope_theta") is not None:
        rope_theta = k.float("rope_theta")
    else:
        rope_theta = _Keys(rope_params, where, "rope_parameters.").float("rope_theta", 10000.0)
    scaling_raw = c.get("rope_scaling")
    scaling_key = "rope_scaling"
    if scaling_raw is None and rope_params:
        scaling_raw, scaling_key = rope_params, "rope_parameters"
    scaling = _rope_scaling(scaling_raw, scaling_key, max_pos, where)

    if model_type == "qwen2":
        bias = True  # Qwen2 always has q/k/v biases; its config has no switch for them
    else:
        bias = k.bool("attention_bias", False)
    cfg = ModelConfig(
        architecture=MODEL_TYPES[model_type],
        num_layers=k.int("num_hidden_layers"),
        hidden_size=hidden,
        intermediate_size=k.int("intermediate_size"),
        num_heads=heads,
        num_kv_heads=k.int("num_key_value_heads", heads),
        head_dim=head_dim,
        vocab_size=k.int("vocab_size"),
        rms_norm_eps=k.float("rms_norm_eps"),
        rope_theta=rope_theta,
        max_position=max_pos,
        tie_word_embeddings=k.bool("tie_word_embeddings", False),
        attention_bias=bias,
        rope_scaling=scaling,
    )
    cfg.validate(where)
    return cfg


def _rope_scaling(raw: Any, key: str, max_pos: int, where: str) -> RopeScaling:
    if raw is None:
        return RopeScaling()
    if not isinstance(raw, dict):
        raise ExportError(where, f"key '{key}' must be an object or null, got {raw!r}")
    kind = raw.get("rope_type", raw.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise ExportError(where, f"unsupported {key} type '{kind}' (supported: {', '.join(ROPE_TYPES)})")
    if kind == "default":
        return RopeScaling()
    k = _Keys(raw, where, f"{key}.")
    factor = k.float("factor")
    if factor <= 0:
        raise ExportError(where, f"key '{key}.factor' must be positive, got {factor}")
    if kind == "linear":
        return RopeScaling(kind="linear", factor=factor)
    if kind == "llama3":
        low, high = k.float("low_freq_factor"), k.float("high_freq_factor")
        if not 0 < low < high:
            raise ExportError(where, f"{key}: low_freq_factor {low} must be positive and below high_freq_factor {high}")
        return RopeScaling(kind="llama3", factor=factor, original_max_position=k.int("original_max_position_embeddings"),
                           low_freq_factor=low, high_freq_factor=high)
    # yarn
    for extra in ("mscale", "mscale_all_dim"):
        if raw.get(extra) is not None:
            raise ExportError(where, f"{key}: yarn with '{extra}' (DeepSeek-style attention scaling) is not supported")
    if raw.get("truncate", True) is not True:
        raise ExportError(where, f"{key}: yarn with truncate false is not supported")
    attn = raw.get("attention_factor")
    return RopeScaling(kind="yarn", factor=factor, original_max_position=k.int("original_max_position_embeddings", max_pos),
                       beta_fast=k.float("beta_fast", 32.0), beta_slow=k.float("beta_slow", 1.0),
                       attention_factor=None if attn is None else k.float("attention_factor"))


# --------------------------------------------------------------------------- weights


def _weight_files(folder: Path) -> tuple[list[Path], dict[str, Path] | None]:
    """The safetensors files holding the model, in reading order, and the index's tensor -> file map."""
    single = folder / "model.safetensors"
    if single.is_file():
        return [single], None
    index_path = folder / "model.safetensors.index.json"
    if index_path.exists():
        index = _read_json(index_path)
        wmap = index.get("weight_map")
        if not isinstance(wmap, dict) or not wmap:
            raise ExportError(str(index_path), "key 'weight_map' is missing or not a non-empty object")
        files: dict[str, Path] = {}
        where_is: dict[str, Path] = {}
        for tensor, fname in wmap.items():
            if not isinstance(fname, str):
                raise ExportError(str(index_path), f"weight_map entry '{tensor}' must be a file name, got {fname!r}")
            if fname not in files:
                files[fname] = _shard_path(folder, fname, str(index_path))
            where_is[tensor] = files[fname]
        return list(files.values()), where_is
    found = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    if not found:
        raise ExportError(str(folder), "no model.safetensors, model.safetensors.index.json or *.safetensors file")
    return found, None


def _shard_path(folder: Path, fname: str, where: str) -> Path:
    rel = Path(fname)
    if not fname or rel.is_absolute() or fname.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", fname):
        raise ExportError(where, f"shard file name '{fname}' must be a relative path inside the model folder")
    p = folder / rel
    root = folder.resolve()
    resolved = p.resolve()
    if resolved != root and root not in resolved.parents:
        raise ExportError(where, f"shard file '{fname}' resolves to {resolved}, outside the model folder")
    if not p.is_file():
        raise ExportError(where, f"shard file '{fname}' named in the index does not exist")
    return p


class _SafetensorsFile:
    """Checked header of one safetensors file; tensors are read as views of a read-only memmap."""

    def __init__(self, path: Path) -> None:
        self.path, self.where = path, str(path)
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise ExportError(self.where, f"truncated safetensors file ({size} bytes, no header length)")
                (n,) = struct.unpack("<Q", head)
                if n > size - 8:
                    raise ExportError(self.where, f"header length {n} is larger than the file ({size} bytes): truncated or not a safetensors file")
                blob = f.read(n)
        except OSError as e:
            raise ExportError(self.where, f"cannot read file: {e.strerror}") from None
        try:
            header = json.loads(blob.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ExportError(self.where, f"safetensors header is not valid JSON: {e}") from None
        if not isinstance(header, dict):
            raise ExportError(self.where, "safetensors header is not a JSON object")
        header.pop("__metadata__", None)
        self.data_start = 8 + n
        self.data_len = size - self.data_start
        self.entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
        for name, e in header.items():
            self.entries[name] = self._entry(name, e)
        self._map: np.ndarray | None = None

    def _entry(self, name: str, e: Any) -> tuple[str, tuple[int, ...], int, int]:
        if not isinstance(e, dict):
            raise ExportError(self.where, f"tensor '{name}': header entry is not an object")
        dtype, shape, offs = e.get("dtype"), e.get("shape"), e.get("data_offsets")
        if not isinstance(dtype, str):
            raise ExportError(self.where, f"tensor '{name}': missing or bad dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ExportError(self.where, f"tensor '{name}': bad shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
            raise ExportError(self.where, f"tensor '{name}': bad data_offsets {offs!r}")
        begin, end = offs
        if not 0 <= begin <= end <= self.data_len:
            raise ExportError(self.where, f"tensor '{name}': data_offsets [{begin}, {end}] lie outside the data area "
                                          f"({self.data_len} bytes): truncated or corrupt file")
        itemsize = _ITEMSIZE.get(dtype)
        if itemsize is not None and end - begin != math.prod(shape) * itemsize:
            raise ExportError(self.where, f"tensor '{name}': {end - begin} data bytes for shape {shape} of {dtype} "
                                          f"(expected {math.prod(shape) * itemsize})")
        return dtype, tuple(shape), begin, end

    def tensor(self, name: str) -> tuple[str, np.ndarray]:
        """(source_type, array of the logical shape): float32 for F32/BF16, float16 for F16."""
        dtype, shape, begin, end = self.entries[name]
        if dtype not in _DTYPES:
            raise ExportError(self.where, f"tensor '{name}' has dtype {dtype}, supported: {', '.join(_DTYPES)}")
        np_dtype, _ = _DTYPES[dtype]
        if begin == end:
            data = np.zeros(0, dtype=np_dtype)
        else:
            if self._map is None:
                self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
            data = np.asarray(self._map[self.data_start + begin:self.data_start + end]).view(np_dtype)
        data = data.reshape(shape)
        if dtype == "BF16":
            return dtype, (data.astype(np.uint32) << 16).view(np.float32)
        if dtype == "F16":
            return dtype, data.view(np.float16)
        return dtype, data.view(np.float32)


def _keep(name: str, cfg: ModelConfig, where: str) -> bool:
    """Whether the model uses tensor ``name``; raises for tensors of features we do not support."""
    if name in _GLOBAL_NAMES:
        return True
    m = _LAYER_RE.fullmatch(name)
    if m:
        if m.group(2).endswith("rotary_emb.inv_freq"):
            return False  # a buffer transformers recomputes from the config
        layer = int(m.group(1))
        if layer >= cfg.num_layers:
            raise ExportError(where, f"tensor '{name}' names layer {layer} but num_hidden_layers is {cfg.num_layers}")
        if m.group(2) not in _LAYER_SUFFIXES:
            raise ExportError(where, f"unexpected tensor '{name}': not part of the supported Llama/Qwen2 layer "
                                     "(an architecture feature such as q/k norms or extra biases is not supported)")
        if m.group(2).endswith(".bias") and not cfg.attention_bias:
            raise ExportError(where, f"tensor '{name}' is present but the config has no attention_bias")
        return True
    if name.startswith(("model.embed_tokens.", "model.norm.", "lm_head.")):
        raise ExportError(where, f"unexpected tensor '{name}': not supported")
    return False  # other global tensors (e.g. a classification head) are not used by the LM


def _weights(folder: Path, cfg: ModelConfig) -> dict[str, Weight]:
    out: dict[str, Weight] = {}
    seen: dict[str, Path] = {}
    files, index = _weight_files(folder)
    for path in files:
        st = _SafetensorsFile(path)
        for name in st.entries:
            if name in seen:
                raise ExportError(str(path), f"tensor '{name}' is also in {seen[name].name}: duplicate tensor across shards")
            seen[name] = path
            if not _keep(name, cfg, str(path)):
                continue
            source_type, arr = st.tensor(name)
            out[name] = Weight(name, tuple(arr.shape), source_type, arr)
    for name, path in (index or {}).items():
        if seen.get(name) != path:
            raise ExportError(str(folder / "model.safetensors.index.json"),
                              f"weight_map puts tensor '{name}' in {path.name} but that file does not hold it")
    if cfg.tie_word_embeddings:
        out.pop("lm_head.weight", None)
    elif "lm_head.weight" not in out:
        raise ExportError(str(folder), "tie_word_embeddings is false but there is no 'lm_head.weight' tensor")
    return out


# --------------------------------------------------------------------------- chat template


def _chat_template(folder: Path) -> str | None:
    tcfg_path = folder / "tokenizer_config.json"
    if tcfg_path.is_file():
        t = _read_json(tcfg_path).get("chat_template")
        if isinstance(t, str):
            return t
        if isinstance(t, list):
            for entry in t:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("template"), str):
                    raise ExportError(str(tcfg_path), "chat_template list entries must be {name, template} objects")
            named = {e["name"]: e["template"] for e in t}
            if "default" in named:
                return named["default"]
        elif t is not None:
            raise ExportError(str(tcfg_path), f"chat_template must be a string or a list of {{name, template}}, got {type(t).__name__}")
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        try:
            return jinja.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ExportError(str(jinja), f"cannot read chat template: {e}") from None
    return None

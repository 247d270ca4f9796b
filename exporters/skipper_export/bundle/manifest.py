"""The bundle manifest: what the runtime needs to know, as one YAML document (format version 1).

Field-by-field documentation: docs/bundle-format.md. The writer emits keys in a fixed order and no
timestamps, so the same export gives a byte-identical manifest.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..graphs.contract import TensorSpec
from ..load.checkpoint import Checkpoint

FORMAT_NAME = "skipper-bundle"
FORMAT_VERSION = 1


def graph_entry(file: str, ins: list[TensorSpec], outs: list[TensorSpec], **extra: Any) -> dict[str, Any]:
    return {"file": file, **extra, "inputs": [t.as_dict() for t in ins], "outputs": [t.as_dict() for t in outs]}


def model_section(ckpt: Checkpoint) -> dict[str, Any]:
    c = ckpt.config
    rs = c.rope_scaling
    rope: dict[str, Any] = {"theta": float(c.rope_theta), "scaling": rs.kind}
    if rs.kind != "none":
        rope.update(factor=float(rs.factor), original_max_position=int(rs.original_max_position))
    if rs.kind == "llama3":
        rope.update(low_freq_factor=float(rs.low_freq_factor), high_freq_factor=float(rs.high_freq_factor))
    if rs.kind == "yarn":
        rope.update(beta_fast=float(rs.beta_fast), beta_slow=float(rs.beta_slow),
                    attention_factor=None if rs.attention_factor is None else float(rs.attention_factor))
    return {
        "name": ckpt.name,
        "architecture": c.architecture,
        "num_layers": c.num_layers,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_heads": c.num_heads,
        "num_kv_heads": c.num_kv_heads,
        "head_dim": c.head_dim,
        "vocab_size": c.vocab_size,
        "max_position": c.max_position,
        "rms_norm_eps": float(c.rms_norm_eps),
        "rope": rope,
        "tie_word_embeddings": c.tie_word_embeddings,
        "attention_bias": c.attention_bias,
    }


def tokenizer_section(ckpt: Checkpoint) -> dict[str, Any]:
    t = ckpt.tokenizer
    (file,) = t.files.keys()
    return {
        "kind": t.kind,
        "file": file,
        "bos_id": t.bos_id,
        "eos_ids": list(t.eos_ids),
        "pad_id": t.pad_id,
        "unk_id": t.unk_id,
        "add_bos": t.add_bos,
        "special_tokens": dict(sorted(t.special_tokens.items(), key=lambda kv: kv[1])),
    }


def dump(manifest: dict[str, Any]) -> bytes:
    text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
    return text.encode("utf-8")


def config_from_manifest(manifest: dict[str, Any]):
    """The ModelConfig a manifest's ``model`` section describes (the inverse of :func:`model_section`):
    what graphs built after export (calibration's drafters) need to match the bundle's layers."""
    from ..load.config import ModelConfig, RopeScaling

    m = manifest["model"]
    rope = dict(m.get("rope") or {})
    kind = str(rope.get("scaling", "none"))
    extra = {k: rope[k] for k in ("factor", "original_max_position", "low_freq_factor", "high_freq_factor",
                                  "beta_fast", "beta_slow", "attention_factor") if k in rope}
    return ModelConfig(
        architecture=str(m["architecture"]), num_layers=int(m["num_layers"]), hidden_size=int(m["hidden_size"]),
        intermediate_size=int(m["intermediate_size"]), num_heads=int(m["num_heads"]),
        num_kv_heads=int(m["num_kv_heads"]), head_dim=int(m["head_dim"]), vocab_size=int(m["vocab_size"]),
        rms_norm_eps=float(m["rms_norm_eps"]), rope_theta=float(rope.get("theta", 10000.0)),
        max_position=int(m["max_position"]), tie_word_embeddings=bool(m["tie_word_embeddings"]),
        attention_bias=bool(m["attention_bias"]), rope_scaling=RopeScaling(kind=kind, **extra))

"""Rotary position embedding (rotate-half convention).

Standard flavour: cos/sin are derived from the position ids inside each layer graph instead of a
stored [max_pos, D/2] table (the table would cost 2 MB per layer graph at 8k context; the arithmetic
costs S x D/2 multiply-adds).
ORT flavour: GroupQueryAttention rotates q/k itself from a cos/sin table; the bundle stores that
table once (``rope_cache.bin``) and the runtime feeds the same tensor to every layer.
"""

from __future__ import annotations

import numpy as np

from .builder import NP_DTYPES, GraphBuilder


def rope_tables(g: GraphBuilder, position_ids: str, inv_freq: np.ndarray, mscale: float) -> tuple[str, str]:
    """position_ids [1, S] int64 -> (cos, sin), each [1, S, 1, D] in the activation dtype."""
    pos = g.cast(position_ids, "float32")  # [1, S]
    freqs = g.op("Mul", [g.op("Unsqueeze", [pos, g.i64([-1])]), g.const(inv_freq.astype(np.float32), np.float32)])  # [1, S, D/2]
    emb = g.op("Concat", [freqs, freqs], axis=-1)  # [1, S, D]
    cos, sin = g.op("Cos", [emb]), g.op("Sin", [emb])
    if mscale != 1.0:
        cos = g.op("Mul", [cos, g.const(mscale, np.float32)])
        sin = g.op("Mul", [sin, g.const(mscale, np.float32)])
    cos, sin = g.op("Unsqueeze", [cos, g.i64([2])]), g.op("Unsqueeze", [sin, g.i64([2])])  # [1, S, 1, D]
    if g.act_dtype != "float32":
        cos, sin = g.cast(cos, g.act_dtype), g.cast(sin, g.act_dtype)
    return cos, sin


def apply_rope(g: GraphBuilder, x: str, cos: str, sin: str, head_dim: int) -> str:
    """x [1, S, heads, D] -> x*cos + rotate_half(x)*sin, rotate_half(x) = [-x2, x1]."""
    half = g.i64([head_dim // 2, head_dim // 2])
    x1, x2 = g.op("Split", [x, half], n_out=2, axis=-1)  # [1, S, heads, D/2] each
    rotated = g.op("Concat", [g.op("Neg", [x2]), x1], axis=-1)
    return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rotated, sin])])


def rope_cache(inv_freq: np.ndarray, mscale: float, positions: int, dtype: str) -> np.ndarray:
    """[2, positions, D/2] table: cos then sin of position x inv_freq (computed in float64), times
    the attention multiplier (yarn), for GroupQueryAttention's cos_cache/sin_cache inputs."""
    angles = np.arange(positions, dtype=np.float64)[:, None] * inv_freq.astype(np.float64)[None, :]
    table = np.stack([np.cos(angles), np.sin(angles)]) * mscale
    return table.astype(NP_DTYPES[dtype])

"""Which representation each matrix gets for a requested ``--weights`` precision.

Rules (documented in docs/exporter.md):
  fp32 / fp16  every matrix dense in that type.
  int8         8-bit blocks; a 4-bit source stays at its exact 4 bits (requantizing adds error only).
  int4         decoder-layer matrices in 4-bit blocks (exact for Q4_0/Q4_1/Q4_K sources, round-to-
               nearest otherwise); the embedding table and LM head in 8-bit blocks (exact for Q8_0)
               unless their source is already 4-bit, as llama.cpp's Q4 mixes do.
"""

from __future__ import annotations

import numpy as np

from ..load.blocks import BlockQuant
from ..load.weight import Weight

WEIGHT_MODES = ("fp32", "fp16", "int8", "int4")


def weight_repr(w: Weight, mode: str, role: str) -> np.ndarray | BlockQuant:
    """role: "layer" for decoder-layer matrices, "vocab" for the embedding table / LM head."""
    if mode == "fp32":
        return w.dense()
    if mode == "fp16":
        return w.dense().astype(np.float16)
    if w.source_bits == 4:
        return w.blocks(4)
    if mode == "int8" or role == "vocab":
        return w.blocks(8)
    return w.blocks(4)


def plan(w: Weight, mode: str, role: str) -> tuple[str, bool]:
    """(stored precision, exact) that ``weight_repr`` will give, decided from the source type alone.

    exact: every stored value equals the source's dequantized value (fp32 always; fp16 only from
    16-bit float sources; blocks only when they are the source's own integers)."""
    from ..load.blocks import EXACT_DECODERS

    if mode == "fp32":
        return "fp32", True
    if mode == "fp16":
        return "fp16", w.source_type in ("F16",)
    bits = 4 if w.source_bits == 4 else (8 if (mode == "int8" or role == "vocab") else 4)
    exact = w.source_type in EXACT_DECODERS and (4 if w.source_type != "Q8_0" else 8) == bits
    return f"int{bits}", exact

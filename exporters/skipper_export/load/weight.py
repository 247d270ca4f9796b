"""One weight tensor of a checkpoint, kept in its source encoding until a precision is chosen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blocks import BLOCK, EXACT_DECODERS, BlockQuant, quantize_int4, quantize_int8

# Source encodings whose precision is at most 4 bits / at most 8 bits.
FOUR_BIT_SOURCES = {"Q4_0", "Q4_1", "Q4_K"}
FLOAT_SOURCES = {"F32", "F16", "BF16"}


@dataclass
class Weight:
    """A tensor in Hugging Face orientation ([out, in] for matrices).

    ``raw`` holds the GGML bytes for quantized GGUF tensors ([rows, bytes_per_row]) or the float
    array otherwise; ``dense()`` and ``blocks()`` turn it into what a graph stores.
    """

    name: str
    shape: tuple[int, ...]  # logical shape, HF orientation
    source_type: str  # F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K Q6_K ...
    raw: np.ndarray
    row_perm: np.ndarray | None = None  # [out] row order to apply (undoes llama.cpp's q/k permutation)

    def dense(self) -> np.ndarray:
        """float32 array of ``shape``."""
        if self.source_type in FLOAT_SOURCES:
            w = self.raw.astype(np.float32)
        elif self.source_type in EXACT_DECODERS and len(self.shape) == 2:
            w = self._exact().dense()
            return w  # rows already permuted by _exact()
        else:
            from gguf import GGMLQuantizationType, quants

            w = quants.dequantize(self.raw, GGMLQuantizationType[self.source_type]).astype(np.float32)
        w = w.reshape(self.shape)
        if self.row_perm is not None:
            w = w[self.row_perm]
        return np.ascontiguousarray(w)

    def blocks(self, bits: int) -> BlockQuant:
        """Blocks of ``bits`` bits: the source's own integers when they fit, else round-to-nearest."""
        if len(self.shape) != 2:
            raise ValueError(f"{self.name}: only matrices are block-quantized")
        if self.source_type in EXACT_DECODERS:
            exact = self._exact()
            if exact.bits == bits:
                return exact
            if exact.bits == 4 and bits == 8:
                # A 4-bit source never needs requantizing upwards; callers keep it at 4 bits.
                return exact
        dense = self.dense()
        return quantize_int4(dense) if bits == 4 else quantize_int8(dense)

    @property
    def source_bits(self) -> int:
        """Bits per weight of the source encoding: 4, 8 (Q8_0 and Q6_K), 16 or 32."""
        if self.source_type in FOUR_BIT_SOURCES:
            return 4
        if self.source_type in FLOAT_SOURCES:
            return 32 if self.source_type == "F32" else 16
        return 8

    def _exact(self) -> BlockQuant:
        n, k = self.shape
        if k % BLOCK:
            raise ValueError(f"{self.name}: row length {k} is not a multiple of {BLOCK}")
        bq = EXACT_DECODERS[self.source_type](self.raw, n, k)
        if self.row_perm is None:
            return bq
        p = self.row_perm
        off = None if bq.offset is None else bq.offset[p]
        return BlockQuant(bq.bits, bq.q[p], bq.scale[p], off, bq.exact)

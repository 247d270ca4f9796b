"""Block-quantized weights: the exact integer form the graphs store for int4/int8 exports.

Every quantized matrix is kept in one canonical form, whatever its source:

    w[n, k] = scale[n, k // 32] * q[n, k] + offset[n, k // 32]

with blocks of 32 along the input dimension k (the layout GGML, MatMulNBits and blocked
DequantizeLinear all share). Q4_0, Q4_1 and Q4_K map onto it exactly for 4 bits, Q8_0 exactly for
8 bits; other sources are quantized here by round-to-nearest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK = 32


@dataclass(frozen=True)
class BlockQuant:
    """One matrix in HF orientation [out, in] as ``scale * q + offset`` per block of 32 inputs."""

    bits: int  # 4 or 8
    q: np.ndarray  # [N, K] uint8 in 0..15 (bits=4) or int8 (bits=8)
    scale: np.ndarray  # [N, K/32] float32
    offset: np.ndarray | None  # [N, K/32] float32; None = symmetric (4 bits: centred on 8, 8 bits: on 0)
    exact: bool  # True when these are the source's own integers (no second quantization)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.q.shape[0]), int(self.q.shape[1]))

    def dense(self) -> np.ndarray:
        """The float32 matrix these blocks stand for, [N, K]."""
        n, k = self.shape
        q = self.q.astype(np.float32).reshape(n, k // BLOCK, BLOCK)
        if self.bits == 4 and self.offset is None:
            q = q - 8.0
        w = q * self.scale[:, :, None]
        if self.offset is not None:
            w = w + self.offset[:, :, None]
        return w.reshape(n, k)

    def with_offsets(self) -> "BlockQuant":
        """The same 4-bit blocks with an explicit offset (symmetric blocks get offset = -8 * scale)."""
        if self.bits != 4 or self.offset is not None:
            return self
        return BlockQuant(4, self.q, self.scale, (-8.0 * self.scale).astype(np.float32), self.exact)


def quantize_int4(w: np.ndarray) -> BlockQuant:
    """Asymmetric round-to-nearest 4-bit quantization of a float matrix [N, K] (Q4_1 style)."""
    n, k = w.shape
    _check_blocks(k)
    b = w.astype(np.float32).reshape(n, k // BLOCK, BLOCK)
    lo = b.min(axis=2)
    hi = b.max(axis=2)
    scale = ((hi - lo) / 15.0).astype(np.float32)
    safe = np.where(scale == 0, 1.0, scale).astype(np.float32)
    q = np.clip(np.rint((b - lo[:, :, None]) / safe[:, :, None]), 0, 15).astype(np.uint8)
    return BlockQuant(4, q.reshape(n, k), scale, lo.astype(np.float32), exact=False)


def quantize_int8(w: np.ndarray) -> BlockQuant:
    """Symmetric round-to-nearest 8-bit quantization of a float matrix [N, K] (Q8_0 style)."""
    n, k = w.shape
    _check_blocks(k)
    b = w.astype(np.float32).reshape(n, k // BLOCK, BLOCK)
    amax = np.abs(b).max(axis=2)
    scale = (amax / 127.0).astype(np.float32)
    safe = np.where(scale == 0, 1.0, scale).astype(np.float32)
    q = np.clip(np.rint(b / safe[:, :, None]), -127, 127).astype(np.int8)
    return BlockQuant(8, q.reshape(n, k), scale, None, exact=False)


def _check_blocks(k: int) -> None:
    if k % BLOCK:
        raise ValueError(f"row length {k} is not a multiple of the block size {BLOCK}")


# --- exact decoding of GGML blocks -------------------------------------------------------------
# Byte layouts (little endian), per block:
#   Q8_0: d f16 | qs[32] int8                                  w = d*q
#   Q4_0: d f16 | qs[16]  (elem j: low nibble, elem j+16: high)  w = d*(q-8)
#   Q4_1: d f16 | m f16 | qs[16]                                w = d*q + m
#   Q4_K: super-block of 256 = 8 sub-blocks of 32:
#         d f16 | dmin f16 | scales[12] (6-bit sc/m per sub-block) | qs[128]
#         sub-blocks 2c and 2c+1 take the low/high nibbles of qs[32c:32c+32]
#                                                              w = d*sc*q - dmin*m


def _f16(raw: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(raw).view(np.float16).astype(np.float32)[..., 0]


def _nibbles_split(qs: np.ndarray) -> np.ndarray:
    """[..., 16] bytes -> [..., 32] values: low nibbles first, then high nibbles (GGML order)."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def decode_q8_0(raw: np.ndarray, n: int, k: int) -> BlockQuant:
    b = raw.reshape(n, k // 32, 34)
    d = _f16(b[:, :, 0:2])
    q = b[:, :, 2:].view(np.int8).reshape(n, k)
    return BlockQuant(8, q.copy(), d, None, exact=True)


def decode_q4_0(raw: np.ndarray, n: int, k: int) -> BlockQuant:
    b = raw.reshape(n, k // 32, 18)
    d = _f16(b[:, :, 0:2])
    q = _nibbles_split(b[:, :, 2:]).reshape(n, k)
    return BlockQuant(4, q, d, None, exact=True)


def decode_q4_1(raw: np.ndarray, n: int, k: int) -> BlockQuant:
    b = raw.reshape(n, k // 32, 20)
    d = _f16(b[:, :, 0:2])
    m = _f16(b[:, :, 2:4])
    q = _nibbles_split(b[:, :, 4:]).reshape(n, k)
    return BlockQuant(4, q, d, m, exact=True)


def decode_q4_k(raw: np.ndarray, n: int, k: int) -> BlockQuant:
    b = raw.reshape(n, k // 256, 144)
    d = _f16(b[:, :, 0:2])  # [n, nb]
    dmin = _f16(b[:, :, 2:4])
    s = b[:, :, 4:16].astype(np.uint8)  # [n, nb, 12]
    lo, mid, hi = s[..., 0:4], s[..., 4:8], s[..., 8:12]
    sc = np.concatenate([lo & 0x3F, (hi & 0x0F) | ((lo >> 2) & 0x30)], axis=-1)  # [n, nb, 8]
    mn = np.concatenate([mid & 0x3F, (hi >> 4) | ((mid >> 2) & 0x30)], axis=-1)
    qs = b[:, :, 16:].reshape(n, k // 256, 4, 32)
    q = np.stack([qs & 0x0F, qs >> 4], axis=3).reshape(n, k)  # chunk c -> sub-blocks 2c, 2c+1
    scale = (d[:, :, None] * sc.astype(np.float32)).reshape(n, k // 32)
    offset = (-(dmin[:, :, None] * mn.astype(np.float32))).reshape(n, k // 32)
    return BlockQuant(4, q.astype(np.uint8), scale.astype(np.float32), offset.astype(np.float32), exact=True)


EXACT_DECODERS = {
    "Q8_0": decode_q8_0,
    "Q4_0": decode_q4_0,
    "Q4_1": decode_q4_1,
    "Q4_K": decode_q4_k,
}

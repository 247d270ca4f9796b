"""Numpy encoders for the GGML K-quant block formats that ``gguf.quants.quantize`` lacks.

Only what tests need: a valid round-to-nearest encoder (not llama.cpp's error-minimising
search), bit-compatible with ``gguf.quants.dequantize`` and therefore with llama.cpp.
Both formats use super-blocks of QK_K = 256 values per row segment.

Q4_K block (144 bytes):  d f16 | dmin f16 | 12 bytes packed 6-bit (scale, min) x 8 |
                         128 bytes of 4-bit quants. x = d*sc[j]*q - dmin*m[j],
                         8 sub-blocks j of 32 values, q in 0..15.
Q6_K block (210 bytes):  128 bytes ql (low 4 bits) | 64 bytes qh (high 2 bits) |
                         16 int8 scales | d f16. x = d*sc[j]*(q - 32),
                         16 sub-blocks j of 16 values, q in 0..63.
"""

from __future__ import annotations

import numpy as np
from gguf import GGMLQuantizationType
from gguf.constants import GGML_QUANT_SIZES

QK_K = 256


def _f16_round(x: np.ndarray) -> np.ndarray:
    """The value a float32 takes once stored as the block's f16 super-scale."""
    return x.astype(np.float16).astype(np.float32)


def _as_blocks(data: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    x = np.asarray(data, dtype=np.float32)
    if x.ndim == 0 or x.shape[-1] % QK_K:
        raise ValueError(f"K-quant row length must be a multiple of {QK_K}, got shape {x.shape}")
    return x.reshape(-1, QK_K), x.shape


def _byte_shape(shape: tuple[int, ...], qtype: GGMLQuantizationType) -> tuple[int, ...]:
    block, size = GGML_QUANT_SIZES[qtype]
    return (*shape[:-1], shape[-1] // block * size)


def _safe_inv(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(x == 0, 0.0, 1.0 / np.where(x == 0, 1.0, x)).astype(np.float32)


# ---------------------------------------------------------------------------- Q4_K


def pack_q4_k(d: np.ndarray, dmin: np.ndarray, sc: np.ndarray, m: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Pack Q4_K fields into bytes. Shapes: d, dmin [n]; sc, m [n, 8] in 0..63; q [n, 256] in 0..15.

    Kept separate from the encoder so tests can check the byte layout exactly.
    """
    n = d.shape[0]
    sc = sc.astype(np.uint8)
    m = m.astype(np.uint8)
    # 12 scale bytes: bytes 0-3 = sc[0:4] low 6 bits + top 2 bits of sc[4:8];
    # bytes 4-7 = m[0:4] + top 2 bits of m[4:8]; bytes 8-11 = low nibbles of sc[4:8] | m[4:8] << 4.
    scales = np.empty((n, 12), dtype=np.uint8)
    scales[:, 0:4] = (sc[:, 0:4] & 0x3F) | ((sc[:, 4:8] >> 4) << 6)
    scales[:, 4:8] = (m[:, 0:4] & 0x3F) | ((m[:, 4:8] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((m[:, 4:8] & 0x0F) << 4)
    # 128 quant bytes in 4 chunks of 32: chunk c holds sub-block 2c (low nibble) and 2c+1 (high).
    qq = q.astype(np.uint8).reshape(n, 4, 2, 32)
    qs = (qq[:, :, 0, :] | (qq[:, :, 1, :] << 4)).reshape(n, 128)
    head = np.stack([d.astype(np.float16), dmin.astype(np.float16)], axis=1).view(np.uint8)
    return np.concatenate([head, scales, qs], axis=1)


def quantize_q4_k(data: np.ndarray) -> np.ndarray:
    """Encode float data (last dim a multiple of 256) into Q4_K bytes, shape [..., cols/256*144]."""
    x, shape = _as_blocks(data)
    n = x.shape[0]
    sub = x.reshape(n, 8, 32)
    # Per sub-block affine range. mins are stored as a positive offset subtracted from
    # d*sc*q, so a sub-block whose values are all positive gets offset 0 (as llama.cpp).
    offset = np.maximum(-sub.min(axis=2), 0.0)  # [n, 8] >= 0
    scale = (sub.max(axis=2) + offset) / 15.0  # [n, 8] >= 0
    # Super-block scales: 6-bit integer multipliers of an f16 d / dmin.
    d = _f16_round(scale.max(axis=1) / 63.0)
    dmin = _f16_round(offset.max(axis=1) / 63.0)
    sc = np.clip(np.rint(scale * _safe_inv(d)[:, None]), 0, 63)
    mm = np.clip(np.rint(offset * _safe_inv(dmin)[:, None]), 0, 63)
    # Quantize against the scales actually stored, so rounding of sc/m is compensated.
    eff_scale = d[:, None] * sc
    eff_min = dmin[:, None] * mm
    q = np.clip(np.rint((sub + eff_min[:, :, None]) * _safe_inv(eff_scale)[:, :, None]), 0, 15)
    out = pack_q4_k(d, dmin, sc, mm, q.reshape(n, QK_K))
    return out.reshape(_byte_shape(shape, GGMLQuantizationType.Q4_K))


# ---------------------------------------------------------------------------- Q6_K


def pack_q6_k(d: np.ndarray, sc: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Pack Q6_K fields into bytes. Shapes: d [n]; sc [n, 16] int8; q [n, 256] in 0..63 (stored, i.e. +32)."""
    n = d.shape[0]
    q = q.astype(np.uint8).reshape(n, 2, 4, 32)  # [half, quarter, 32]: element = half*128 + quarter*32 + j
    lo = q & 0x0F
    hi = q >> 4
    # ql: per half, 64 bytes; byte k (0..31) holds quarter 0 (low nibble) and quarter 2 (high nibble),
    # byte 32+k holds quarter 1 and quarter 3.
    ql = np.concatenate([lo[:, :, 0, :] | (lo[:, :, 2, :] << 4), lo[:, :, 1, :] | (lo[:, :, 3, :] << 4)], axis=2)
    # qh: per half, 32 bytes; bits 2s..2s+1 of byte j are the high bits of quarter s.
    qh = hi[:, :, 0, :] | (hi[:, :, 1, :] << 2) | (hi[:, :, 2, :] << 4) | (hi[:, :, 3, :] << 6)
    return np.concatenate(
        [ql.reshape(n, 128), qh.reshape(n, 64), sc.astype(np.int8).view(np.uint8), d.astype(np.float16).reshape(n, 1).view(np.uint8)],
        axis=1,
    )


def quantize_q6_k(data: np.ndarray) -> np.ndarray:
    """Encode float data (last dim a multiple of 256) into Q6_K bytes, shape [..., cols/256*210]."""
    x, shape = _as_blocks(data)
    n = x.shape[0]
    sub = x.reshape(n, 16, 16)
    # Symmetric per sub-block: map the largest-magnitude value to -32 (the full negative
    # end), like Q4_0 / llama.cpp, so one extra level is used compared to absmax/31.
    imax = np.abs(sub).argmax(axis=2)[..., None]
    scale = np.take_along_axis(sub, imax, axis=2)[..., 0] / -32.0  # [n, 16], signed
    # Super-block: int8 multipliers of an f16 d; map the largest |scale| to -128 likewise.
    jmax = np.abs(scale).argmax(axis=1)[:, None]
    d = _f16_round(np.take_along_axis(scale, jmax, axis=1)[:, 0] / -128.0)
    sc = np.clip(np.rint(scale * _safe_inv(d)[:, None]), -128, 127)
    eff = d[:, None] * sc
    q = np.clip(np.rint(sub * _safe_inv(eff)[:, :, None]), -32, 31) + 32
    out = pack_q6_k(d, sc, q.reshape(n, QK_K))
    return out.reshape(_byte_shape(shape, GGMLQuantizationType.Q6_K))


def quantize(data: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """Encode ``data`` as ``qtype``: our K-quant encoders, else ``gguf.quants.quantize``."""
    if qtype == GGMLQuantizationType.Q4_K:
        return quantize_q4_k(data)
    if qtype == GGMLQuantizationType.Q6_K:
        return quantize_q6_k(data)
    import gguf.quants

    return gguf.quants.quantize(np.ascontiguousarray(data, dtype=np.float32), qtype)

"""y = x @ W^T (+ b) for every weight representation and op flavour.

Representations (chosen by ``precision.py``):
  * dense float32 / float16 array [N, K]           -> MatMul with W^T
  * BlockQuant 4/8 bit (scale*q + offset per 32)   -> ort: MatMulNBits; standard: DequantizeLinear + MatMul
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ..load.blocks import BLOCK, BlockQuant
from .builder import MS_DOMAIN, NP_DTYPES, GraphBuilder

Repr = np.ndarray | BlockQuant


def linear(g: GraphBuilder, x: str, w: Repr, name: str, flavour: str, bias: np.ndarray | None = None) -> str:
    """x [..., K] -> [..., N] for a weight w [N, K] in HF orientation."""
    if isinstance(w, BlockQuant):
        y = _ort_blocks(g, x, w, name) if flavour == "ort" else _standard_blocks(g, x, w, name)
    else:
        y = _dense(g, x, w, name)
    if bias is not None:
        y = g.op("Add", [y, g.add_initializer(name + ".bias", bias.astype(NP_DTYPES[g.act_dtype]))])
    return y


def _dense(g: GraphBuilder, x: str, w: np.ndarray, name: str) -> str:
    wt = g.add_initializer(name + ".weight_t", np.ascontiguousarray(w.T))  # [K, N]
    if w.dtype != NP_DTYPES[g.act_dtype]:
        # fp16 storage, fp32 compute: ONNX Runtime folds this Cast once at session load.
        wt = g.cast(wt, g.act_dtype)
    return g.op("MatMul", [x, wt])


def _zero_scale_safe(w: BlockQuant) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q, scale, offset) with no zero scales, so zero_point = -offset/scale stays finite.

    A block with scale 0 holds one value (its offset); q=0, scale=offset, zero point -1 gives
    (0 - (-1)) * offset = offset exactly.
    """
    w4 = w.with_offsets()
    q, scale, offset = w4.q.copy(), w4.scale.copy(), w4.offset.copy()  # type: ignore[union-attr]
    dead = scale == 0
    if dead.any():
        n, k = q.shape
        qb = q.reshape(n, k // BLOCK, BLOCK)
        qb[dead] = 0
        scale[dead] = np.where(offset[dead] != 0, offset[dead], 1.0)  # zp = -offset/scale: -1 or 0
        q = qb.reshape(n, k)
    return q, scale, offset


def pack_nibbles_rowwise(q: np.ndarray) -> np.ndarray:
    """[N, K] values 0..15 -> [N, K/2] bytes, element 2i in the low nibble (MatMulNBits order)."""
    return (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)


def _ort_blocks(g: GraphBuilder, x: str, w: BlockQuant, name: str) -> str:
    n, k = w.shape
    nb = k // BLOCK
    if w.bits == 8:
        b = (w.q.astype(np.int16) + 128).astype(np.uint8).reshape(n, nb, BLOCK)  # default zero point 128
        ins = [x, g.add_initializer(name + ".qweight", b), g.add_initializer(name + ".scales", w.scale.reshape(-1))]
    elif w.offset is None:  # symmetric 4-bit: default zero point 8
        b = pack_nibbles_rowwise(w.q).reshape(n, nb, BLOCK // 2)
        ins = [x, g.add_initializer(name + ".qweight", b), g.add_initializer(name + ".scales", w.scale.reshape(-1))]
    else:
        # w = scale*q + offset = (q - zp)*scale with a float zero point zp = -offset/scale (exact
        # on the CPU kernel: checked by the int4 parity tests).
        q, scale, offset = _zero_scale_safe(w)
        zp = (-offset / scale).astype(np.float32)
        b = pack_nibbles_rowwise(q).reshape(n, nb, BLOCK // 2)
        ins = [x, g.add_initializer(name + ".qweight", b), g.add_initializer(name + ".scales", scale.reshape(-1)),
               g.add_initializer(name + ".zero_points", zp.reshape(-1))]
    return g.op("MatMulNBits", ins, domain=MS_DOMAIN, K=k, N=n, bits=w.bits, block_size=BLOCK, accuracy_level=0)


def pack_nibbles_flat(q: np.ndarray) -> bytes:
    """Any-shape array of 0..15 -> ONNX UINT4 raw data (row-major, low nibble first)."""
    flat = q.reshape(-1).astype(np.uint8)
    if flat.size % 2:
        flat = np.concatenate([flat, np.zeros(1, np.uint8)])
    return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8).tobytes()


def _standard_blocks(g: GraphBuilder, x: str, w: BlockQuant, name: str) -> str:
    n, k = w.shape
    nb = k // BLOCK
    act = NP_DTYPES[g.act_dtype]
    scale_t = g.add_initializer(name + ".scales", np.ascontiguousarray(w.scale.T).astype(act))  # [K/32, N]
    if w.bits == 8:
        q = g.add_initializer(name + ".qweight", np.ascontiguousarray(w.q.T))  # int8 [K, N]
        wt = g.op("DequantizeLinear", [q, scale_t], axis=0, block_size=BLOCK)
        return g.op("MatMul", [x, wt])
    q = g.add_raw_initializer(name + ".qweight", TensorProto.UINT4, (k, n), pack_nibbles_flat(np.ascontiguousarray(w.q.T)))
    if w.offset is None:
        zp = g.add_raw_initializer(name + ".zero_points", TensorProto.UINT4, (nb, n), pack_nibbles_flat(np.full((nb, n), 8, np.uint8)))
        wt = g.op("DequantizeLinear", [q, scale_t, zp], axis=0, block_size=BLOCK)
        return g.op("MatMul", [x, wt])
    # w = scale*q + offset: x @ (scale*q)^T plus the per-block sums of x times the offsets, which
    # keeps the source's integers exact without a float zero point (not expressible in ONNX).
    wt = g.op("DequantizeLinear", [q, scale_t], axis=0, block_size=BLOCK)
    y = g.op("MatMul", [x, wt])
    xb = g.op("Reshape", [x, g.i64([0, 0, nb, BLOCK])])  # [1, S, K/32, 32]
    sums = g.op("ReduceSum", [xb, g.i64([-1])], keepdims=0)  # [1, S, K/32]
    off = g.add_initializer(name + ".offsets", np.ascontiguousarray(w.offset.T).astype(act))  # [K/32, N]
    return g.op("Add", [y, g.op("MatMul", [sums, off])])


def concat_rows(parts: list[Repr]) -> Repr:
    """Stack weights along N (fused QKV / gate-up projections); all parts share one representation."""
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts, axis=0)  # type: ignore[arg-type]
    if not all(isinstance(p, BlockQuant) for p in parts):
        raise ValueError("cannot fuse dense and block-quantized weights")
    bqs: list[BlockQuant] = parts  # type: ignore[assignment]
    bits = {p.bits for p in bqs}
    if len(bits) != 1:
        raise ValueError("cannot fuse weights of different bit widths")
    if any(p.offset is not None for p in bqs) and any(p.offset is None for p in bqs):
        bqs = [p.with_offsets() for p in bqs]
    offset = None if bqs[0].offset is None else np.concatenate([p.offset for p in bqs], axis=0)  # type: ignore[misc]
    return BlockQuant(bits.pop(), np.concatenate([p.q for p in bqs]), np.concatenate([p.scale for p in bqs]),
                      offset, all(p.exact for p in bqs))

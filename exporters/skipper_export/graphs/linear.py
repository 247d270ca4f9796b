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


def linear(g: GraphBuilder, x: str, w: Repr, name: str, flavour: str, bias: np.ndarray | None = None,
           accuracy: int = 0) -> str:
    """x [..., K] -> [..., N] for a weight w [N, K] in HF orientation.

    accuracy: MatMulNBits accuracy_level for the ort flavour (0: fp32 compute, 4: activations
    quantized to int8 per block inside the kernel, as llama.cpp does for its Q4/Q8 dot products).
    """
    if isinstance(w, BlockQuant):
        y = _ort_blocks(g, x, w, name, accuracy) if flavour == "ort" else _standard_blocks(g, x, w, name)
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


def pack_nibbles_rowwise(q: np.ndarray) -> np.ndarray:
    """[N, K] values 0..15 -> [N, K/2] bytes, element 2i in the low nibble (MatMulNBits order)."""
    return (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)


def _block_sums(g: GraphBuilder, x: str, k: int) -> str:
    """x [1, S, K] -> per-block sums [1, S, K/32]: what a per-block additive offset multiplies."""
    xb = g.op("Reshape", [x, g.i64([0, 0, k // BLOCK, BLOCK])])  # [1, S, K/32, 32]
    return g.op("ReduceSum", [xb, g.i64([-1])], keepdims=0)


def _nbits(g: GraphBuilder, x: str, b: np.ndarray, scale: np.ndarray, name: str, n: int, k: int, bits: int,
           accuracy: int) -> str:
    ins = [x, g.add_initializer(name + ".qweight", b), g.add_initializer(name + ".scales", scale.reshape(-1).astype(np.float32))]
    return g.op("MatMulNBits", ins, domain=MS_DOMAIN, K=k, N=n, bits=bits, block_size=BLOCK, accuracy_level=accuracy)


def _ort_blocks(g: GraphBuilder, x: str, w: BlockQuant, name: str, accuracy: int) -> str:
    """MatMulNBits with its default zero point (8 for 4 bits, 128 for 8 bits): the fast CPU path.

    Measured on this CPU (K=576, N=1536, one token): default zero point 0.10 ms, uint8 zero points
    0.15 ms, float zero points 1.1 ms; 8-bit blocks at accuracy_level 0 are ~100x slower than at 4.
    So asymmetric offsets become a separate block-sum term, and exact 8-bit weights at fp32
    accuracy are split into two 4-bit halves.
    """
    n, k = w.shape
    nb = k // BLOCK
    if w.bits == 8 and accuracy == 4:
        b = (w.q.astype(np.int16) + 128).astype(np.uint8).reshape(n, nb, BLOCK)
        return _nbits(g, x, b, w.scale, name, n, k, 8, accuracy)
    if w.bits == 8:
        # q + 128 = 16*hi + lo: w = d*(q) = (16d)*(hi - 8) + d*(lo - 8) + 8d, all exact in fp32.
        u = (w.q.astype(np.int16) + 128).astype(np.uint8)
        hi, lo = u >> 4, u & 0x0F
        y_hi = _nbits(g, x, pack_nibbles_rowwise(hi).reshape(n, nb, BLOCK // 2), 16.0 * w.scale, name + ".hi", n, k, 4, accuracy)
        y_lo = _nbits(g, x, pack_nibbles_rowwise(lo).reshape(n, nb, BLOCK // 2), w.scale, name + ".lo", n, k, 4, accuracy)
        off = g.add_initializer(name + ".offsets", np.ascontiguousarray((8.0 * w.scale).T).astype(np.float32))  # [K/32, N]
        return g.op("Add", [g.op("Add", [y_hi, y_lo]), g.op("MatMul", [_block_sums(g, x, k), off])])
    y = _nbits(g, x, pack_nibbles_rowwise(w.q).reshape(n, nb, BLOCK // 2), w.scale, name, n, k, 4, accuracy)
    if w.offset is None:  # symmetric around 8: exactly the kernel's default
        return y
    # w = d*q + m = d*(q - 8) + (m + 8d): the kernel's default zero point plus a per-block offset
    # term; m + 8d is rounded once to fp32 (<= 0.5 ulp of the offset).
    off = (w.offset.astype(np.float64) + 8.0 * w.scale.astype(np.float64)).astype(np.float32)
    return g.op("Add", [y, g.op("MatMul", [_block_sums(g, x, k), g.add_initializer(name + ".offsets", np.ascontiguousarray(off.T))])])


def pack_nibbles_flat(q: np.ndarray) -> bytes:
    """Any-shape array of 0..15 -> ONNX UINT4 raw data (row-major, low nibble first)."""
    flat = q.reshape(-1).astype(np.uint8)
    if flat.size % 2:
        flat = np.concatenate([flat, np.zeros(1, np.uint8)])
    return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8).tobytes()


def _standard_blocks(g: GraphBuilder, x: str, w: BlockQuant, name: str) -> str:
    n, k = w.shape
    act = NP_DTYPES[g.act_dtype]
    scale_t = g.add_initializer(name + ".scales", np.ascontiguousarray(w.scale.T).astype(act))  # [K/32, N]
    if w.bits == 8:
        q = g.add_initializer(name + ".qweight", np.ascontiguousarray(w.q.T))  # int8 [K, N]
        wt = g.op("DequantizeLinear", [q, scale_t], axis=0, block_size=BLOCK)
        return g.op("MatMul", [x, wt])
    if w.offset is None:
        # Symmetric blocks as signed INT4 (q - 8): no zero-point tensor to store.
        signed = (w.q.astype(np.int16) - 8).astype(np.int8)
        q = g.add_raw_initializer(name + ".qweight", TensorProto.INT4, (k, n), pack_nibbles_flat(np.ascontiguousarray(signed.T) & 0x0F))
        wt = g.op("DequantizeLinear", [q, scale_t], axis=0, block_size=BLOCK)
        return g.op("MatMul", [x, wt])
    q = g.add_raw_initializer(name + ".qweight", TensorProto.UINT4, (k, n), pack_nibbles_flat(np.ascontiguousarray(w.q.T)))
    # w = scale*q + offset: x @ (scale*q)^T plus the per-block sums of x times the offsets, which
    # keeps the source's integers exact without a float zero point (not expressible in ONNX).
    wt = g.op("DequantizeLinear", [q, scale_t], axis=0, block_size=BLOCK)
    y = g.op("MatMul", [x, wt])
    sums = _block_sums(g, x, k)  # [1, S, K/32]
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


def fused_linear(g: GraphBuilder, x: str, parts: list[Repr], name: str, flavour: str, bias: np.ndarray | None = None,
                 accuracy: int = 0) -> str:
    """One matmul over row-stacked weights (fused QKV, gate/up); when the parts' representations
    differ (e.g. Q4_K and Q6_K in one layer of a Q4_K_M file) one matmul each, concatenated."""
    try:
        return linear(g, x, concat_rows(parts), name, flavour, bias, accuracy)
    except ValueError:
        ys = [linear(g, x, p, f"{name}.{i}", flavour, accuracy=accuracy) for i, p in enumerate(parts)]
        y = g.op("Concat", ys, axis=-1)
        if bias is not None:
            y = g.op("Add", [y, g.add_initializer(name + ".bias", bias.astype(NP_DTYPES[g.act_dtype]))])
        return y

"""Grouped-query causal attention over the cached prefix plus the new tokens.

``attention`` (standard ops): K/V layout is sequence-major [1, T, kv_heads, D]: the runtime passes a
prefix view of its preallocated cache as ``past`` without copying, and writes the layer's new K/V
after it. The mask is by index: new token i (0-based within the step) sees cache rows 0 .. P+i,
P = past length.

``gqa_attention`` (ORT flavour): one com.microsoft GroupQueryAttention node does RoPE, the cache
update and attention over a head-major cache buffer shared between past and present. In layer graphs
it always runs over at least two query rows (``SCRATCH_ROWS``): ONNX Runtime's CPU kernel computes a
single query row along another path than several (its probs x V product with M = 1), so a token
verified in a batch got logits ~1e-6 off its logits alone, which int8 activation rounding turned into
other tokens. With the last row repeated, a row's arithmetic no longer depends on the row count. The
layer graph floors its input at two rows (``RowFloor``: a single row is repeated, two or more pass
as they are), so that MatMulNBits, which has an M = 1 path of its own on AVX2 CPUs, never sees one
row either, and a verification pass of n >= 2 rows pays for no extra row.
"""

from __future__ import annotations

import numpy as np

from .builder import MS_DOMAIN, GraphBuilder


def attention(g: GraphBuilder, q: str, k_all: str, v_all: str, num_kv_heads: int, group: int, head_dim: int,
              seq_ref: str) -> str:
    """q [1, S, H_q, D], k_all/v_all [1, T, KVH, D] -> [1, S, H_q*D]; seq_ref is any [1, S, ...] tensor."""
    qg = g.op("Reshape", [q, g.i64([1, 0, num_kv_heads, group, head_dim])])  # [1, S, KVH, G, D]
    qh = g.op("Transpose", [qg], perm=[0, 2, 3, 1, 4])  # [1, KVH, G, S, D]
    qh = g.op("Mul", [qh, g.act_const(1.0 / np.sqrt(head_dim))])
    kt = g.op("Unsqueeze", [g.op("Transpose", [k_all], perm=[0, 2, 3, 1]), g.i64([2])])  # [1, KVH, 1, D, T]
    scores = g.op("MatMul", [qh, kt])  # [1, KVH, G, S, T]
    if g.act_dtype != "float32":
        scores = g.cast(scores, "float32")  # softmax in fp32 for fp16 graphs

    # Causal mask by index: allowed[i, j] = j <= i + (T - S).
    s_len = g.op("Gather", [g.op("Shape", [seq_ref]), g.i64(1)], axis=0)  # scalar S
    t_len = g.op("Gather", [g.op("Shape", [k_all]), g.i64(1)], axis=0)  # scalar T
    past = g.op("Sub", [t_len, s_len])
    rows = g.op("Unsqueeze", [g.op("Add", [g.op("Range", [g.i64(0), s_len, g.i64(1)]), past]), g.i64([1])])  # [S, 1]
    cols = g.op("Unsqueeze", [g.op("Range", [g.i64(0), t_len, g.i64(1)]), g.i64([0])])  # [1, T]
    allowed = g.op("LessOrEqual", [cols, rows])  # [S, T]
    scores = g.op("Where", [allowed, scores, g.const(-np.inf, np.float32)])
    probs = g.op("Softmax", [scores], axis=-1)
    if g.act_dtype != "float32":
        probs = g.cast(probs, g.act_dtype)

    vh = g.op("Unsqueeze", [g.op("Transpose", [v_all], perm=[0, 2, 1, 3]), g.i64([2])])  # [1, KVH, 1, T, D]
    out = g.op("MatMul", [probs, vh])  # [1, KVH, G, S, D]
    out = g.op("Transpose", [out], perm=[0, 3, 1, 2, 4])  # [1, S, KVH, G, D]
    return g.op("Reshape", [out, g.i64([1, 0, num_kv_heads * group * head_dim])])  # [1, S, H_q*D]


# Cache rows after the valid ones a layer graph may write (the repeated row's K/V): the runtime's
# buffers hold max_seq + SCRATCH_ROWS rows, and the rope table as many positions past max_position.
# gqa_attention repeats exactly one row, so this is 1 by construction, not a tuning knob.
SCRATCH_ROWS = 1


def repeat_last_row(g: GraphBuilder, x: str) -> str:
    """x [1, S, F] -> [1, S + SCRATCH_ROWS, F]: the last row once more (see the module docstring)."""
    last = g.op("Slice", [x, g.i64([-1]), g.i64([np.iinfo(np.int64).max]), g.i64([1])])  # [1, 1, F]
    return g.op("Concat", [x, last], axis=1)


def drop_repeated_rows(g: GraphBuilder, x: str) -> str:
    """x [1, S + SCRATCH_ROWS, F] -> [1, S, F]."""
    return g.op("Slice", [x, g.i64([0]), g.i64([-SCRATCH_ROWS]), g.i64([1])])


class RowFloor:
    """At least two rows for every op: a one-row input gets its row repeated, two rows or more pass
    unchanged (every row count of two or more computes a row bitwise alike; one row does not, see the
    module docstring). ``x`` [1, S + pad, F]; ``rows`` int64 [1] = S; ``pad`` int64 [1] = (S == 1)."""

    def __init__(self, g: GraphBuilder, x: str) -> None:
        self.rows = g.op("Slice", [g.op("Shape", [x]), g.i64([1]), g.i64([2])])  # [1]: S
        self.pad = g.cast(g.op("Equal", [self.rows, g.i64([1])]), "int64")  # [1]: 0 or 1
        extra = g.op("Slice", [x, g.op("Sub", [self.rows, self.pad]), self.rows, g.i64([1])])  # [1, pad, F]
        self.x = g.op("Concat", [x, extra], axis=1)  # [1, S + pad, F]

    def keep(self, g: GraphBuilder, y: str) -> str:
        """y [1, S + pad, F'] -> [1, S, F']: the real rows."""
        return g.op("Slice", [y, g.i64([0]), self.rows, g.i64([1])])


def gqa_attention(g: GraphBuilder, qkv: str, num_heads: int, num_kv_heads: int,
                  batch_invariant: bool = True, floor: RowFloor | None = None) -> tuple[str, str, str]:
    """Packed qkv [1, S, (H_q + 2*KVH)*D] (q/k not yet rotated) -> (attn [1, S, H_q*D], present_key,
    present_value [1, KVH, max_seq (+ SCRATCH_ROWS), D]).

    Graph inputs used (see contract.layer_io, head_major_shared): past_key/past_value (the same
    buffers as the outputs), seqlens_k = [P + S - 1], total_sequence_length = P + S, cos_cache and
    sin_cache [rope_positions, D/2]. Causal within the new tokens, all P cached rows visible.

    batch_invariant: run S + 1 rows, the last one repeated at position P + S, and drop its output.
    Causality keeps it out of the real rows; its K/V land in the scratch row P + S, past the valid
    length, where the next token's write replaces them. Off only where the attention output is
    discarded (kv_fill).

    A cache type other than the activations' (``g.kv_dtype``, float16 K/V next to float32
    activations) casts the packed input to it and the attention output back.

    floor: qkv already holds S + pad rows (the layer floored its input at two rows, ``RowFloor``):
    the cache lengths grow by ``pad`` and the output keeps every row; the caller keeps the real ones
    at the end."""
    seqlens, total = "seqlens_k", "total_sequence_length"
    if floor is not None:
        pad32 = g.cast(floor.pad, "int32")  # [1]
        seqlens = g.op("Add", [seqlens, pad32])
        total = g.op("Add", [total, g.op("Squeeze", [pad32, g.i64([0])])])
    elif batch_invariant:
        qkv = repeat_last_row(g, qkv)  # [1, S + 1, QKV]
        seqlens = g.op("Add", [seqlens, g.const(np.array([SCRATCH_ROWS], np.int32), np.int32)])
        total = g.op("Add", [total, g.const(np.array(SCRATCH_ROWS, np.int32), np.int32)])
    if g.kv_dtype != g.act_dtype:
        qkv = g.cast(qkv, g.kv_dtype)  # the op's one type T covers Q, K, V, the cache and the rope tables
    attn, k, v = g.op("GroupQueryAttention",
                      [qkv, "", "", "past_key", "past_value", seqlens, total, "cos_cache", "sin_cache"],
                      n_out=3, domain=MS_DOMAIN, num_heads=num_heads, kv_num_heads=num_kv_heads, do_rotary=1,
                      rotary_interleaved=0)
    if g.kv_dtype != g.act_dtype:
        attn = g.cast(attn, g.act_dtype)
    if batch_invariant and floor is None:
        attn = drop_repeated_rows(g, attn)  # [1, S, H_q*D]
    return attn, k, v

"""Token embedding lookup: input_ids [1, S] -> hidden [1, S, H]. Standard ops in both flavours."""

from __future__ import annotations

import numpy as np
import onnx

from ..load.blocks import BLOCK, BlockQuant
from ..load.checkpoint import Checkpoint
from .builder import NP_DTYPES, GraphBuilder
from .contract import embed_io
from .precision import weight_repr


def build_embed(ckpt: Checkpoint, mode: str, act: str, bias: int = 0) -> onnx.ModelProto:
    """bias: store 8-bit block values as unsigned bytes ``q + bias`` (the graph subtracts it again,
    exactly): with 128 the table holds the bytes of the 8-bit MatMulNBits LM head, so a tied head
    can read them from embed.bin instead of keeping a second copy (``bundle/external.py``)."""
    c = ckpt.config
    g = GraphBuilder("embed", act)
    ins, outs = embed_io(c.hidden_size, act)
    g.add_input(ins[0].name, ins[0].dtype, ins[0].shape)
    table = weight_repr(ckpt.weight("model.embed_tokens.weight"), mode, "vocab")
    if isinstance(table, BlockQuant):
        h = _gather_blocks(g, "input_ids", table, c.hidden_size, bias)
    else:
        h = g.op("Gather", [g.add_initializer("embed_tokens", table), "input_ids"], axis=0)  # [1, S, H]
        if table.dtype != NP_DTYPES[act]:
            h = g.cast(h, act)
    g.add_output(h, outs[0].name, act, outs[0].shape)
    return g.model()


def _gather_blocks(g: GraphBuilder, ids: str, t: BlockQuant, hidden: int, bias: int = 0) -> str:
    """Gather rows of q, scale (and offset), then dequantize only those rows."""
    act = NP_DTYPES[g.act_dtype]
    if t.bits == 4:
        t = t.with_offsets()  # 4-bit rows kept unpacked (uint8 0..15): lookup cost is per token only
    biased = bias and t.bits == 8 and t.offset is None
    stored = (t.q.astype(np.int16) + bias).astype(np.uint8) if biased else t.q  # [V, H]
    q = g.op("Gather", [g.add_initializer("embed_tokens.q", stored), ids], axis=0)  # [1, S, H]
    qf = g.cast(q, g.act_dtype)
    if biased:
        # float(b) - bias is exact (integers below 2^11), so rows equal the signed table's
        qf = g.op("Sub", [qf, g.add_initializer("embed_tokens.bias", np.array(bias, dtype=act))])
    qf = g.op("Reshape", [qf, g.i64([1, -1, hidden // BLOCK, BLOCK])])  # [1, S, H/32, 32]
    s = g.op("Gather", [g.add_initializer("embed_tokens.scales", t.scale.astype(act)), ids], axis=0)  # [1, S, H/32]
    rows = g.op("Mul", [qf, g.op("Unsqueeze", [s, g.i64([-1])])])
    if t.offset is not None:
        o = g.op("Gather", [g.add_initializer("embed_tokens.offsets", t.offset.astype(act)), ids], axis=0)
        rows = g.op("Add", [rows, g.op("Unsqueeze", [o, g.i64([-1])])])
    return g.op("Reshape", [rows, g.i64([1, -1, hidden])])

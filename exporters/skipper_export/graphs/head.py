"""Final RMSNorm + LM head: any layer's hidden state [1, S, H] -> logits [1, S, V] (float32).

Accepting any layer's hidden state is what early-exit drafting uses."""

from __future__ import annotations

import onnx

from ..load.checkpoint import Checkpoint
from .attention import RowFloor
from .builder import GraphBuilder
from .contract import head_io
from .linear import linear
from .norm import rms_norm
from .precision import weight_repr


def build_head(ckpt: Checkpoint, mode: str, flavour: str, act: str, accuracy: int = 0) -> onnx.ModelProto:
    c = ckpt.config
    g = GraphBuilder("head", act)
    ins, outs = head_io(c.hidden_size, c.vocab_size, act)
    g.add_input(ins[0].name, ins[0].dtype, ins[0].shape)
    # ort flavour: the LM head's MatMulNBits never runs one row (its AVX2 one-row path rounds
    # differently from several rows: a token's logits would depend on how many were verified).
    floor = RowFloor(g, "hidden") if flavour == "ort" else None
    hidden = floor.x if floor else "hidden"
    x = rms_norm(g, hidden, ckpt.weight("model.norm.weight").dense(), c.rms_norm_eps, "model.norm.weight", flavour)
    logits = linear(g, x, weight_repr(ckpt.lm_head(), mode, "vocab"), "lm_head", flavour, accuracy=accuracy)
    if floor:
        logits = floor.keep(g, logits)
    if act != "float32":
        logits = g.cast(logits, "float32")
    g.add_output(logits, outs[0].name, "float32", outs[0].shape)
    return g.model()

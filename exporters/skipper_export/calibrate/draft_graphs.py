"""ONNX graphs of the draft path (bundle-format.md, section draft_heads):

  draft/exit_LL.onnx   hidden [1, S, H] (after layer LL-1) -> hidden_out [1, S, H] (adapter: x W + b,
                       in the final layer's space), accept_prob [1, S] (router on rms(hidden))
  draft/head.onnx      hidden [1, S, H] -> logits [1, S, N] over the draft vocabulary
                       (weightless RMSNorm, then the full head's columns for those N tokens)
"""

from __future__ import annotations

import numpy as np
import onnx

from ..graphs.builder import GraphBuilder
from ..graphs.linear import linear
from ..graphs.norm import rms_norm
from ..load.blocks import BLOCK, BlockQuant
from .exit_heads import ExitHead


def exit_graph(e: ExitHead, hidden: int, eps: float, flavour: str) -> onnx.ModelProto:
    g = GraphBuilder(f"exit_{e.layer}", "float32")
    g.add_input("hidden", "float32", [1, "seq", hidden])
    adapted = g.op("Add", [g.op("MatMul", ["hidden", g.add_initializer("adapter.weight", e.weight)]),
                           g.add_initializer("adapter.bias", e.bias)])
    g.add_output(adapted, "hidden_out", "float32", [1, "seq", hidden])
    x = rms_norm(g, "hidden", np.ones(hidden, np.float32), eps, "router.norm", flavour)
    z = g.op("Add", [g.op("MatMul", [x, g.add_initializer("router.w1", e.router["w1"])]),
                     g.add_initializer("router.b1", e.router["b1"])])
    a = g.op("Mul", [z, g.op("Sigmoid", [z])])  # SiLU
    logit = g.op("Add", [g.op("MatMul", [a, g.add_initializer("router.w2", e.router["w2"].reshape(-1, 1))]),
                         g.add_initializer("router.b2", e.router["b2"].reshape(1))])
    prob = g.op("Squeeze", [g.op("Sigmoid", [logit]), g.i64([-1])])
    g.add_output(prob, "accept_prob", "float32", [1, "seq"])
    return g.model()


def quantize_int8_blocks(w: np.ndarray) -> BlockQuant:
    """[N, K] float -> symmetric int8 per block of 32 inputs (round to nearest)."""
    n, k = w.shape
    blocks = w.reshape(n, k // BLOCK, BLOCK).astype(np.float32)
    scale = np.abs(blocks).max(-1) / 127.0
    safe = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint(blocks / safe[..., None]), -127, 127).astype(np.int8).reshape(n, k)
    return BlockQuant(bits=8, q=q, scale=scale.astype(np.float32), offset=None, exact=False)


def draft_head_graph(reduced: np.ndarray, eps: float, flavour: str, accuracy: int) -> onnx.ModelProto:
    """reduced [H, N]: the probed head's columns for the draft vocabulary. Stored as int8 blocks
    when the bundle's matmuls run with int8 activations (same arithmetic as the full head), else fp32."""
    hidden, n = reduced.shape
    g = GraphBuilder("draft_head", "float32")
    g.add_input("hidden", "float32", [1, "seq", hidden])
    x = rms_norm(g, "hidden", np.ones(hidden, np.float32), eps, "draft_head.norm", flavour)
    w: np.ndarray | BlockQuant = np.ascontiguousarray(reduced.T)  # [N, H], HF orientation
    if accuracy == 4 and flavour == "ort" and hidden % BLOCK == 0:
        w = quantize_int8_blocks(w)
    logits = linear(g, x, w, "draft_head", flavour, accuracy=accuracy)
    g.add_output(logits, "logits", "float32", [1, "seq", n])
    return g.model()

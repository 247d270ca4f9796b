"""``draft/feature_drafter.onnx``: the trained feature drafter as one graph (bundle-format.md,
section feature_drafter).

  inputs   feature [1, S, H]   the target's last-layer output at the previous position (or the
                               drafter's own feature_out while drafting)
           embedded [1, S, H]  embed.onnx's output for the current token
           + the cache inputs of a target layer graph (same layout, same names: the runtime keeps
             one more layer's KV cache for it, with rollback by length)
  outputs  feature_out [1, S, H]  predicted last-layer output (next step's `feature`)
           logits [1, S, N]       over the draft vocabulary (weightless RMSNorm + the head's columns)
           + the layer's present/new key and value

The body is a target-shaped decoder layer built by the exporter's own ``layer_body`` (so it is
quantized and laid out like the bundle's layers and every backend that runs a layer runs it); the
input standardisation is folded into the fused input projection, the output's is one Mul + Add.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..graphs.builder import GraphBuilder
from ..graphs.contract import kv_layout, layer_io
from ..graphs.layer import layer_body
from ..graphs.linear import linear
from ..graphs.norm import rms_norm
from ..load.blocks import BLOCK
from ..load.checkpoint import Checkpoint, TokenizerSpec
from ..load.weight import Weight
from .draft_graphs import quantize_int8_blocks
from .feature_drafter import TrainedDrafter

INPUTS = ("feature", "embedded")
OUTPUTS = ("feature_out", "logits")


def _checkpoint(d: TrainedDrafter, config) -> Checkpoint:
    """The drafter's layer as layer 0 of a checkpoint (HF orientation, float32)."""
    p = d.params
    named = {
        "input_layernorm.weight": p["ln1"], "post_attention_layernorm.weight": p["ln2"],
        "self_attn.q_proj.weight": p["wq"].T, "self_attn.k_proj.weight": p["wk"].T,
        "self_attn.v_proj.weight": p["wv"].T, "self_attn.o_proj.weight": p["wo"].T,
        "mlp.gate_proj.weight": p["wg"].T, "mlp.up_proj.weight": p["wu"].T, "mlp.down_proj.weight": p["wd"].T,
    }
    weights = {}
    for k, v in named.items():
        a = np.ascontiguousarray(v, np.float32)
        weights["model.layers.0." + k] = Weight("model.layers.0." + k, tuple(a.shape), "F32", a)
    tok = TokenizerSpec("bpe", {}, None, (), None, None, False)
    return Checkpoint("feature drafter", "hf", config, weights, tok, None, "feature drafter")


def folded_input(d: TrainedDrafter) -> tuple[np.ndarray, np.ndarray]:
    """(W [H, 2H] in HF orientation, b [H]) with x = [feature, embedded] W^T + b computing
    fc([(feature - mu)/sigma, (embedded - mu_e)/sigma_e])."""
    h = d.mu.shape[0]
    w = d.params["fc_w"].astype(np.float64)  # [2H, H]
    wf, we = w[:h] / d.sigma[:, None], w[h:] / d.sigma_e[:, None]
    b = d.params["fc_b"].astype(np.float64) - (d.mu / d.sigma) @ w[:h] - (d.mu_e / d.sigma_e) @ w[h:]
    return np.ascontiguousarray(np.concatenate([wf, we]).T.astype(np.float32)), b.astype(np.float32)


def feature_drafter_graph(d: TrainedDrafter, config, reduced: np.ndarray, mode: str, flavour: str, act: str,
                          accuracy: int, kv: str | None = None) -> onnx.ModelProto:
    """reduced [H, N]: the draft head's columns (final norm gain folded in); kv: the bundle's KV cache
    type (the drafter's own cache and the shared rotary tables have it)."""
    if act != "float32":
        raise ValueError("the feature drafter needs float32 activations")
    if "fuse_w" in d.params:
        raise ValueError("a drafter trained on fused features has no graph yet (feature_drafter.train, fused)")
    h = config.hidden_size
    n = reduced.shape[1]
    g = GraphBuilder("feature_drafter", act, kv)
    g.add_input("feature", act, [1, "seq", h])
    g.add_input("embedded", act, [1, "seq", h])
    ins, outs = layer_io(h, config.num_kv_heads, config.head_dim, act, kv_layout(flavour), kv)
    for t in ins[1:]:  # the cache inputs; `hidden` is computed here
        g.add_input(t.name, t.dtype, t.shape)
    w_in, b_in = folded_input(d)
    quant = accuracy == 4 and flavour == "ort" and (2 * h) % BLOCK == 0
    both = g.op("Concat", ["feature", "embedded"], axis=-1)  # [1, S, 2H]
    x = linear(g, both, quantize_int8_blocks(w_in) if quant else w_in, "drafter.fc", flavour, b_in, accuracy)
    out, k, v = layer_body(g, _checkpoint(d, config), 0, mode, flavour, accuracy, x)  # normalised prediction
    feature = g.op("Add", [g.op("Mul", [out, g.add_initializer("drafter.sigma", d.sigma)]),
                           g.add_initializer("drafter.mu", d.mu)])
    y = rms_norm(g, feature, np.ones(h, np.float32), config.rms_norm_eps, "drafter.head.norm", flavour)
    w_head = np.ascontiguousarray(reduced.T)  # [N, H]
    if quant and h % BLOCK == 0:
        w_head = quantize_int8_blocks(w_head)
    logits = linear(g, y, w_head, "drafter.head", flavour, accuracy=accuracy)
    # Outputs last: add_output renames the value in the nodes already built.
    g.add_output(feature, "feature_out", act, [1, "seq", h])
    g.add_output(logits, "logits", act, [1, "seq", n])
    g.add_output(k, outs[1].name, outs[1].dtype, outs[1].shape)
    g.add_output(v, outs[2].name, outs[2].dtype, outs[2].shape)
    return g.model()

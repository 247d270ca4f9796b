"""One decoder layer as one graph: norm -> fused QKV -> RoPE -> attention -> o_proj -> residual ->
norm -> fused gate/up -> SwiGLU -> down -> residual. Reads top to bottom like the math."""

from __future__ import annotations

import numpy as np
import onnx

from ..load.checkpoint import Checkpoint
from ..load.config import ModelConfig
from .attention import RowFloor, attention, gqa_attention
from .builder import GraphBuilder
from .contract import kv_fill_io, kv_layout, layer_io
from .linear import fused_linear, linear
from .norm import add_rms_norm, rms_norm
from .precision import weight_repr
from .rope import apply_rope, rope_tables


def build_layer(ckpt: Checkpoint, index: int, mode: str, flavour: str, act: str, accuracy: int = 0,
                kv: str | None = None) -> onnx.ModelProto:
    c = ckpt.config
    g = GraphBuilder(f"layer_{index}", act, kv)
    ins, outs = layer_io(c.hidden_size, c.num_kv_heads, c.head_dim, act, kv_layout(flavour), kv)
    for t in ins:
        g.add_input(t.name, t.dtype, t.shape)
    out, k, v = layer_body(g, ckpt, index, mode, flavour, accuracy, "hidden")
    for value, spec in zip((out, k, v), outs):
        g.add_output(value, spec.name, spec.dtype, spec.shape)
    return g.model()


def layer_body(g: GraphBuilder, ckpt: Checkpoint, index: int, mode: str, flavour: str, accuracy: int,
               hidden_in: str) -> tuple[str, str, str]:
    """Decoder layer `index` of `ckpt` over `hidden_in` [1, S, H] inside graph g, whose other inputs
    are layer_io's cache inputs: (hidden out [1, S, H], new/present key, value)."""
    c = ckpt.config
    p = f"model.layers.{index}."
    layout = kv_layout(flavour)

    def w(name: str) -> np.ndarray:
        return ckpt.weight(p + name).dense()

    def mat(name: str) -> object:
        return weight_repr(ckpt.weight(p + name), mode, "layer")

    # Batch invariance (ort flavour): every op runs on at least two rows (a single input row is
    # repeated), so no kernel ever takes a one-row path (attention.py); the extra row is dropped at the end.
    floor = RowFloor(g, hidden_in) if layout == "head_major_shared" else None
    hidden = floor.x if floor else hidden_in  # [1, S (+1 when S == 1), H]

    # Attention block.
    x = rms_norm(g, hidden, w("input_layernorm.weight"), c.rms_norm_eps, p + "input_layernorm.weight", flavour)  # [1, S, H]
    qkv_w = [mat("self_attn.q_proj.weight"), mat("self_attn.k_proj.weight"), mat("self_attn.v_proj.weight")]
    qkv_b = None
    if c.attention_bias:
        qkv_b = np.concatenate([w("self_attn.q_proj.bias"), w("self_attn.k_proj.bias"), w("self_attn.v_proj.bias")])
    qkv = fused_linear(g, x, qkv_w, p + "self_attn.qkv_proj", flavour, qkv_b, accuracy)  # [1, S, q_dim + 2*kv_dim]
    if layout == "head_major_shared":
        attn, k, v = gqa_attention(g, qkv, c.num_heads, c.num_kv_heads, floor=floor)  # k, v: [1, KVH, max_seq, D] in place
    else:
        attn, k, v = _decomposed_attention(g, qkv, c, hidden_in)
    o = linear(g, attn, mat("self_attn.o_proj.weight"), p + "self_attn.o_proj", flavour, accuracy=accuracy)  # [1, S, H]

    # MLP block.
    x2, h2 = add_rms_norm(g, o, hidden, w("post_attention_layernorm.weight"), c.rms_norm_eps,
                          p + "post_attention_layernorm.weight", flavour)
    gate_up = fused_linear(g, x2, [mat("mlp.gate_proj.weight"), mat("mlp.up_proj.weight")], p + "mlp.gate_up_proj",
                           flavour, accuracy=accuracy)
    gate, up = g.op("Split", [gate_up, g.i64([c.intermediate_size, c.intermediate_size])], n_out=2, axis=-1)
    act_v = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up])  # SiLU(gate) * up, [1, S, I]
    down = linear(g, act_v, mat("mlp.down_proj.weight"), p + "mlp.down_proj", flavour, accuracy=accuracy)
    out = g.op("Add", [h2, down])
    if floor:
        out = floor.keep(g, out)  # [1, S, H]
    return out, k, v


def build_kv_fill(ckpt: Checkpoint, index: int, mode: str, flavour: str, act: str, accuracy: int = 0,
                  kv: str | None = None) -> onnx.ModelProto:
    """Layer `index`'s K/V for given hidden states, nothing else: norm -> fused K/V -> RoPE(K) ->
    cache (CALM-style state propagation for tokens that exit before this layer; ~6 % of a layer).

    head_major_shared: the packed input of GroupQueryAttention gets zeros for Q (no Q projection) so
    the op writes the rotated K and V in place, exactly as the full layer would for these inputs;
    its attention output is discarded."""
    c = ckpt.config
    p = f"model.layers.{index}."
    g = GraphBuilder(f"kv_fill_{index}", act, kv)
    layout = kv_layout(flavour)
    ins, outs = kv_fill_io(c.hidden_size, c.num_kv_heads, c.head_dim, act, layout, kv)
    for t in ins:
        g.add_input(t.name, t.dtype, t.shape)
    x = rms_norm(g, "hidden", ckpt.weight(p + "input_layernorm.weight").dense(), c.rms_norm_eps,
                 p + "input_layernorm.weight", flavour)
    kv_w = [weight_repr(ckpt.weight(p + f"self_attn.{n}_proj.weight"), mode, "layer") for n in ("k", "v")]
    kv_b = None
    if c.attention_bias:
        kv_b = np.concatenate([ckpt.weight(p + f"self_attn.{n}_proj.bias").dense() for n in ("k", "v")])
    kv_rows = fused_linear(g, x, kv_w, p + "self_attn.kv_proj", flavour, kv_b, accuracy)  # [1, S, 2*kv_dim]
    q_dim, kv_dim = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
    if layout == "head_major_shared":
        seq = g.op("Slice", [g.op("Shape", ["hidden"]), g.i64([1]), g.i64([2])])  # [1]: S
        shape = g.op("Concat", [g.i64([1]), seq, g.i64([q_dim])], axis=0)
        zeros = g.op("ConstantOfShape", [shape], value=onnx.helper.make_tensor("zero", _ONNX_ACT[act], [1], [0]))
        qkv = g.op("Concat", [zeros, kv_rows], axis=-1)  # [1, S, q_dim + 2*kv_dim], Q = 0
        _, k, v = gqa_attention(g, qkv, c.num_heads, c.num_kv_heads, batch_invariant=False)
    else:
        k, v = g.op("Split", [kv_rows, g.i64([kv_dim, kv_dim])], n_out=2, axis=-1)
        k = g.op("Reshape", [k, g.i64([1, 0, c.num_kv_heads, c.head_dim])])  # [1, S, KVH, D]
        v = g.op("Reshape", [v, g.i64([1, 0, c.num_kv_heads, c.head_dim])])
        inv_freq, mscale = c.rope_inv_freq()
        cos, sin = rope_tables(g, "position_ids", inv_freq, mscale)
        k = apply_rope(g, k, cos, sin, c.head_dim)
    g.add_output(k, outs[0].name, outs[0].dtype, outs[0].shape)
    g.add_output(v, outs[1].name, outs[1].dtype, outs[1].shape)
    return g.model()


_ONNX_ACT = {"float32": onnx.TensorProto.FLOAT, "float16": onnx.TensorProto.FLOAT16}


def _decomposed_attention(g: GraphBuilder, qkv: str, c: ModelConfig, seq_ref: str) -> tuple[str, str, str]:
    """Standard ops, sequence-major cache: (attn [1, S, H_q*D], new k, new v [1, S, KVH, D])."""
    q_dim, kv_dim = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
    q, k, v = g.op("Split", [qkv, g.i64([q_dim, kv_dim, kv_dim])], n_out=3, axis=-1)
    q = g.op("Reshape", [q, g.i64([1, 0, c.num_heads, c.head_dim])])  # [1, S, H_q, D]
    k = g.op("Reshape", [k, g.i64([1, 0, c.num_kv_heads, c.head_dim])])  # [1, S, KVH, D]
    v = g.op("Reshape", [v, g.i64([1, 0, c.num_kv_heads, c.head_dim])])  # [1, S, KVH, D]
    inv_freq, mscale = c.rope_inv_freq()
    cos, sin = rope_tables(g, "position_ids", inv_freq, mscale)
    q = apply_rope(g, q, cos, sin, c.head_dim)
    k = apply_rope(g, k, cos, sin, c.head_dim)
    k_all = g.op("Concat", ["past_key", k], axis=1)  # [1, P+S, KVH, D]
    v_all = g.op("Concat", ["past_value", v], axis=1)
    attn = attention(g, q, k_all, v_all, c.num_kv_heads, c.num_heads // c.num_kv_heads, c.head_dim, seq_ref)
    return attn, k, v

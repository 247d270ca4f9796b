"""Shape of a tiny Llama/Qwen2 model and deterministic random weights in Hugging Face layout.

Weights are float32, named and oriented as in a Hugging Face checkpoint ([out, in] for
linear layers). Scales are chosen so a forward pass stays well conditioned: every linear
layer is N(0, 1/fan_in) (unit gain), RMSNorm gains are 1 +- 0.1, and the embedding /
output matrices give logits with a standard deviation of about ``LOGIT_STD`` so the
next-token distribution is peaked enough that greedy decoding is stable across backends,
but not one-hot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ExportError

# Std of the logits for a unit-RMS final hidden state: embedding/lm_head entries are
# N(0, (LOGIT_STD^2)/hidden). 3 gives top-1 margins well above float16/quantization noise.
LOGIT_STD = 3.0
NORM_JITTER = 0.1  # RMSNorm gains are 1 + N(0, NORM_JITTER)
BIAS_STD = 0.2  # q/k/v biases (qwen2 style), large enough that a loader that drops them fails tests


@dataclass(frozen=True)
class TinySpec:
    """Hyper-parameters of a tiny random model. ``head_dim`` is always hidden // heads.

    Block-size needs (row length = the "in" dimension of each matrix):
      * Q8_0 / Q4_0 / Q4_1: hidden and intermediate multiples of 32.
      * Q4_K / Q6_K: hidden and intermediate multiples of 256 (e.g. hidden=256,
        intermediate=512), otherwise those tensors fall back to F16 in the GGUF writer.
    """

    layers: int = 2
    hidden: int = 64
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 128
    vocab_size: int = 512  # target when training; replaced by the trained tokenizer's size
    rms_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True
    attention_bias: bool = False  # True -> qwen2 architecture (q/k/v biases)
    max_position: int = 512
    seed: int = 0
    name: str = field(default="skipper-tiny-random")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def arch(self) -> str:
        """llama.cpp / HF architecture family: qwen2 when attention biases exist."""
        return "qwen2" if self.attention_bias else "llama"

    def validate(self) -> None:
        problems: list[str] = []
        if self.layers < 1:
            problems.append(f"layers={self.layers} must be >= 1")
        if self.heads < 1 or self.hidden % self.heads:
            problems.append(f"hidden={self.hidden} must be a multiple of heads={self.heads}")
        if self.kv_heads < 1 or self.heads % self.kv_heads:
            problems.append(f"heads={self.heads} must be a multiple of kv_heads={self.kv_heads}")
        if self.heads >= 1 and self.hidden % self.heads == 0 and self.head_dim % 2:
            problems.append(f"head_dim={self.head_dim} must be even for RoPE")
        if self.intermediate < 1 or self.vocab_size < 1 or self.max_position < 1:
            problems.append("intermediate, vocab_size and max_position must be positive")
        if problems:
            raise ExportError("tiny spec", "; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["head_dim"] = self.head_dim
        d["arch"] = self.arch
        return d


def random_weights(spec: TinySpec) -> dict[str, np.ndarray]:
    """Return float32 weights in HF names and orientation, in checkpoint order.

    Deterministic: the same spec (incl. seed) gives bit-identical arrays on any machine,
    because numpy's default_rng (PCG64) stream and the draw order are fixed.
    """
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    h, hd, inter = spec.hidden, spec.head_dim, spec.intermediate
    q_out, kv_out = spec.heads * hd, spec.kv_heads * hd

    def linear(out_dim: int, in_dim: int) -> np.ndarray:
        # N(0, 1/fan_in): unit gain, so activations stay O(1) layer after layer.
        return (rng.standard_normal((out_dim, in_dim), dtype=np.float32) / np.float32(np.sqrt(in_dim))).astype(np.float32)

    def norm(dim: int) -> np.ndarray:
        return (1.0 + NORM_JITTER * rng.standard_normal(dim, dtype=np.float32)).astype(np.float32)

    def bias(dim: int) -> np.ndarray:
        return (BIAS_STD * rng.standard_normal(dim, dtype=np.float32)).astype(np.float32)

    def vocab_matrix() -> np.ndarray:
        return (rng.standard_normal((spec.vocab_size, h), dtype=np.float32) * np.float32(LOGIT_STD / np.sqrt(h))).astype(np.float32)

    w: dict[str, np.ndarray] = {"model.embed_tokens.weight": vocab_matrix()}
    for i in range(spec.layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(h)
        w[p + "self_attn.q_proj.weight"] = linear(q_out, h)
        w[p + "self_attn.k_proj.weight"] = linear(kv_out, h)
        w[p + "self_attn.v_proj.weight"] = linear(kv_out, h)
        if spec.attention_bias:
            w[p + "self_attn.q_proj.bias"] = bias(q_out)
            w[p + "self_attn.k_proj.bias"] = bias(kv_out)
            w[p + "self_attn.v_proj.bias"] = bias(kv_out)
        w[p + "self_attn.o_proj.weight"] = linear(h, q_out)
        w[p + "post_attention_layernorm.weight"] = norm(h)
        w[p + "mlp.gate_proj.weight"] = linear(inter, h)
        w[p + "mlp.up_proj.weight"] = linear(inter, h)
        w[p + "mlp.down_proj.weight"] = linear(h, inter)
    w["model.norm.weight"] = norm(h)
    if not spec.tie_word_embeddings:
        w["lm_head.weight"] = vocab_matrix()
    return w

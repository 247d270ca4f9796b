"""Architecture hyper-parameters of a Llama-family model, and the RoPE frequencies they imply."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SUPPORTED_ARCHITECTURES = ("llama", "qwen2")
ROPE_KINDS = ("none", "linear", "llama3", "yarn")


@dataclass(frozen=True)
class RopeScaling:
    """rope_scaling as Hugging Face spells it; ``kind`` is one of ROPE_KINDS."""

    kind: str = "none"
    factor: float = 1.0
    original_max_position: int = 0  # llama3 / yarn
    low_freq_factor: float = 1.0  # llama3
    high_freq_factor: float = 4.0  # llama3
    beta_fast: float = 32.0  # yarn
    beta_slow: float = 1.0  # yarn
    attention_factor: float | None = None  # yarn: cos/sin multiplier (None -> 0.1 ln(factor) + 1)


@dataclass(frozen=True)
class ModelConfig:
    architecture: str  # llama | qwen2
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    rms_norm_eps: float
    rope_theta: float
    max_position: int
    tie_word_embeddings: bool
    attention_bias: bool  # q/k/v biases (Qwen2 style)
    rope_scaling: RopeScaling = field(default_factory=RopeScaling)

    def validate(self, where: str) -> None:
        from ..errors import ExportError

        if self.architecture not in SUPPORTED_ARCHITECTURES:
            raise ExportError(where, f"unsupported architecture '{self.architecture}' (supported: {', '.join(SUPPORTED_ARCHITECTURES)})")
        for name in ("num_layers", "hidden_size", "intermediate_size", "num_heads", "num_kv_heads", "head_dim", "vocab_size", "max_position"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ExportError(where, f"{name} must be a positive integer, got {v!r}")
        if self.num_heads % self.num_kv_heads:
            raise ExportError(where, f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")
        if self.head_dim % 2:
            raise ExportError(where, f"head_dim {self.head_dim} must be even for RoPE")
        if not (self.rms_norm_eps > 0 and self.rope_theta > 0):
            raise ExportError(where, "rms_norm_eps and rope_theta must be positive")
        if self.rope_scaling.kind not in ROPE_KINDS:
            raise ExportError(where, f"unsupported rope_scaling type '{self.rope_scaling.kind}' (supported: {', '.join(ROPE_KINDS)})")

    def rope_inv_freq(self) -> tuple[np.ndarray, float]:
        """([head_dim/2] float64 inverse frequencies, cos/sin multiplier) after rope scaling."""
        d = self.head_dim
        inv = 1.0 / (self.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d))  # [d/2]
        rs = self.rope_scaling
        if rs.kind == "none":
            return inv, 1.0
        if rs.kind == "linear":
            return inv / rs.factor, 1.0
        if rs.kind == "llama3":
            # Long wavelengths are slowed by `factor`, short ones kept, the band between blended.
            old = rs.original_max_position
            low_wl = old / rs.low_freq_factor
            high_wl = old / rs.high_freq_factor
            wl = 2 * math.pi / inv
            smooth = (old / wl - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor)
            blended = (1 - smooth) * inv / rs.factor + smooth * inv
            out = np.where(wl > low_wl, inv / rs.factor, np.where(wl < high_wl, inv, blended))
            return out, 1.0
        # yarn (static): interpolate low frequencies, extrapolate high ones, ramp between.
        old = rs.original_max_position
        base = self.rope_theta

        def dim_for(rot: float) -> float:
            return (d * math.log(old / (rot * 2 * math.pi))) / (2 * math.log(base))

        lo = max(math.floor(dim_for(rs.beta_fast)), 0)
        hi = min(math.ceil(dim_for(rs.beta_slow)), d - 1)
        if lo == hi:
            hi += 0.001
        ramp = np.clip((np.arange(d // 2, dtype=np.float64) - lo) / (hi - lo), 0, 1)
        extrapolation = 1 - ramp
        out = inv / rs.factor * (1 - extrapolation) + inv * extrapolation
        if rs.attention_factor is not None:
            mscale = rs.attention_factor
        else:
            mscale = 0.1 * math.log(rs.factor) + 1.0 if rs.factor > 1 else 1.0
        return out, float(mscale)

"""Float64 numpy reference forward pass for Llama-family models (llama, mistral, qwen2).

Written to read like the math, one step per line, with the shape of every array in a comment.
Symbols: S = new tokens, T = past + new tokens, H = hidden, V = vocab, F = intermediate,
nH = query heads, nKV = key/value heads, D = head dim.

It shares no code with the exporter (only ``checkpoint_reader`` in this package), so it can serve
as the independent oracle the ONNX graphs are compared against.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from skipper_export.errors import ExportError

from .checkpoint_reader import RefConfig, load_weights


@dataclass
class RefKVCache:
    """Per-layer keys (after RoPE) and values of every token seen so far."""

    k: list[np.ndarray] = field(default_factory=list)  # per layer [T, nKV, D]
    v: list[np.ndarray] = field(default_factory=list)  # per layer [T, nKV, D]

    def __len__(self) -> int:
        return 0 if not self.k else int(self.k[0].shape[0])


@dataclass
class RefOutput:
    logits: np.ndarray  # [S, V] float64
    hidden: list[np.ndarray]  # L+1 arrays [S, H]: embeddings, then the residual after each layer


def rope_inv_freq(cfg: RefConfig) -> tuple[np.ndarray, float]:
    """Rotary inverse frequencies [D/2] and the cos/sin multiplier, following Hugging Face."""
    D = cfg.head_dim
    inv_freq = 1.0 / cfg.rope_theta ** (np.arange(0, D, 2, dtype=np.float64) / D)  # [D/2]
    scale = 1.0
    rs = cfg.rope_scaling

    if rs is not None and rs.kind == "linear":
        # Dividing every frequency by the factor is the same as dividing positions by it.
        inv_freq = inv_freq / rs.factor  # [D/2]

    elif rs is not None and rs.kind == "llama3":
        old_ctx = float(rs.original_max_position or 8192)
        low_freq_wavelen = old_ctx / rs.low_freq_factor
        high_freq_wavelen = old_ctx / rs.high_freq_factor
        wavelen = 2.0 * math.pi / inv_freq  # [D/2]
        # Long wavelengths (low frequencies) are interpolated, short ones kept as trained.
        scaled = np.where(wavelen > low_freq_wavelen, inv_freq / rs.factor, inv_freq)  # [D/2]
        smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor)  # [D/2]
        smoothed = (1.0 - smooth) * scaled / rs.factor + smooth * scaled  # [D/2]
        medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)  # [D/2]
        inv_freq = np.where(medium, smoothed, scaled)  # [D/2]

    elif rs is not None and rs.kind == "yarn":
        orig = float(rs.original_max_position or cfg.max_position)
        if orig <= 0:
            raise ExportError("rope_scaling", "yarn needs original_max_position_embeddings")

        def correction_dim(n_rot: float) -> float:
            # The dimension whose wavelength completes n_rot rotations over the original context.
            return D * math.log(orig / (n_rot * 2.0 * math.pi)) / (2.0 * math.log(cfg.rope_theta))

        low = max(math.floor(correction_dim(rs.beta_fast)), 0)
        high = min(math.ceil(correction_dim(rs.beta_slow)), D - 1)
        if low == high:
            high += 0.001  # avoid a zero-width ramp
        ramp = np.clip((np.arange(D // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)  # [D/2]
        extrapolation_weight = 1.0 - ramp  # [D/2] 1 = keep trained frequency, 0 = interpolate
        inv_freq = (inv_freq / rs.factor) * (1.0 - extrapolation_weight) + inv_freq * extrapolation_weight  # [D/2]
        if rs.attention_factor is not None:
            scale = rs.attention_factor
        else:
            scale = 0.1 * math.log(rs.factor) + 1.0 if rs.factor > 1.0 else 1.0

    if cfg.rope_freq_factors is not None:
        # llama.cpp's rope_freqs tensor divides each frequency's rotation speed.
        inv_freq = inv_freq / np.asarray(cfg.rope_freq_factors, dtype=np.float64)  # [D/2]
    return inv_freq, scale


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    # x [S, H], w [H]
    return x * w / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)  # [S, H]


def rotate_half(x: np.ndarray) -> np.ndarray:
    # x [S, n, D]: HF convention pairs dim i with dim i + D/2.
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # [S, n, D]


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


class ReferenceModel:
    """The forward pass in one floating-point type.

    float64 (the default) is the oracle: no float32 rounding inside it. float32 runs the same math
    in float32 (numpy's own kernels, with their own summation orders), so its distance from the
    float64 pass measures how far *a* correct float32 implementation lands: the yardstick parity
    tests scale their bounds by, instead of a tolerance fitted to one machine's kernels.
    """

    def __init__(self, cfg: RefConfig, weights: dict[str, np.ndarray], dtype: type = np.float64) -> None:
        if dtype not in (np.float64, np.float32):
            raise ExportError("dtype", f"reference dtype must be float64 or float32, got {dtype}")
        self.cfg = cfg
        self.dtype = dtype
        # Held in the pass's type once. float64 costs 2x the float32 checkpoint size in RAM; fine
        # for the small models this checks.
        self.w: dict[str, np.ndarray] = {k: np.asarray(v, dtype=dtype) for k, v in weights.items()}
        self.inv_freq, self.rope_scale = rope_inv_freq(cfg)  # [D/2] float64, float

    @classmethod
    def load(cls, path: str | os.PathLike[str], dtype: type = np.float64) -> "ReferenceModel":
        cfg, weights = load_weights(path)
        return cls(cfg, weights, dtype)

    # ----------------------------------------------------------------------------------------

    def _rope(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        # x [S, n, D], positions [S]
        angles = positions[:, None].astype(np.float64) * self.inv_freq[None, :]  # [S, D/2]
        angles = np.concatenate([angles, angles], axis=-1)  # [S, D]
        # Angles and their cos/sin in float64 either way, rounded once to the pass's type (what a
        # float32 implementation's precomputed table holds).
        cos = (np.cos(angles) * self.rope_scale).astype(self.dtype)[:, None, :]  # [S, 1, D]
        sin = (np.sin(angles) * self.rope_scale).astype(self.dtype)[:, None, :]  # [S, 1, D]
        return x * cos + rotate_half(x) * sin  # [S, n, D]

    def _attention(self, l: int, x: np.ndarray, positions: np.ndarray, cache: RefKVCache) -> np.ndarray:
        c, w, p = self.cfg, self.w, f"model.layers.{l}.self_attn."
        S, D, nH, nKV = x.shape[0], c.head_dim, c.n_heads, c.n_kv_heads

        q = x @ w[p + "q_proj.weight"].T  # [S, nH*D]
        k = x @ w[p + "k_proj.weight"].T  # [S, nKV*D]
        v = x @ w[p + "v_proj.weight"].T  # [S, nKV*D]
        if p + "q_proj.bias" in w:
            q = q + w[p + "q_proj.bias"]
        if p + "k_proj.bias" in w:
            k = k + w[p + "k_proj.bias"]
        if p + "v_proj.bias" in w:
            v = v + w[p + "v_proj.bias"]
        q = self._rope(q.reshape(S, nH, D), positions)  # [S, nH, D]
        k = self._rope(k.reshape(S, nKV, D), positions)  # [S, nKV, D]
        v = v.reshape(S, nKV, D)  # [S, nKV, D]

        if len(cache.k) <= l:
            cache.k.append(k)
            cache.v.append(v)
        else:
            cache.k[l] = np.concatenate([cache.k[l], k], axis=0)  # [T, nKV, D]
            cache.v[l] = np.concatenate([cache.v[l], v], axis=0)  # [T, nKV, D]
        K, Vv = cache.k[l], cache.v[l]  # [T, nKV, D]
        T = K.shape[0]

        # Grouped-query attention: query head h reads kv head h // (nH / nKV) (HF's repeat_kv order).
        group = nH // nKV
        K = np.repeat(K, group, axis=1)  # [T, nH, D]
        Vv = np.repeat(Vv, group, axis=1)  # [T, nH, D]

        scores = np.einsum("shd,thd->hst", q, K) / self.dtype(math.sqrt(D))  # [nH, S, T]
        key_pos = np.arange(T)  # [T]
        causal = key_pos[None, :] <= positions[:, None]  # [S, T] new token i sees past + tokens <= i
        scores = np.where(causal[None, :, :], scores, -np.inf)  # [nH, S, T]
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(axis=-1, keepdims=True)  # [nH, S, T]
        out = np.einsum("hst,thd->shd", probs, Vv).reshape(S, nH * D)  # [S, nH*D]
        return out @ w[p + "o_proj.weight"].T  # [S, H]

    def _mlp(self, l: int, x: np.ndarray) -> np.ndarray:
        w, p = self.w, f"model.layers.{l}.mlp."
        gate = x @ w[p + "gate_proj.weight"].T  # [S, F]
        up = x @ w[p + "up_proj.weight"].T  # [S, F]
        return (silu(gate) * up) @ w[p + "down_proj.weight"].T  # [S, H]

    def forward(self, tokens: list[int], cache: RefKVCache | None = None) -> RefOutput:
        """Run ``tokens`` after whatever ``cache`` already holds (the cache is extended in place)."""
        c, w = self.cfg, self.w
        if cache is None:
            cache = RefKVCache()
        ids = np.asarray(tokens, dtype=np.int64)  # [S]
        if ids.ndim != 1 or ids.size == 0:
            raise ExportError("tokens", "expected a non-empty list of token ids")
        if ids.min() < 0 or ids.max() >= c.vocab_size:
            raise ExportError("tokens", f"token id out of range [0, {c.vocab_size})")
        past = len(cache)
        positions = np.arange(past, past + ids.size)  # [S]

        h = w["model.embed_tokens.weight"][ids]  # [S, H]
        hidden = [h]
        for l in range(c.n_layers):
            p = f"model.layers.{l}."
            h = h + self._attention(l, rms_norm(h, w[p + "input_layernorm.weight"], c.rms_eps), positions, cache)  # [S, H]
            h = h + self._mlp(l, rms_norm(h, w[p + "post_attention_layernorm.weight"], c.rms_eps))  # [S, H]
            hidden.append(h)
        logits = rms_norm(h, w["model.norm.weight"], c.rms_eps) @ w["lm_head.weight"].T  # [S, V]
        return RefOutput(logits=logits, hidden=hidden)

    # ----------------------------------------------------------------------------------------

    def greedy(self, prompt: list[int], n: int) -> list[int]:
        """``n`` new tokens by argmax, one at a time through the KV cache; no EOS stopping."""
        return self.greedy_with_margins(prompt, n)[0]

    def greedy_with_margins(self, prompt: list[int], n: int) -> tuple[list[int], list[float]]:
        """:meth:`greedy`'s tokens and, per token, its logit minus the runner-up's (how close to a tie)."""
        tokens: list[int] = []
        margins: list[float] = []
        if n <= 0:
            return tokens, margins
        cache = RefKVCache()
        logits = self.forward(prompt, cache).logits[-1]  # [V]
        while True:
            top2 = np.partition(logits, -2)[-2:]  # [2] runner-up, best
            tokens.append(int(np.argmax(logits)))
            margins.append(float(top2[1] - top2[0]))
            if len(tokens) == n:
                return tokens, margins
            logits = self.forward([tokens[-1]], cache).logits[-1]

    def teacher_forced_argmax(self, tokens: list[int], chunk: int = 256) -> np.ndarray:
        """Argmax of the logits at every position [S]; chunked through the cache to bound memory."""
        return self.teacher_forced(tokens, chunk)[0]

    def teacher_forced(self, tokens: list[int], chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(argmax [S] int64, logit value at the argmax [S] float64) at every position."""
        cache = RefKVCache()
        argmax: list[np.ndarray] = []
        best: list[np.ndarray] = []
        for start in range(0, len(tokens), chunk):
            logits = self.forward(list(tokens[start : start + chunk]), cache).logits  # [s, V]
            argmax.append(np.argmax(logits, axis=-1))
            best.append(np.max(logits, axis=-1))
        if not argmax:
            raise ExportError("tokens", "expected a non-empty list of token ids")
        return np.concatenate(argmax).astype(np.int64), np.concatenate(best)

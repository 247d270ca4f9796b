"""The float32 yardstick: how far from the float64 reference a *correct* float32 implementation may land.

A fixed atol/rtol fitted on one machine failed on another CPU of the same kind (SmolLM2-135M's
residual stream carries activations of ~25,000 from layer 12 on, and MLAS/OpenBLAS pick other kernels
per CPU). Instead, the same math is run once more in float32 (numpy's own kernels and summation
orders) and its distance from float64 sets the scale, tensor by tensor: a correct fp32 implementation
may be ``FP32_ERROR_FACTOR`` times as far off (max-abs), plus ``FP32_FLOOR_ULPS`` ulps of the tensor's
largest value.

Why these numbers. Two float32 evaluations that only sum in other orders make rounding errors of one
statistical size, but the max-abs error of a tensor often sits on one element (SmolLM2's largest
activation), whose rounding is a coin flip per implementation: the float32 reference lands 0.5 ulp
off it with OpenBLAS's Haswell kernels and the bundle 6 ulps, so a pure ratio of errors swings by
10x between machines. The floor covers that element: a K-term float32 sum moves by ~sqrt(K) ulps
between summation orders, sqrt(1536) = 39 for the FFN's down projection, hence 32 ulps. Measured
bundle error / bound on SmolLM2 (5 chat prompts x 32 tensors, Intel Xeon AVX-512): 0.11-0.17 with
OpenBLAS's SkylakeX kernels, 0.11-0.40 with OPENBLAS_CORETYPE=Haswell (a 4-ulp floor gave up to 0.79
there), standard flavour 0.10; at most 0.28 on the tiny test models.
Wrong models land far above: on SmolLM2 rope theta x 1.001 5.6x the bound and one matrix x 1.001
12-55x; on the tiny models one tensor x 1.001 69-154x (test_parity_bound_fails_on_a_wrong_model and
test_parity_check_fails_on_a_weight_off_by_a_thousandth keep this true).

Argmax near-ties: two correct fp32 implementations may order two logits differently only where the
float64 margin between them is below twice the logit bound (each may move by one bound), so top-1 and
greedy checks exempt exactly those positions and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..reference.model import RefKVCache, ReferenceModel

FP32_ERROR_FACTOR = 8.0
FP32_FLOOR_ULPS = 32.0


def fp32_bound(want64: np.ndarray, want32: np.ndarray) -> float:
    """Largest max |got - want64| a correct float32 implementation of ``want64``'s math may show."""
    own = float(np.abs(want32.astype(np.float64) - want64).max())
    floor = FP32_FLOOR_ULPS * float(np.finfo(np.float32).eps) * float(np.abs(want64).max())
    return FP32_ERROR_FACTOR * own + floor


def top2_margin(logits: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 logit per row [S]: how far a row is from an argmax tie."""
    part = np.partition(logits, -2, axis=-1)
    return part[..., -1] - part[..., -2]


@dataclass(frozen=True)
class TeacherForced:
    argmax: np.ndarray  # [S] int64 float64 reference's next-token argmax at every position
    margin: np.ndarray  # [S] float64 its top-1 minus top-2 logit
    tie_bound: float  # margins at or below this are fp32 near-ties (2 x the logit bound)

    @property
    def decided(self) -> np.ndarray:  # [S] bool positions whose top-1 every correct fp32 run agrees on
        return self.margin > self.tie_bound


def teacher_forced(ref: ReferenceModel, ref32: ReferenceModel, tokens: list[int], chunk: int = 256) -> TeacherForced:
    """Argmax and margins of the float64 reference at every position, with the fp32 near-tie bound."""
    c64, c32 = RefKVCache(), RefKVCache()
    argmax, margin, bound = [], [], 0.0
    for start in range(0, len(tokens), chunk):
        piece = list(tokens[start : start + chunk])
        l64 = ref.forward(piece, c64).logits  # [s, V]
        l32 = ref32.forward(piece, c32).logits  # [s, V]
        argmax.append(np.argmax(l64, axis=-1))
        margin.append(top2_margin(l64))
        bound = max(bound, fp32_bound(l64, l32))
    return TeacherForced(np.concatenate(argmax).astype(np.int64), np.concatenate(margin), 2 * bound)

"""The float32 yardstick: how far from the float64 reference a *correct* float32 implementation may land.

A fixed atol/rtol fitted on one machine failed on another CPU of the same kind (SmolLM2-135M's last
layer carries activations of ~2,000, and MLAS/OpenBLAS pick other kernels per CPU). Instead, the same
math is run once more in float32 (numpy's own kernels and summation orders) and its distance from
float64 sets the scale, tensor by tensor: a correct fp32 implementation may be ``FP32_ERROR_FACTOR``
times as far off (max-abs), plus a few ulps for tensors the float32 pass gets exactly.

Why 8: two float32 evaluations that only sum in other orders make rounding errors of one statistical
size. Bundle / float32-reference ratios measured 0.13-1.83 on SmolLM2-135M (5 chat prompts x 32
tensors, both graph flavours, Intel Xeon with AVX-512) and at most 1.4 on the tiny test models. 8 leaves
4x room for other CPUs' kernels and is still 4.5x below the smallest wrong model tried: rope theta
x 1.001 lands 36x away, one projection matrix x 1.001 47-570x, the final norm x 1.001 649x
(test_parity_smollm2.py::test_parity_bound_fails_on_a_wrong_model keeps this true).

Argmax near-ties: two correct fp32 implementations may order two logits differently only where the
float64 margin between them is below twice the logit bound (each may move by one bound), so top-1 and
greedy checks exempt exactly those positions and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..reference.model import RefKVCache, ReferenceModel

FP32_ERROR_FACTOR = 8.0
FP32_FLOOR_ULPS = 4.0


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

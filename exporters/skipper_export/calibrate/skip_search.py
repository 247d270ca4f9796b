"""Draft & Verify / SWIFT-style skip-set search by forward passes only.

Scores a skip set by teacher-forced agreement: the fraction of positions where the draft (the model
without those layers, then the final norm and head) picks the same next token as the full model.
Greedy search: rank layers by the agreement when each is skipped alone, then add them in that
order, keeping the set with the best estimated speed-up

    speedup(S) = max_k E[tokens](a, k) / (k * draft_cost(S) + verify_cost(k + 1))

with per-draft acceptance a = agreement, E[tokens] = (1 - a^(k+1)) / (1 - a), draft_cost the
share of a decode step the draft spends (layers run + head), verify_cost(n) = 1 + slope * (n - 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

VERIFY_SLOPE = 0.17  # measured: a 5-row batched step costs ~1.7x a 1-row step (SmolLM2 int4, 2 cores)
HEAD_SHARE = 0.11    # measured: the LM head is ~11% of a decode step (SmolLM2 int4, 2 cores)
MAX_DRAFT = 8


@dataclass(frozen=True)
class SkipSet:
    layers: tuple[int, ...]
    agreement: float
    speedup: float
    draft_len: int


def expected_speedup(agreement: float, skipped: int, num_layers: int) -> tuple[float, int]:
    a = min(agreement, 0.999)
    draft = (1 - HEAD_SHARE) * (num_layers - skipped) / num_layers + HEAD_SHARE
    best, best_k = 0.0, 1
    for k in range(1, MAX_DRAFT + 1):
        tokens = (1 - a ** (k + 1)) / (1 - a)
        s = tokens / (k * draft + 1 + VERIFY_SLOPE * k)
        if s > best:
            best, best_k = s, k
    return best, best_k


def search(num_layers: int, agreement_of: Callable[[frozenset[int]], float],
           progress: Callable[[str], None] = lambda _: None, max_fraction: float = 0.6) -> tuple[SkipSet, list[dict]]:
    """The skip set with the best estimated speed-up (which may be below 1: then layer-skip
    drafting does not pay for this model), and every evaluation made (for the record)."""
    if num_layers < 2:
        raise ValueError("a skip-set search needs at least 2 layers")
    trail: list[dict] = []
    single = []
    for l in range(num_layers):
        a = agreement_of(frozenset([l]))
        single.append(a)
        trail.append({"skip": [l], "agreement": a})
        progress(f"skip layer {l}: agreement {a:.3f}")
    order = sorted(range(num_layers), key=lambda l: (-single[l], l))
    best: SkipSet | None = None
    chosen: list[int] = []
    for l in order[: int(num_layers * max_fraction)]:
        chosen.append(l)
        s = frozenset(chosen)
        a = agreement_of(s)
        sp, k = expected_speedup(a, len(s), num_layers)
        trail.append({"skip": sorted(s), "agreement": a, "estimated_speedup": sp, "draft_len": k})
        progress(f"skip {len(s)} layers: agreement {a:.3f}, estimated speed-up {sp:.2f}x at k={k}")
        if best is None or sp > best.speedup:
            best = SkipSet(tuple(sorted(s)), a, sp, k)
        if a < 0.2:
            break
    assert best is not None
    return best, trail


def agreement(draft_argmax: np.ndarray, full_argmax: np.ndarray) -> float:
    return float((draft_argmax == full_argmax).mean())

"""Exit adapters refined by backprop (calibrate/exit_training.py): the KL through the draft head goes
down, validation agreement never drops below the starting fit, and the run is deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from skipper_export.calibrate.collect import Collected, split_of
from skipper_export.calibrate.exit_heads import ExitHead, draft_top1

pytest.importorskip("jax")

H, N, EPS = 16, 12, 1e-5


def _collected(seed: int = 0) -> tuple[Collected, np.ndarray, np.ndarray]:
    """Rows whose final state is an affine map of the exit state, and a draft head over N tokens."""
    rng = np.random.default_rng(seed)
    passages, per = 40, 60
    n = passages * per
    x = rng.standard_normal((n, H)).astype(np.float32)
    a = rng.standard_normal((H, H)).astype(np.float32)
    y = (x @ a + 0.05 * rng.standard_normal((n, H))).astype(np.float32)
    reduced = rng.standard_normal((H, N)).astype(np.float32)
    vocab_ids = np.arange(100, 100 + N, dtype=np.int64)  # token ids differ from columns
    final = draft_top1(y, np.eye(H, dtype=np.float32), np.zeros(H, np.float32), reduced, vocab_ids, EPS)
    split = np.repeat([split_of(p) for p in range(passages)], per).astype(np.int8)
    own = np.zeros(n, bool)
    own[n // 2:] = True
    starts = np.arange(0, n + 1, per, dtype=np.int64)
    return Collected(np.stack([x, x, y]), final, split, own, starts), reduced, vocab_ids


def _poor_fit(rng: np.random.Generator) -> ExitHead:
    w = rng.standard_normal((H, H)).astype(np.float32)  # far from the true map
    return ExitHead(layer=1, weight=w, bias=np.zeros(H, np.float32), ridge=0.0, raw_agreement=0.0, agreement=0.0,
                    agreement_own=0.0)


def test_refinement_learns_the_final_layers_prediction() -> None:
    from skipper_export.calibrate.exit_training import refine

    c, reduced, vocab_ids = _collected()
    e = _poor_fit(np.random.default_rng(1))
    r = refine(c, e, reduced, vocab_ids, EPS, seed=0, updates=400, batch=128, lr=1e-2, eval_every=50)
    assert r.updates == 400 and r.kept > 0
    assert r.loss_last < 0.5 * r.loss_first
    assert r.val_after > r.val_before + 0.2 and r.val_after > 0.8
    test = c.rows(2)
    agree = float((draft_top1(c.hidden[1, test], e.weight, e.bias, reduced, vocab_ids, EPS) == c.final[test]).mean())
    assert e.agreement == pytest.approx(agree) and e.agreement > 0.8  # the test figure follows the kept weights


def test_refinement_keeps_the_starting_fit_when_nothing_beats_it() -> None:
    from skipper_export.calibrate.exit_training import refine

    c, reduced, vocab_ids = _collected()
    e = _poor_fit(np.random.default_rng(1))
    w0, b0 = e.weight.copy(), e.bias.copy()
    r = refine(c, e, reduced, vocab_ids, EPS, seed=0, updates=20, batch=64, lr=0.0, eval_every=10)
    assert r.kept == 0 and r.val_after == r.val_before
    np.testing.assert_array_equal(e.weight, w0)
    np.testing.assert_array_equal(e.bias, b0)
    assert e.agreement == 0.0  # figures untouched


def test_refinement_is_deterministic_per_seed() -> None:
    from skipper_export.calibrate.exit_training import refine

    c, reduced, vocab_ids = _collected()
    runs = []
    for seed in (3, 3, 4):
        e = _poor_fit(np.random.default_rng(1))
        refine(c, e, reduced, vocab_ids, EPS, seed=seed, updates=60, batch=64, lr=1e-2, eval_every=20)
        runs.append(e.weight)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])  # the seed picks the batches

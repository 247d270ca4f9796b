"""FiRST-style per-sequence layer routers (arXiv 2410.12513), fitted without backprop.

For each layer l, a linear router reads the prompt's prefill hidden states at that layer's input
(mean over the prompt of the weightless-RMS-normalised rows, the same pooling the runtime does)
and predicts the teacher-forced top-1 agreement the model keeps when layer l is skipped for this
sequence. Labels come from forward passes with each layer skipped, per passage; each router is a
ridge regression whose strength is chosen by leave-one-out error (closed form). At run time the
``skip_count`` layers with the highest predicted agreement form the sequence's skip set: as a
*draft* skip set it is lossless; used to skip layers outright it is lossy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .collect import TEST, Collected, rms, split_of

RIDGE = (1e-2, 1e-1, 1.0, 10.0, 100.0)  # times mean(diag(X^T X))


@dataclass
class FirstRouters:
    weights: np.ndarray        # [L][H+1] float32: w . pooled + bias per layer
    skip_count: int            # layers skipped per sequence
    agreement_first: float     # test passages: mean agreement with the per-sequence sets
    agreement_global: float    # test passages: mean agreement with the best global set of that size
    label_mean: list[float]    # [L] mean single-layer-skip agreement (the global ranking)


def pooled(c: Collected, passage: int, layer: int, eps: float, max_tokens: int) -> np.ndarray:
    a = int(c.starts[passage])
    b = min(int(c.starts[passage + 1]), a + max_tokens)
    return rms(c.hidden[layer, a:b], eps).mean(0)


def fit(c: Collected, passages: list[tuple[list[int], int]], forward: Callable[[list[int], frozenset[int]], np.ndarray],
        num_layers: int, eps: float, skip_count: int, max_tokens: int = 64, max_passages: int = 64,
        progress: Callable[[int], None] = lambda _: None) -> FirstRouters:
    """forward(tokens, skip) -> argmax [S] of a fresh pass without the layers in skip."""
    n = min(len(passages), max_passages)
    toks = [passages[p][0][:max_tokens] for p in range(n)]
    full = [forward(t, frozenset()) for t in toks]
    labels = np.zeros((n, num_layers))
    for l in range(num_layers):
        for p in range(n):
            labels[p, l] = float((forward(toks[p], frozenset([l])) == full[p]).mean())
        progress(1)
    test = np.array([split_of(p) == TEST for p in range(n)])
    weights = np.zeros((num_layers, c.hidden.shape[2] + 1), np.float32)
    for l in range(num_layers):
        x = np.stack([pooled(c, p, l, eps, max_tokens) for p in range(n)]).astype(np.float64)
        xa = np.concatenate([x, np.ones((n, 1))], 1)
        fit_rows = ~test if (~test).sum() >= 4 else np.ones(n, bool)
        weights[l] = _ridge_loo(xa[fit_rows], labels[fit_rows, l]).astype(np.float32)
    label_mean = labels[~test if (~test).any() else slice(None)].mean(0)
    global_set = frozenset(np.argsort(-label_mean, kind="stable")[:skip_count].tolist())
    agree_first, agree_global = [], []
    for p in np.flatnonzero(test):
        scores = np.array([weights[l, :-1] @ pooled(c, p, l, eps, max_tokens) + weights[l, -1] for l in range(num_layers)])
        chosen = frozenset(np.argsort(-scores, kind="stable")[:skip_count].tolist())
        agree_first.append(float((forward(toks[p], chosen) == full[p]).mean()))
        agree_global.append(float((forward(toks[p], global_set) == full[p]).mean()))
    return FirstRouters(weights, skip_count, float(np.mean(agree_first)) if agree_first else float("nan"),
                        float(np.mean(agree_global)) if agree_global else float("nan"),
                        [round(float(v), 4) for v in label_mean])


def _ridge_loo(xa: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ridge (bias unshrunk) with the strength of least leave-one-out squared error."""
    xtx = xa.T @ xa
    scale = float(np.mean(np.diag(xtx)[:-1])) or 1.0
    reg = np.eye(xa.shape[1])
    reg[-1, -1] = 0.0
    best = None
    for lam in RIDGE:
        inv = np.linalg.pinv(xtx + lam * scale * reg)
        w = inv @ xa.T @ y
        h = np.einsum("ij,jk,ik->i", xa, inv, xa)  # leverages
        loo = float(np.mean(((y - xa @ w) / np.maximum(1e-6, 1 - h)) ** 2))
        if best is None or loo < best[0]:
            best = (loo, w)
    return best[1]

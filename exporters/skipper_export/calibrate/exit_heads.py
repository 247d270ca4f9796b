"""Exit heads for early-exit drafting, fitted on a teacher-forced pass (no backprop framework):

* draft vocabulary: the N tokens the model itself predicts most often (FR-Spec style); the draft
  head scores only these, verification always uses the full vocabulary;
* adapter per exit layer: an affine map h_E -> h_L fitted by ridge regression (tuned-lens style),
  ridge strength chosen on validation passages by the draft's top-1 agreement;
* router per exit layer (TIDE style, label fixed as NOTES.md says): Linear H->R, SiLU, Linear R->1,
  sigmoid on the weightless-RMS-normalised hidden state, predicting "the draft head's top-1 here
  equals the full model's top-1"; trained with Adam on binary cross-entropy, deterministic per seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .collect import FIT, TEST, VAL, Collected, rms

RIDGE = (1e-4, 1e-3, 1e-2, 1e-1)  # times mean(diag(X^T X))
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (0.97, 0.98, 0.99, 0.995, 0.999)


@dataclass
class ExitHead:
    layer: int                  # exit after this many layers (drafts run layers 0 .. layer-1)
    weight: np.ndarray          # [H, H] adapter, applied as x @ weight + bias
    bias: np.ndarray            # [H]
    ridge: float
    raw_agreement: float        # test: final norm + full head on h_E, no adapter (training-free)
    agreement: float            # test: adapter + draft vocabulary head
    agreement_own: float        # same, on the model's own generated text only
    router: dict = field(default_factory=dict)  # w1 [H,R], b1 [R], w2 [R], b2 []
    router_table: list = field(default_factory=list)  # [threshold, precision, coverage] on test
    router_auc: float = 0.0
    confidence_table: list = field(default_factory=list)  # [threshold, precision, coverage] of the exit's
                                                          # top-1 softmax probability over the draft vocabulary
    confidence_auc: float = 0.0


def draft_vocabulary(c: Collected, size: int, vocab: int, extra: np.ndarray | None = None) -> np.ndarray:
    """Ids of the `size` most frequent full-model predictions on fit+val text (plus `extra`
    generated tokens), ties by id; int32, ascending by frequency rank."""
    seen = c.final[c.split != TEST]
    if extra is not None and len(extra):
        seen = np.concatenate([seen, extra])
    counts = np.bincount(seen, minlength=vocab)
    order = np.argsort(-counts, kind="stable")
    return order[: min(size, vocab)].astype(np.int32)


def argmax_rows(x: np.ndarray, m: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """argmax(x @ m) row by row chunks (x [n, H], m [H, V]) without holding [n, V]."""
    return np.concatenate([(x[i:i + chunk] @ m).argmax(-1) for i in range(0, len(x), chunk)]) if len(x) else np.zeros(0, np.int64)


def layer_agreement(c: Collected, head: np.ndarray, eps: float, rows: np.ndarray) -> list[float]:
    """Training-free agreement table: top-1 of final norm + full head at each layer vs the final layer."""
    out = []
    for l in range(c.hidden.shape[0]):
        pred = argmax_rows(rms(c.hidden[l, rows], eps), head)
        out.append(float((pred == c.final[rows]).mean()))
    return out


def adapter_rows(c: Collected) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit, validation and test rows of an adapter (tiny calibrations: validation falls back to
    the fit rows and test to validation)."""
    fit, val, test = c.rows(FIT), c.rows(VAL), c.rows(TEST)
    if not len(val):
        val = fit
    if not len(test):
        test = val
    return fit, val, test


def score_on_test(c: Collected, e: ExitHead, test: np.ndarray, reduced: np.ndarray, vocab_ids: np.ndarray,
                  eps: float) -> None:
    """Sets ``e.agreement`` and ``e.agreement_own`` from its adapter on the ``test`` rows."""
    draft = draft_top1(c.hidden[e.layer, test], e.weight, e.bias, reduced, vocab_ids, eps)
    truth, own = c.final[test], c.own[test]
    e.agreement = float((draft == truth).mean())
    e.agreement_own = float((draft[own] == truth[own]).mean()) if own.any() else float("nan")


def fit_adapter(c: Collected, layer: int, reduced: np.ndarray, vocab_ids: np.ndarray, head: np.ndarray,
                eps: float) -> ExitHead:
    fit, val, test = adapter_rows(c)
    x = c.hidden[layer].astype(np.float64)
    y = c.hidden[-1].astype(np.float64)
    xa = np.concatenate([x, np.ones((len(x), 1))], 1)  # bias column
    xtx = xa[fit].T @ xa[fit]
    xty = xa[fit].T @ y[fit]
    scale = float(np.mean(np.diag(xtx)[:-1]))
    reg = np.eye(xa.shape[1])
    reg[-1, -1] = 0.0  # the bias is not shrunk
    best = None
    for lam in RIDGE:
        a = np.linalg.solve(xtx + lam * scale * reg, xty)
        pred = vocab_ids[argmax_rows(rms((xa[val] @ a).astype(np.float32), eps), reduced)]
        agree = float((pred == c.final[val]).mean())
        if best is None or agree > best[0]:
            best = (agree, lam, a)
    _, lam, a = best
    raw = argmax_rows(rms(c.hidden[layer, test], eps), head)
    e = ExitHead(layer=layer, weight=a[:-1].astype(np.float32), bias=a[-1].astype(np.float32), ridge=lam,
                 raw_agreement=float((raw == c.final[test]).mean()), agreement=0.0, agreement_own=0.0)
    score_on_test(c, e, test, reduced, vocab_ids, eps)
    return e


def draft_top1(h: np.ndarray, weight: np.ndarray, bias: np.ndarray, reduced: np.ndarray, vocab_ids: np.ndarray,
               eps: float) -> np.ndarray:
    return vocab_ids[argmax_rows(rms(h @ weight + bias, eps), reduced)]


def train_router(c: Collected, e: ExitHead, reduced: np.ndarray, vocab_ids: np.ndarray, eps: float, seed: int,
                 width: int = 64, steps: int = 600, batch: int = 1024, lr: float = 3e-3) -> None:
    """Fills e.router, e.router_table and e.router_auc."""
    rng = np.random.default_rng(seed + e.layer)
    feats = rms(c.hidden[e.layer], eps)  # [n, H]: what the exit graph computes before the router
    label = (draft_top1(c.hidden[e.layer], e.weight, e.bias, reduced, vocab_ids, eps) == c.final).astype(np.float32)
    train = np.concatenate([c.rows(FIT), c.rows(VAL)])
    h = feats.shape[1]
    p = {"w1": (rng.standard_normal((h, width)) / np.sqrt(h)).astype(np.float32), "b1": np.zeros(width, np.float32),
         "w2": (rng.standard_normal(width) / np.sqrt(width)).astype(np.float32), "b2": np.zeros((), np.float32)}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    b1m, b2m = 0.9, 0.999
    for t in range(1, steps + 1):
        idx = train[rng.integers(0, len(train), min(batch, len(train)))]
        x, yb = feats[idx], label[idx]
        z = x @ p["w1"] + p["b1"]
        s = 1 / (1 + np.exp(-z))
        a = z * s  # SiLU
        logit = a @ p["w2"] + p["b2"]
        prob = 1 / (1 + np.exp(-logit))
        g_logit = (prob - yb) / len(idx)  # d BCE / d logit
        g = {"w2": a.T @ g_logit, "b2": np.asarray(g_logit.sum(), np.float32)}
        g_a = np.outer(g_logit, p["w2"])
        g_z = g_a * (s * (1 + z * (1 - s)))
        g["w1"] = x.T @ g_z
        g["b1"] = g_z.sum(0)
        for k in p:
            m[k] = b1m * m[k] + (1 - b1m) * g[k]
            v2[k] = b2m * v2[k] + (1 - b2m) * g[k] * g[k]
            step = lr * (m[k] / (1 - b1m ** t)) / (np.sqrt(v2[k] / (1 - b2m ** t)) + 1e-8)
            p[k] = (p[k] - step).astype(np.float32)
    e.router = p
    test = c.rows(TEST)
    prob = router_prob(p, feats[test])
    y = label[test]
    e.router_table = threshold_table(prob, y)
    e.router_auc = _auc(prob, y)
    # CALM-style confidence of the exit's own prediction: often the sharper signal on small models.
    z = rms(c.hidden[e.layer, test] @ e.weight + e.bias, eps) @ reduced  # [n, N]
    z = z - z.max(-1, keepdims=True)
    top = 1.0 / np.exp(z).sum(-1)  # softmax probability of the argmax
    e.confidence_table = threshold_table(top, y)
    e.confidence_auc = _auc(top, y)


def threshold_table(score: np.ndarray, label: np.ndarray) -> list:
    """[threshold, precision, coverage] rows: precision of label among score >= threshold (1.0 when
    nothing fires), coverage = share that fires."""
    table = []
    for thr in THRESHOLDS:
        fire = score >= thr
        table.append([thr, round(float(label[fire].mean()) if fire.any() else 1.0, 4), round(float(fire.mean()), 4)])
    return table


def router_prob(p: dict, feats: np.ndarray) -> np.ndarray:
    z = feats @ p["w1"] + p["b1"]
    a = z / (1 + np.exp(-z))
    return 1 / (1 + np.exp(-(a @ p["w2"] + p["b2"])))


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    pos, neg = score[label > 0.5], score[label <= 0.5]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]), kind="stable"), kind="stable") + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


# Cost model of an early-exit round (shares of one plain decode step; see skip_search for the constants).
def early_exit_speedup(a: float, exit_layer: int, num_layers: int, draft_vocab: int, vocab: int,
                       verify_slope: float, head_share: float, max_draft: int = 8) -> tuple[float, int]:
    """Best estimated speed-up over draft lengths k, and that k. Draft: layers < E + adapter +
    reduced head; verification: layers >= E over k+1 rows, plus the last draft through layers < E."""
    a = min(max(a, 0.0), 0.999)
    lower = (1 - head_share) * exit_layer / num_layers
    upper = (1 - head_share) * (num_layers - exit_layer) / num_layers
    draft = lower + head_share * draft_vocab / vocab
    best, best_k = 0.0, 1
    for k in range(1, max_draft + 1):
        tokens = (1 - a ** (k + 1)) / (1 - a)
        cost = k * draft + lower + (upper + head_share) * (1 + verify_slope * k)
        if tokens / cost > best:
            best, best_k = tokens / cost, k
    return best, best_k

"""The feature drafter (EAGLE-style), trained by backprop with JAX on the CPU.

At token position p the drafter reads the target's last-layer output for the previous position
f_{p-1} and the embedding of the current token e_p, and predicts f_p; the frozen draft head
(weightless RMSNorm + the target's head columns for the draft vocabulary) turns a predicted feature
into next-token logits. Its body is one Llama decoder layer of the target's shape with its own KV
cache, so it exports through the same layer builder as the target (``feature_graph.py``):

    u_p  = [ (f_{p-1} - mu) / sigma ,  (e_p - mu_e) / sigma_e ]          [2H]
    x_p  = u_p W_fc + b_fc                                                 [H]
    n_p  = decoder_layer(x_<=p)_p        (causal over the drafter's own cache)
    f^_p = n_p * sigma + mu ;  logits_p = rms(f^_p) R                     [N]

A round drafts with its own predictions: step 2 reads f^_p in place of f_p. Training unrolls
``steps`` such steps per position ("training-time test", EAGLE-3): step s at drafter position i
attends to the true-feature keys up to i-s+1 and to its own steps' keys at i-s+2..i, exactly
the cache a round has at runtime. Loss per step: smooth-L1 on the normalised feature plus
``cls_weight`` x cross-entropy against the target's distribution over the draft vocabulary.
Deterministic for a given seed (batches from numpy's generator, initialisation from JAX's key).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .collect import FIT, TEST, VAL
from .features import Features


@dataclass(frozen=True)
class DrafterShape:
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    eps: float
    inv_freq: np.ndarray  # [head_dim/2] float64
    mscale: float


@dataclass
class TrainReport:
    steps: int = 0
    seconds: float = 0.0
    tokens_seen: int = 0
    loss_first: float = float("nan")
    loss_last: float = float("nan")
    history: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss", "acceptance"}


@dataclass
class TrainedDrafter:
    shape: DrafterShape
    params: dict[str, np.ndarray]  # float32, [in, out] orientation for matrices
    mu: np.ndarray        # [H] feature mean
    sigma: np.ndarray     # [H] feature scale
    mu_e: np.ndarray      # [H] embedding mean
    sigma_e: np.ndarray   # [H] embedding scale
    report: TrainReport


def shape_of(config) -> DrafterShape:
    inv, mscale = config.rope_inv_freq()
    return DrafterShape(config.hidden_size, config.num_heads, config.num_kv_heads, config.head_dim,
                        config.intermediate_size, float(config.rms_norm_eps), inv, float(mscale))


def init_params(shape: DrafterShape, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, q, kv, f = shape.hidden, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim, shape.ffn

    def normal(fan_in: int, *dims: int, gain: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(dims) * gain / np.sqrt(fan_in)).astype(np.float32)

    return {
        "fc_w": normal(2 * h, 2 * h, h), "fc_b": np.zeros(h, np.float32),
        "ln1": np.ones(h, np.float32), "wq": normal(h, h, q), "wk": normal(h, h, kv), "wv": normal(h, h, kv),
        "wo": normal(q, q, h, gain=0.5), "ln2": np.ones(h, np.float32),
        "wg": normal(h, h, f), "wu": normal(h, h, f), "wd": normal(f, f, h, gain=0.5),
    }


# ---- the math, in JAX ------------------------------------------------------------------------

def _jax_fns(shape: DrafterShape):
    import jax
    import jax.numpy as jnp

    d, kvh, group = shape.head_dim, shape.kv_heads, shape.heads // shape.kv_heads
    inv_freq = jnp.asarray(shape.inv_freq, jnp.float32)

    def rms(x, w=None):
        y = x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + shape.eps)
        return y if w is None else y * w

    def rope(x, pos):  # x [B, T, heads, D], pos [T]
        ang = pos[:, None].astype(jnp.float32) * inv_freq[None]  # [T, D/2]
        emb = jnp.concatenate([ang, ang], -1)
        cos, sin = jnp.cos(emb)[None, :, None] * shape.mscale, jnp.sin(emb)[None, :, None] * shape.mscale
        x1, x2 = jnp.split(x, 2, -1)
        return x * cos + jnp.concatenate([-x2, x1], -1) * sin

    def qkv(p, x, pos):
        b, t, _ = x.shape
        n = rms(x, p["ln1"])
        q = rope((n @ p["wq"]).reshape(b, t, kvh, group, d).reshape(b, t, kvh * group, d), pos)
        k = rope((n @ p["wk"]).reshape(b, t, kvh, d), pos)
        v = (n @ p["wv"]).reshape(b, t, kvh, d)
        return q.reshape(b, t, kvh, group, d), k, v

    def finish(p, x, attn):  # attn [B, T, KVH, G, D]
        b, t = x.shape[:2]
        h = x + attn.reshape(b, t, -1) @ p["wo"]
        n = rms(h, p["ln2"])
        gate, up = n @ p["wg"], n @ p["wu"]
        return h + (jax.nn.silu(gate) * up) @ p["wd"]

    def fc(p, f_n, e_n):
        return jnp.concatenate([f_n, e_n], -1) @ p["fc_w"] + p["fc_b"]

    def shift(x, by):  # x[i] -> position i + by along axis 1 (zeros enter at the front)
        if by == 0:
            return x
        pad = jnp.zeros_like(x[:, :by])
        return jnp.concatenate([pad, x[:, :-by]], 1)

    def unroll(p, f_n, e_n, steps):
        """f_n [B, T', H] normalised true features f_{p-1}, e_n [B, T', H] normalised embeddings e_p
        (drafter position i <-> token position i+1). Returns [steps] of normalised predictions [B, T', H]."""
        t = f_n.shape[1]
        pos = jnp.arange(1, t + 1)
        scale = 1.0 / np.sqrt(d)
        ii = jnp.arange(t)[:, None]
        jj = jnp.arange(t)[None, :]
        outs, ks, vs = [], [], []
        inp = f_n
        for s in range(1, steps + 1):
            x = fc(p, inp, e_n)
            q, k, v = qkv(p, x, pos)
            ks.append(k)
            vs.append(v)
            base = jnp.einsum("bikgd,bjkd->bkgij", q, ks[0]) * scale  # [B, KVH, G, T, T]
            base = jnp.where((jj <= ii - s + 1)[None, None, None], base, -1e30)
            extra = []
            for st in range(2, s + 1):  # own steps' keys at i - (s - st)
                kt = shift(ks[st - 1], s - st)
                sc = jnp.einsum("bikgd,bikd->bkgi", q, kt) * scale
                valid = (jnp.arange(t) >= s - st)[None, None, None]
                extra.append(jnp.where(valid, sc, -1e30)[..., None])
            scores = jnp.concatenate([base] + extra, -1) if extra else base
            probs = jax.nn.softmax(scores, -1)
            attn = jnp.einsum("bkgij,bjkd->bikgd", probs[..., :t], vs[0])
            for idx, st in enumerate(range(2, s + 1)):
                vt = shift(vs[st - 1], s - st)
                attn = attn + jnp.einsum("bkgi,bikd->bikgd", probs[..., t + idx], vt)
            out = finish(p, x, attn)
            outs.append(out)
            inp = shift(out, 1)  # step s+1 at i reads step s's prediction at i-1
        return outs

    return jax, jnp, rms, unroll


def _windows(feats: Features, ids: list[int], length: int) -> np.ndarray:
    """[W, 2] (start row, rows) windows of up to length + 1 rows inside the passages, half overlapping."""
    out = []
    for i in ids:
        a, b = int(feats.starts[i]), int(feats.starts[i + 1])
        if b - a < 3:
            continue
        for s in range(a, max(a + 1, b - length // 2), max(1, length // 2)):
            out.append((s, min(length + 1, b - s)))
    return np.asarray(out, np.int64).reshape(-1, 2)


def _windowed(x: np.ndarray, win: np.ndarray, length: int, mu, sigma, shift: int = 0) -> np.ndarray:
    """[B, T', H]: standardised rows ``s + shift .. s + shift + n - 2`` of x for each window (s, n),
    zeros where padded (drafter position i of a window reads row s + i, or s + i + 1 with shift 1)."""
    out = np.zeros((len(win), length, x.shape[1]), np.float32)
    for j, (s, n) in enumerate(win):
        out[j, :n - 1] = (x[s + shift:s + shift + n - 1] - mu) / sigma
    return out


def _batch(feats: Features, win: np.ndarray, length: int, mu, sigma, mu_e, sigma_e):
    """Arrays for windows win: f_n, e_n [B, T', H], target rows [B, T'] (-1 where padded)."""
    rows = np.full((len(win), length), -1, np.int64)
    for j, (s, n) in enumerate(win):
        rows[j, :n - 1] = np.arange(s + 1, s + n)  # n - 1 drafter positions in this window
    return (_windowed(feats.feature, win, length, mu, sigma), _windowed(feats.embedded, win, length, mu_e, sigma_e, 1),
            _windowed(feats.feature, win, length, mu, sigma, 1), rows)


def train(feats: Features, config, reduced: np.ndarray, vocab_ids: np.ndarray, *, steps: int = 3,
          seed: int = 0, minutes: float = 15.0, max_updates: int = 100_000, batch: int = 8, length: int = 128,
          lr: float = 1e-3, cls_weight: float = 0.1, reg_weight: float = 1.0, eval_every: int = 50,
          fused: tuple[np.ndarray, ...] = (),
          progress: Callable[[dict[str, float]], None] | None = None) -> TrainedDrafter:
    """Train until ``minutes`` or ``max_updates`` run out. ``reduced`` [H, N]: the draft head
    (norm gain folded in), ``vocab_ids`` [N]: its token ids.

    ``fused``: more of the target's hidden states per row ([n][H] each, e.g. after a low and a middle
    layer: EAGLE-3's fused features), added to the first step's input as ``f + [x..., f] W_fuse``
    with ``W_fuse`` starting at zero (so training starts where the plain drafter does); later steps
    read the drafter's own predictions as before. For measuring what fusion buys
    (docs/benchmarks.md); the exported graph does not take them yet (``feature_graph`` refuses)."""
    import optax

    shape = shape_of(config)
    jax, jnp, rms, unroll = _jax_fns(shape)
    fit_ids = [i for i in range(feats.passages) if feats.split(i) in (FIT, VAL)]
    test_ids = feats.passage_ids(TEST)
    fit_rows = np.concatenate([np.arange(feats.starts[i], feats.starts[i + 1]) for i in fit_ids])
    mu = feats.feature[fit_rows].mean(0)
    sigma = np.maximum(feats.feature[fit_rows].std(0), 1e-3).astype(np.float32)
    mu_e = feats.embedded[fit_rows].mean(0)
    sigma_e = np.maximum(feats.embedded[fit_rows].std(0), 1e-4).astype(np.float32)
    win_fit = _windows(feats, fit_ids, length)
    win_test = _windows(feats, test_ids, length)[:64]
    if len(win_fit) == 0:
        raise ValueError("no training windows (passages too short)")
    r = jnp.asarray(reduced, jnp.float32)
    mu_j, sigma_j = jnp.asarray(mu), jnp.asarray(sigma)
    extra_stats = [(x[fit_rows].mean(0), np.maximum(x[fit_rows].std(0), 1e-3).astype(np.float32)) for x in fused]

    def logits_of(n):  # normalised feature -> draft-vocabulary logits
        return rms(n * sigma_j + mu_j) @ r

    def batch_of(win):
        f_n, e_n, tgt, rows = _batch(feats, win, length, mu, sigma, mu_e, sigma_e)
        # the rows f_n reads (position p-1's), each standardised on its own statistics
        extra = tuple(_windowed(x, win, length, mu_x, sigma_x) for x, (mu_x, sigma_x) in zip(fused, extra_stats))
        return f_n, e_n, tgt, rows, extra

    def first_input(p, f_n, extra):
        if not extra:
            return f_n
        return f_n + jnp.concatenate(list(extra) + [f_n], -1) @ p["fuse_w"]

    def loss_fn(p, f_n, e_n, tgt, mask, extra):
        outs = unroll(p, first_input(p, f_n, extra), e_n, steps)
        target = jax.nn.softmax(logits_of(tgt), -1)
        total = 0.0
        for s, out in enumerate(outs, start=1):
            m = mask * (jnp.arange(f_n.shape[1]) >= s - 1)[None]
            denom = jnp.maximum(m.sum(), 1.0)
            reg = (optax.huber_loss(out, tgt).mean(-1) * m).sum() / denom
            ce = (-(target * jax.nn.log_softmax(logits_of(out), -1)).sum(-1) * m).sum() / denom
            total = total + (reg_weight * reg + cls_weight * ce) * (0.8 ** (s - 1))
        return total

    # Adam's direction times a learning rate passed in per update: the cosine's horizon is the number
    # of updates the budget allows, known only once a few updates are timed (see the loop).
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam())
    params = {k: jnp.asarray(v) for k, v in init_params(shape, seed).items()}
    if fused:
        params["fuse_w"] = jnp.zeros(((len(fused) + 1) * shape.hidden, shape.hidden), jnp.float32)
    state = opt.init(params)

    @jax.jit
    def update(p, st, f_n, e_n, tgt, mask, extra, rate):
        loss, grads = jax.value_and_grad(loss_fn)(p, f_n, e_n, tgt, mask, extra)
        upd, st = opt.update(grads, st, p)
        return jax.tree_util.tree_map(lambda w, u: w - rate * u, p, upd), st, loss

    @jax.jit
    def predict(p, f_n, e_n, extra):
        return [jnp.argmax(logits_of(o), -1) for o in unroll(p, first_input(p, f_n, extra), e_n, steps)]

    vocab_np = np.asarray(vocab_ids, np.int64)

    def acceptance(p) -> list[float]:
        """Chained teacher-forced acceptance a_1..a_steps on the test windows' model-own rows."""
        if len(win_test) == 0:
            return [float("nan")] * steps
        f_n, e_n, _, rows, extra = batch_of(win_test)
        preds = [vocab_np[np.asarray(x)] for x in predict(p, f_n, e_n, extra)]
        return chain_acceptance(preds, rows, feats, steps)

    rng = np.random.default_rng(seed)
    report = TrainReport()
    t0 = time.perf_counter()
    deadline = t0 + minutes * 60.0
    order = rng.permutation(len(win_fit))
    cursor = 0
    ema = None
    horizon = max_updates  # replaced by what the time budget allows once updates 3..10 are timed
    timed_from = None
    while report.steps < max_updates and time.perf_counter() < deadline:
        if cursor + batch > len(order):
            order, cursor = rng.permutation(len(win_fit)), 0
        pick = win_fit[order[cursor:cursor + batch]] if len(order) >= batch else win_fit[order]
        cursor += batch
        f_n, e_n, tgt, rows, extra = batch_of(pick)
        rate = np.float32(learning_rate(report.steps, horizon, lr))
        params, state, loss = update(params, state, f_n, e_n, tgt, (rows >= 0).astype(np.float32), extra, rate)
        loss = float(loss)
        report.steps += 1
        report.tokens_seen += int((rows >= 0).sum())
        if report.steps == 1:
            report.loss_first = loss
        if report.steps == 3:  # the first updates compile and run cold
            timed_from = time.perf_counter()
        elif report.steps == 10 and timed_from is not None:
            per = (time.perf_counter() - timed_from) / 7 * (1 + 3.0 / max(1, eval_every))  # evaluations too
            horizon = int(min(max_updates, report.steps + max(0.0, deadline - time.perf_counter()) / max(per, 1e-6)))
            horizon = max(horizon, report.steps + 1)
        ema = loss if ema is None else 0.95 * ema + 0.05 * loss
        if report.steps % eval_every == 0 or report.steps == 1:
            acc = acceptance(params)
            entry = {"step": report.steps, "loss": round(ema, 5), "acceptance": [round(a, 4) for a in acc],
                     "seconds": round(time.perf_counter() - t0, 1)}
            report.history.append(entry)
            if progress:
                progress(entry)
    report.loss_last = float(ema) if ema is not None else float("nan")
    report.seconds = round(time.perf_counter() - t0, 1)
    out = {k: np.asarray(v, np.float32) for k, v in params.items()}
    return TrainedDrafter(shape, out, mu.astype(np.float32), sigma, mu_e.astype(np.float32), sigma_e, report)


def learning_rate(step: int, horizon: int, peak: float) -> float:
    """Linear warm-up over the first 5 % (at most 200 updates), then a cosine down to 5 % of the peak
    at ``horizon`` updates."""
    warm = max(1, min(200, horizon // 20))
    if step < warm:
        return peak * (step + 1) / warm
    frac = min(1.0, (step - warm) / max(1, horizon - warm))
    return peak * (0.05 + 0.95 * 0.5 * (1.0 + np.cos(np.pi * frac)))


def chain_acceptance(preds: list[np.ndarray], rows: np.ndarray, feats: Features, steps: int) -> list[float]:
    """preds[s-1] [B, T'] step-s draft token ids at drafter positions; rows [B, T'] the feature row
    each position predicts (-1: padding): the feature of row r gives the token after r, so a draft
    there is right when it equals final[r]. A round whose true-feature part ends at position i
    drafts preds[0][i], preds[1][i+1], ..., preds[s-1][i+s-1]; it accepts at least s drafts when
    all of those are right. Rates a_1..a_steps count rounds inside the model's own answers, where
    the text is the target's greedy output, so teacher forcing is exactly generation."""
    own = np.zeros(len(feats.final), bool)
    for i in range(feats.passages):
        own[feats.starts[i] + feats.own_from[i]:feats.starts[i + 1]] = True
    b, t = rows.shape
    n = t - steps + 1
    if n <= 0:
        return [float("nan")] * steps
    valid = rows >= 0
    r = np.where(valid, rows, 0)
    usable = valid & own[r]
    start_ok = np.ones((b, n), bool)
    for u in range(steps):
        start_ok &= usable[:, u:u + n]
    count = int(start_ok.sum())
    if count == 0:
        return [float("nan")] * steps
    alive = np.ones((b, n), bool)
    rates = []
    for s in range(steps):
        right = (preds[s] == feats.final[r]) & valid
        alive &= right[:, s:s + n]
        rates.append(float((alive & start_ok).sum()) / count)
    return rates


def forward_numpy(d: TrainedDrafter, features: np.ndarray, embedded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 1 over a whole sequence, in numpy float64: (f^ [T, H], draft-head input) for parity tests
    of the exported graph. features[i] = f_{i}, embedded[i] = e_{i+1} (drafter position i)."""
    p = {k: v.astype(np.float64) for k, v in d.params.items()}
    s = d.shape
    f_n = (features - d.mu) / d.sigma
    e_n = (embedded - d.mu_e) / d.sigma_e
    x = np.concatenate([f_n, e_n], -1) @ p["fc_w"] + p["fc_b"]
    t = x.shape[0]

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + s.eps) * w

    pos = np.arange(1, t + 1, dtype=np.float64)
    ang = pos[:, None] * s.inv_freq[None]
    emb = np.concatenate([ang, ang], -1)
    cos, sin = np.cos(emb)[:, None] * s.mscale, np.sin(emb)[:, None] * s.mscale

    def rope(v):
        v1, v2 = np.split(v, 2, -1)
        return v * cos + np.concatenate([-v2, v1], -1) * sin

    n = rms(x, p["ln1"])
    g = s.heads // s.kv_heads
    q = rope((n @ p["wq"]).reshape(t, s.heads, s.head_dim))
    k = rope((n @ p["wk"]).reshape(t, s.kv_heads, s.head_dim))
    v = (n @ p["wv"]).reshape(t, s.kv_heads, s.head_dim)
    k = np.repeat(k, g, axis=1)
    v = np.repeat(v, g, axis=1)
    sc = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(s.head_dim)
    sc = np.where(np.tril(np.ones((t, t), bool))[None], sc, -np.inf)
    pr = np.exp(sc - sc.max(-1, keepdims=True))
    pr /= pr.sum(-1, keepdims=True)
    attn = np.einsum("hij,jhd->ihd", pr, v).reshape(t, -1)
    h = x + attn @ p["wo"]
    m = rms(h, p["ln2"])
    gate, up = m @ p["wg"], m @ p["wu"]
    out = h + (gate / (1 + np.exp(-gate)) * up) @ p["wd"]
    return out * d.sigma + d.mu, out

"""Exit adapters trained by backprop (Kangaroo-style, arXiv 2404.18911): the ridge fit of
``exit_heads.fit_adapter`` matches the final layer's hidden state; this refines the same affine map
h_E -> h_L to match what the final layer *predicts*: the KL divergence from the full model's
distribution to the draft's, both over the draft vocabulary through the frozen draft head
(weightless RMSNorm, then the head columns with the norm's gain folded in).

The graph does not change (``draft_graphs.exit_graph``: ``hidden @ W + b``), so every backend runs a
refined adapter as it runs a ridge one. Training starts at the ridge solution, keeps the parameters
with the best validation agreement (the ridge fit itself when nothing beats it), and is
deterministic for a given seed (batches from numpy's generator; JAX on the CPU).

Kangaroo's adapter is an attention layer over the exit layer's states. Measured on SmolLM2
(``fusion_study --current``, docs/benchmarks.md), reading the sequence does not pay for its cost
here, so the adapter stays per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .collect import Collected
from .exit_heads import ExitHead, adapter_rows, draft_top1, score_on_test


@dataclass(frozen=True)
class Refinement:
    updates: int              # updates run
    kept: int                 # the update whose parameters were kept (0: the ridge fit)
    val_before: float         # validation agreement of the ridge fit
    val_after: float          # ... of the kept parameters
    loss_first: float         # KL of the first batch
    loss_last: float          # KL of the last batch

    def record(self) -> dict:
        """The manifest's ``adapter`` map of a refined exit (docs/bundle-format.md)."""
        return {"fit": "ridge+kl" if self.kept else "ridge", "updates": self.updates, "kept_update": self.kept,
                "val_agreement_ridge": round(self.val_before, 4), "val_agreement": round(self.val_after, 4)}


# The manifest's ``adapter`` map of an exit that was not refined.
RIDGE_ONLY = {"fit": "ridge", "updates": 0, "kept_update": 0, "val_agreement_ridge": None, "val_agreement": None}


def refine(c: Collected, e: ExitHead, reduced: np.ndarray, vocab_ids: np.ndarray, eps: float, seed: int,
           updates: int = 300, batch: int = 256, lr: float = 1e-4, eval_every: int = 50) -> Refinement:
    """Refines ``e.weight``/``e.bias`` in place (and its test figures) when validation agrees more.

    ``reduced`` [H, N]: the draft head; ``vocab_ids`` [N]: its token ids."""
    import jax
    import jax.numpy as jnp
    import optax

    fit, val, test = adapter_rows(c)
    x = c.hidden[e.layer]   # [n, H]
    y = c.hidden[-1]        # [n, H]
    r = jnp.asarray(reduced, jnp.float32)

    def rms(v):
        return v * jax.lax.rsqrt(jnp.mean(v * v, -1, keepdims=True) + eps)

    def loss_fn(p, xb, yb):
        target = jax.nn.log_softmax(rms(yb) @ r)
        draft = jax.nn.log_softmax(rms(xb @ p["w"] + p["b"]) @ r)
        return jnp.mean(jnp.sum(jnp.exp(target) * (target - draft), -1))

    opt = optax.adam(lr)

    @jax.jit
    def step(p, state, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        upd, state = opt.update(grads, state, p)
        return optax.apply_updates(p, upd), state, loss

    def agreement(w: np.ndarray, b: np.ndarray, rows: np.ndarray) -> float:
        return float((draft_top1(x[rows], w, b, reduced, vocab_ids, eps) == c.final[rows]).mean())

    before = agreement(e.weight, e.bias, val)
    best = (before, 0, e.weight, e.bias)
    params = {"w": jnp.asarray(e.weight), "b": jnp.asarray(e.bias)}
    state = opt.init(params)
    rng = np.random.default_rng(seed + 7919 * e.layer)
    first = last = float("nan")
    done = 0
    for done in range(1, updates + 1):
        rows = np.sort(fit[rng.integers(0, len(fit), batch)])
        params, state, loss = step(params, state, jnp.asarray(x[rows]), jnp.asarray(y[rows]))
        last = float(loss)
        if done == 1:
            first = last
        if done % eval_every == 0 or done == updates:
            w, b = np.asarray(params["w"], np.float32), np.asarray(params["b"], np.float32)
            agree = agreement(w, b, val)
            if agree > best[0]:
                best = (agree, done, w, b)
    _, kept, w, b = best
    if kept:
        e.weight, e.bias = w, b
        score_on_test(c, e, test, reduced, vocab_ids, eps)
    return Refinement(updates=done, kept=kept, val_before=before, val_after=best[0], loss_first=first,
                      loss_last=last)

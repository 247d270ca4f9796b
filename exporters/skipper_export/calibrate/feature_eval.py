"""Run the exported feature drafter the way the runtime does, and measure what it buys.

``DrafterSession`` keeps the drafter's own KV cache (the bundle's layout, rollback by length).
``measure`` drafts on held-out passages of the model's own answers exactly as a greedy round does
(catch up on true features, then draft with its own predictions and the embeddings of its own
tokens, roll back) and reports the acceptance per draft position, the confidence table for the
stop rule, the draft cost as a fraction of a plain step (timed in this process) and the estimated
speed-up per draft length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exit_heads import threshold_table
from .features import Features
from .skip_search import VERIFY_SLOPE


class DrafterSession:
    """The drafter graph over one sequence: its KV cache and valid length."""

    def __init__(self, sess, graph: Path | bytes) -> None:
        import onnxruntime as ort

        self.target = sess  # a BundleSession: session options, layout and rope tables are the bundle's
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = sess.layers[0].get_session_options().intra_op_num_threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        for key, value in (sess.manifest.get("onnxruntime") or {}).get("session_config", {}).items():
            opts.add_session_config_entry(str(key), str(value))
        src = graph if isinstance(graph, bytes) else str(graph)
        self.graph = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
        self.keys = np.zeros_like(sess.keys[0])  # the target layers' cache shape
        self.values = np.zeros_like(sess.values[0])
        self.length = 0
        if sess.shared:
            self._kv = (ort.OrtValue.ortvalue_from_numpy(self.keys), ort.OrtValue.ortvalue_from_numpy(self.values))

    def run(self, feature: np.ndarray, embedded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """feature, embedded [S, H] at positions length..length+S-1 -> (feature_out [S, H], logits [S, N])."""
        s, p = feature.shape[0], self.length
        t = self.target
        if p + s > t.max_seq:
            raise ValueError(f"{p + s} drafter positions exceed the cache of {t.max_seq}")
        f, e = np.ascontiguousarray(feature[None], t.act), np.ascontiguousarray(embedded[None], t.act)
        if not t.shared:
            pos = np.arange(p, p + s, dtype=np.int64)[None]
            out, logits, k, v = self.graph.run(None, {"feature": f, "embedded": e, "position_ids": pos,
                                                      "past_key": self.keys[:, :p], "past_value": self.values[:, :p]})
            self.keys[:, p:p + s] = k
            self.values[:, p:p + s] = v
        else:
            io = self.graph.io_binding()
            io.bind_cpu_input("feature", f)
            io.bind_cpu_input("embedded", e)
            io.bind_ortvalue_input("past_key", self._kv[0])
            io.bind_ortvalue_input("past_value", self._kv[1])
            io.bind_cpu_input("seqlens_k", np.array([p + s - 1], np.int32))
            io.bind_cpu_input("total_sequence_length", np.array(p + s, np.int32))
            io.bind_ortvalue_input("cos_cache", t._cos)
            io.bind_ortvalue_input("sin_cache", t._sin)
            io.bind_ortvalue_output("present_key", self._kv[0])
            io.bind_ortvalue_output("present_value", self._kv[1])
            io.bind_output("feature_out")
            io.bind_output("logits")
            self.graph.run_with_iobinding(io)
            outs = io.copy_outputs_to_cpu()
            out, logits = outs[2], outs[3]
        self.length = p + s
        return out[0].astype(np.float32), logits[0].astype(np.float32)

    def truncate(self, length: int) -> None:
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a drafter cache of {self.length} to {length}")
        self.length = length


@dataclass
class Measured:
    acceptance: list[float]        # a_s: share of rounds accepting at least s drafts, s = 1..k
    rounds: int
    confidence_table: list         # [threshold, precision, coverage] of the draft's own top-1 probability
    draft_cost: float              # one drafted token (embed + drafter), as a fraction of a plain step
    catch_up_cost: float           # the per-round true-feature pass (2 rows), same unit
    speedups: list[float]          # estimated speed-up for k = 1..len(acceptance) drafts per round
    best_k: int

    def summary(self) -> dict:
        return {"acceptance": [round(a, 4) for a in self.acceptance], "rounds": self.rounds,
                "mean_accepted": round(float(sum(self.acceptance)), 3),
                "draft_cost": round(self.draft_cost, 4), "catch_up_cost": round(self.catch_up_cost, 4),
                "estimated_speedup": [round(s, 3) for s in self.speedups], "draft_len": self.best_k}


def embed(sess, token: int) -> np.ndarray:
    return sess.embed.run(None, {"input_ids": np.asarray([[token]], np.int64)})[0][0].astype(np.float32)  # [1, H]


def measure(sess, drafter: DrafterSession, feats: Features, vocab_ids: np.ndarray, passages: list[int],
            k: int = 6, max_rounds: int = 1500, progress=None) -> Measured:
    """Greedy rounds at every position of the model's own answers in `passages` (teacher forcing
    over greedy text is generation): a_s, the confidence of each draft against whether it was right."""
    vocab = np.asarray(vocab_ids, np.int64)
    accepted_at_least = np.zeros(k, np.int64)
    rounds = 0
    conf, right = [], []
    for pi in passages:
        a, b = int(feats.starts[pi]), int(feats.starts[pi + 1])
        own = a + int(feats.own_from[pi])
        drafter.truncate(0)
        # Drafter position i (token position i+1) reads (f_i, e_{i+1}); catch up to just before own text.
        if own - 1 > a:
            drafter.run(feats.feature[a:own - 1], feats.embedded[a + 1:own])
        for r in range(own - 1, b - k - 1):
            if rounds >= max_rounds:
                break
            base = drafter.length
            out, logits = drafter.run(feats.feature[r:r + 1], feats.embedded[r + 1:r + 2])  # true features
            alive = True
            for s in range(k):
                z = logits[-1] - logits[-1].max()
                probs = np.exp(z) / np.exp(z).sum()
                tok = int(vocab[int(np.argmax(z))])
                ok = tok == int(feats.final[r + 1 + s])  # the target's top-1 after token position r+1+s
                if alive:
                    conf.append(float(probs.max()))
                    right.append(ok)
                alive = alive and ok
                if alive:
                    accepted_at_least[s] += 1
                if s + 1 < k:
                    out, logits = drafter.run(out[-1:], embed(sess, tok))
            drafter.truncate(base + 1)  # keep the true-feature row only
            rounds += 1
            if progress:
                progress(1)
    acc = [float(x) / max(1, rounds) for x in accepted_at_least]
    step, draft, catch_up = _costs(sess, drafter)
    c, cu = draft / step, catch_up / step
    speedups = []
    for kk in range(1, k + 1):
        tokens = 1 + sum(acc[:kk])
        cost = 1 + VERIFY_SLOPE * kk + kk * c + cu
        speedups.append(tokens / cost)
    best = int(np.argmax(speedups)) + 1
    return Measured(acc, rounds, threshold_table(np.asarray(conf), np.asarray(right, np.float64)), c, cu, speedups, best)


def _costs(sess, drafter: DrafterSession, reps: int = 30) -> tuple[float, float, float]:
    """Median seconds of a plain decode step, a drafted token and a 2-row catch-up, in this process."""
    h = sess.embed.get_outputs()[0].shape[-1]
    h = h if isinstance(h, int) else drafter.keys.shape[-1]
    x = embed(sess, 1)
    hid = x.shape[-1]
    f = np.zeros((1, hid), np.float32)
    plain, draft, catch = [], [], []
    sess.truncate(0)
    drafter.truncate(0)
    sess.forward([1] * 64)
    drafter.run(np.zeros((64, hid), np.float32), np.zeros((64, hid), np.float32))
    for _ in range(reps):
        t0 = time.perf_counter()
        sess.forward([1])
        plain.append(time.perf_counter() - t0)
        sess.truncate(64)
        t0 = time.perf_counter()
        embed(sess, 1)
        drafter.run(f, x)
        draft.append(time.perf_counter() - t0)
        drafter.truncate(64)
        t0 = time.perf_counter()
        drafter.run(np.zeros((2, hid), np.float32), np.zeros((2, hid), np.float32))
        catch.append(time.perf_counter() - t0)
        drafter.truncate(64)
    sess.truncate(0)
    drafter.truncate(0)
    return float(np.median(plain)), float(np.median(draft)), float(np.median(catch))

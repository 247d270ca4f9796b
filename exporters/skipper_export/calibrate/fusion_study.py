"""What EAGLE-3's fused features buy the feature drafter: the same harvest, seed and number of
updates, trained once on the last layer's output alone and once with a low and a middle layer's
outputs fused into the first step (``feature_drafter.train(fused=...)``), and the held-out chained
acceptance of both (docs/benchmarks.md has the SmolLM2 figures).

    python -m skipper_export.calibrate.fusion_study BUNDLE --drafter-cache build/drafter-cache \\
        --low 3 --mid 15 --updates 400 --json build/bench/fusion.json

It reads the newest harvest in the ``--drafter-cache`` folder (``./skipper calibrate`` writes it),
recovers the tokens from the cached embeddings (each row is one token's, exactly) and runs the
bundle over them again to record the two extra hidden states (a few minutes on 2 cores).

``--current E[,E...]`` measures a Kangaroo-style drafter instead (arXiv 2404.18911): the first E
layers of the target run on every drafted token (their K/V is exact and verification reuses it),
and the drafter reads their output at the token's own position where the plain drafter reads the
token's embedding. Training unrolls exactly what a round sees (the shallow state of a drafted token is
exact at every step), so one training per E gives the acceptance such a drafter would have; its
cost per draft is E/L of a step on top of the drafter's (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .features import Features


def tokens_of(sess: Any, embedded: np.ndarray, vocab: int) -> np.ndarray:
    """The token of every embedding row (the embedding graph's rows, matched byte for byte)."""
    row_of: dict[bytes, int] = {}
    for s in range(0, vocab, 4096):
        ids = np.arange(s, min(vocab, s + 4096), dtype=np.int64)[None]
        for i, r in enumerate(sess.embed.run(None, {"input_ids": ids})[0][0].astype(np.float32)):
            row_of.setdefault(r.tobytes(), s + i)
    try:
        return np.array([row_of[r.tobytes()] for r in np.ascontiguousarray(embedded, np.float32)], np.int64)
    except KeyError:
        raise ValueError("the harvest's embeddings are not this bundle's rows (another bundle's cache?)") from None


def extra_states(sess: Any, feats: Features, tokens: np.ndarray, layers: list[int]) -> list[np.ndarray]:
    """Hidden states ``layers`` (0 = embeddings, l = after layer l-1) of every harvested row."""
    out = [np.zeros_like(feats.feature) for _ in layers]
    for p in range(feats.passages):
        a, b = int(feats.starts[p]), int(feats.starts[p + 1])
        sess.truncate(0)
        _, hs = sess.forward([int(t) for t in tokens[a:b]], hidden_states=True)
        if not np.array_equal(hs[-1], feats.feature[a:b]):
            raise ValueError(f"passage {p}: the last layer differs from the cached harvest")
        for x, layer in zip(out, layers):
            x[a:b] = hs[layer]
    sess.truncate(0)
    return out


def _states(sess: Any, config: Any, feats: Features, layers: list[int], say: Any) -> list[np.ndarray]:
    """The hidden states ``layers`` of every harvested row (the tokens recovered, the model rerun)."""
    tokens = tokens_of(sess, feats.embedded, config.vocab_size)
    say(f"tokens recovered: {len(tokens)} rows; running the model for hidden states {layers}")
    return extra_states(sess, feats, tokens, layers)


def _trained(name: str, feats: Features, config: Any, reduced: np.ndarray, vocab_ids: np.ndarray, updates: int,
             seed: int, eval_every: int, say: Any, **train_args: Any) -> dict[str, Any]:
    """One training of the study (``say`` gets each evaluation): its acceptance history and time."""
    from .feature_drafter import train

    d = train(feats, config, reduced, vocab_ids, seed=seed, minutes=1e9, max_updates=updates, eval_every=eval_every,
              progress=lambda e: say(f"{name}: update {e['step']}/{updates} loss {e['loss']} "
                                     f"acceptance {e['acceptance']} ({e['seconds']} s)"),
              **train_args)
    return {"history": d.report.history, "seconds": d.report.seconds}


def study(sess: Any, config: Any, feats: Features, reduced: np.ndarray, vocab_ids: np.ndarray, layers: list[int],
          updates: int, seed: int = 0, eval_every: int = 100, say: Any = lambda line: None,
          **train_args: Any) -> dict[str, Any]:
    """Plain and fused training on the same harvest; each entry's ``history`` has the acceptance.
    ``say(line)`` gets a line per stage and evaluation (progress)."""
    extra = tuple(_states(sess, config, feats, layers, say))
    out: dict[str, Any] = {"layers": layers, "updates": updates, "seed": seed, "rows": len(feats.final)}
    for name, fused in (("plain", ()), ("fused", extra)):
        out[name] = _trained(name, feats, config, reduced, vocab_ids, updates, seed, eval_every, say, fused=fused,
                             **train_args)
    return out


def current_study(sess: Any, config: Any, feats: Features, reduced: np.ndarray, vocab_ids: np.ndarray,
                  depths: list[int], updates: int, seed: int = 0, eval_every: int = 100,
                  say: Any = lambda line: None, **train_args: Any) -> dict[str, Any]:
    """One training per depth E in ``depths`` with the drafter's token input replaced by the hidden
    state after the target's first E layers at the same position (Kangaroo-style: exact at runtime,
    since those layers run on the drafted token); same harvest, seed and updates as :func:`study`."""
    from dataclasses import replace

    states = _states(sess, config, feats, depths, say)
    out: dict[str, Any] = {"depths": depths, "layers": config.num_layers, "updates": updates, "seed": seed,
                           "rows": len(feats.final)}
    for depth, state in zip(depths, states):
        out[f"exit{depth}"] = _trained(f"exit{depth}", replace(feats, embedded=state), config, reduced, vocab_ids,
                                       updates, seed, eval_every, say, **train_args)
    return out


def main(argv: list[str] | None = None) -> int:
    from ..bundle.manifest import config_from_manifest
    from ..verify.bundle_session import BundleSession
    from . import feature_cache
    from .collect import probe_head

    p = argparse.ArgumentParser(prog="python -m skipper_export.calibrate.fusion_study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="a calibrated bundle (its draft vocabulary is used)")
    p.add_argument("--drafter-cache", type=Path, required=True, help="the folder ./skipper calibrate cached into")
    p.add_argument("--low", type=int, default=3, help="hidden state index of the low layer (default 3)")
    p.add_argument("--mid", type=int, default=15, help="hidden state index of the middle layer (default 15)")
    p.add_argument("--current", type=lambda v: [int(x) for x in v.split(",")], default=None, metavar="E[,E...]",
                   help="instead: Kangaroo-style drafters reading the state after the first E layers at the "
                        "drafted token's own position, one training per E")
    p.add_argument("--updates", type=int, default=400, help="updates of each training (default 400)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the result here")
    a = p.parse_args(argv)
    caches = sorted(a.drafter_cache.glob("features-*.npz"), key=lambda f: f.stat().st_mtime)
    if not caches:
        print(f"error: no harvest (features-*.npz) in {a.drafter_cache}", file=sys.stderr)
        return 2
    sess = BundleSession(a.bundle, max_seq=4096, threads=2, verify=False)
    config = config_from_manifest(sess.manifest)
    loaded = feature_cache.load(caches[-1], config.hidden_size)
    vocab_file = a.bundle / "draft/vocab.i32"
    if loaded is None or not vocab_file.is_file():
        print(f"error: {caches[-1] if loaded is None else vocab_file}: unreadable or missing", file=sys.stderr)
        return 2
    vocab_ids = np.fromfile(vocab_file, dtype="<i4").astype(np.int64)
    reduced = np.ascontiguousarray(probe_head(sess, config.hidden_size)[:, vocab_ids])
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if a.current:
        if not all(1 <= e < config.num_layers for e in a.current):
            print(f"error: --current: depths must be in 1..{config.num_layers - 1}, got {a.current}", file=sys.stderr)
            return 2
        result = current_study(sess, config, loaded[0], reduced, vocab_ids, a.current, a.updates, a.seed, say=say)
        names = [f"exit{e}" for e in a.current]
    else:
        result = study(sess, config, loaded[0], reduced, vocab_ids, [a.low, a.mid], a.updates, a.seed, say=say)
        names = ["plain", "fused"]
    for name in names:
        last = result[name]["history"][-1]
        print(f"{name}: update {last['step']} acceptance {last['acceptance']}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m skipper_export.bench.agreement``: teacher-forced top-1 agreement with exact math.

Completes ``score --json`` of the Java runtime (its tokens and, per position, its most likely next
token) with the same figures for the independent float64 reference (``reference/model.py``, on the
GGUF's own dequantized weights) and for llama.cpp on the same GGUF and tokens, in one run. Called by
``./skipper score --reference``; see docs/benchmarks.md.

Agreement of a runtime = share of positions 0..n-2 where its argmax equals the float64 reference's.
Near-ties (float64 top-2 margin within two float32 logit bounds, :mod:`..verify.yardstick`) are
positions where even two correct float32 runs may pick different tokens: they are counted and the
agreement is also given without them ("decided" positions), for every runtime alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from ..machine import available_cpus


def reference(gguf: Path, tokens: list[int]) -> Any:
    """The float64 reference's argmax and margins at every position, with the near-tie bound."""
    from ..reference.model import ReferenceModel
    from ..verify.yardstick import teacher_forced

    return teacher_forced(ReferenceModel.load(gguf), ReferenceModel.load(gguf, np.float32), tokens)


def llama_cpp_argmax(gguf: Path, tokens: list[int], threads: int) -> np.ndarray:
    """llama.cpp's next-token argmax at every position [S], teacher-forced in 512-token batches."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=len(tokens) + 8, n_threads=threads, n_threads_batch=threads,
                n_batch=512, logits_all=True, verbose=False)
    try:
        llm.reset()
        llm.eval(tokens)
        return np.argmax(np.asarray(llm.scores[: len(tokens)]), axis=-1).astype(np.int64)
    finally:
        llm.close() if hasattr(llm, "close") else None


def count(name: str, argmax: np.ndarray, ref: Any) -> dict[str, Any]:
    """One runtime's argmax [S-1] against the reference's: positions and agreements, all and decided."""
    n = len(argmax)
    want, decided = ref.argmax[:n], ref.decided[:n]
    same = argmax == want
    return {"runtime": name, "positions": int(n), "agree": int(same.sum()), "decided_positions": int(decided.sum()),
            "agree_decided": int(same[decided].sum())}


def total(name: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums of :func:`count` over passages, with the agreement shares."""
    keys = ("positions", "agree", "decided_positions", "agree_decided")
    t: dict[str, Any] = {"runtime": name, **{k: sum(p[k] for p in parts) for k in keys}}
    t["agreement"] = t["agree"] / t["positions"]
    t["agreement_decided"] = t["agree_decided"] / max(1, t["decided_positions"])
    t["disagreements"] = t["positions"] - t["agree"]
    return t


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'runtime':<28} {'positions':>9} {'agreement':>10} {'differ':>7} {'decided':>8} {'agr. decided':>13}"]
    for r in rows:
        lines.append(f"{r['runtime']:<28} {r['positions']:>9} {r['agreement']:>10.4f} {r['disagreements']:>7} "
                     f"{r['decided_positions']:>8} {r['agreement_decided']:>13.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m skipper_export.bench.agreement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--java-json", type=Path, nargs="+", required=True,
                   help="the Java `score --json` output of each passage (each fits one context)")
    p.add_argument("--bundle", type=Path, required=True, help="the bundle the Java runtime scored with")
    p.add_argument("--gguf", type=Path, help="the GGUF the bundle was exported from (default: found from the "
                                             "manifest's source for known models)")
    p.add_argument("--no-llama-cpp", action="store_true", help="only the bundle against the reference")
    p.add_argument("--threads", type=int, default=min(2, available_cpus()), help="llama.cpp threads (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    p.add_argument("--out", type=Path, help="also write that JSON object to this file")
    a = p.parse_args(argv)
    try:
        import yaml

        from .llama_cpp import source_gguf

        gguf = a.gguf or source_gguf(a.bundle)
        if gguf is None or not gguf.is_file():
            raise ExportError("--gguf", f"{gguf}: the bundle's source GGUF is needed (the reference runs on it)")
        w = yaml.safe_load((a.bundle / "manifest.yaml").read_text(encoding="utf-8"))["weights"]
        names = [f"skipper ({w['mode']}, matmul {w.get('matmul_accuracy', 'fp32')})"]
        if not a.no_llama_cpp:
            names.append("llama.cpp (same GGUF)")
        t0 = time.perf_counter()
        parts: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        near_ties, tie_bound, tokens_total = 0, 0.0, 0
        for path in a.java_json:
            doc = json.loads(path.read_text(encoding="utf-8"))
            tokens = [int(t) for t in doc["tokens"]]
            java = np.asarray(doc["argmax"], dtype=np.int64)
            if len(tokens) < 2 or len(java) != len(tokens) - 1:
                raise ExportError(str(path), f"expected argmax for {len(tokens) - 1} positions, got {len(java)}")
            print(f"{path.stem}: float64 reference over {len(tokens)} tokens of {gguf.name} ...", file=sys.stderr)
            ref = reference(gguf, tokens)
            parts[names[0]].append(count(names[0], java, ref))
            if not a.no_llama_cpp:
                print(f"{path.stem}: llama.cpp teacher-forced over the same tokens ...", file=sys.stderr)
                parts[names[1]].append(count(names[1], llama_cpp_argmax(gguf, tokens, a.threads)[:-1], ref))
            near_ties += int((~ref.decided[: len(tokens) - 1]).sum())
            tie_bound = max(tie_bound, ref.tie_bound)
            tokens_total += len(tokens)
        rows = [total(n, ps) for n, ps in parts.items()]
        out = {"bundle": str(a.bundle), "gguf": str(gguf), "passages": [p.stem for p in a.java_json],
               "tokens": tokens_total, "near_ties": near_ties, "tie_bound": tie_bound, "runtimes": rows,
               "per_passage": parts, "seconds": round(time.perf_counter() - t0, 1)}
        if a.json:
            print(json.dumps(out))
        else:
            print(table(rows))
            print(f"({len(a.java_json)} passages, {near_ties} near-tie positions: float64 top-2 margin <= "
                  f"{tie_bound:.2e}; {out['seconds']} s)")
        if a.out is not None:
            from ..bundle.writer import write_atomic

            a.out.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(a.out, (json.dumps(out, indent=1) + "\n").encode())
        return 0
    except (ExportError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

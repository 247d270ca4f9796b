"""``python -m skipper_export.calibrate BUNDLE``: find a draft skip set and store it in the bundle.

Writes ``calibration/skip_search.json`` (every evaluation) and a ``speculation`` section in the
manifest (``skip_layers`` and the figures behind them), atomically: the manifest is rewritten
through a temporary file and a rename; file hashes are added for the new file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ..errors import ExportError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="skipper calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="bundle directory (its manifest is updated in place)")
    p.add_argument("--tokens", type=int, default=768, help="teacher-forced tokens scored per skip set (default 768)")
    p.add_argument("--own", type=int, default=192, help="of which the model's own greedy answers (default 192)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        result = calibrate(a.bundle, a.tokens, a.own, a.threads, progress=not a.no_progress)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{a.bundle}: skip_layers {result['skip_layers']} (agreement {result['agreement']:.3f}, "
              f"estimated {result['estimated_speedup']:.2f}x at {result['draft_len']} drafts"
              f"{'' if result['pays'] else ': layer-skip drafting does not pay for this model; auto mode will not use it'}"
              f") from {result['tokens']} tokens in {result['seconds']} s")
    return 0


def calibrate(bundle: Path, budget: int, own: int, threads: int, progress: bool = True) -> dict:
    from tqdm import tqdm

    from ..verify.bundle_session import BundleSession, load_manifest
    from ..verify.tokenizer import BundleTokenizer
    from .skip_search import agreement, search
    from .text import calibration_tokens

    if budget < 64 or own < 0 or own >= budget:
        raise ExportError("--tokens/--own", f"need 64 <= tokens and 0 <= own < tokens, got {budget}, {own}")
    t0 = time.perf_counter()
    manifest = load_manifest(bundle)
    sess = BundleSession(bundle, max_seq=budget + 512, threads=threads, verify=False)
    tok = BundleTokenizer(bundle, manifest)
    template = manifest.get("chat_template")
    chat = None
    if template:
        import jinja2

        env = jinja2.sandbox.ImmutableSandboxedEnvironment() if hasattr(jinja2, "sandbox") else jinja2.Environment()
        tmpl = env.from_string(template)
        chat = lambda text: tmpl.render(messages=[{"role": "user", "content": text}], add_generation_prompt=True)  # noqa: E731
    tokens, sources = calibration_tokens(tok.encode, sess.greedy, chat, budget, own)
    tokens = tokens[: budget + own]
    n_layers = sess.num_layers
    sess.truncate(0)
    full_logits, _ = sess.forward(tokens)
    full = full_logits.argmax(-1)
    bar = tqdm(total=n_layers + int(n_layers * 0.6), desc="skip search", unit="eval", disable=not progress, leave=False)

    def agreement_of(skip: frozenset[int]) -> float:
        sess.truncate(0)
        logits, _ = sess.forward(tokens, skip=skip)
        sess.truncate(0)
        bar.update()
        return agreement(logits.argmax(-1), full)

    best, trail = search(n_layers, agreement_of)
    bar.close()
    result = {"skip_layers": list(best.layers), "agreement": round(best.agreement, 4),
              "estimated_speedup": round(best.speedup, 3), "pays": best.speedup > 1.0,
              "draft_len": best.draft_len, "tokens": len(tokens),
              **sources, "seconds": round(time.perf_counter() - t0, 1)}
    _write(bundle, manifest, result, trail)
    return result


def _write(bundle: Path, manifest: dict, result: dict, trail: list[dict]) -> None:
    """calibration/skip_search.json, then the manifest through a temp file + rename."""
    rel = "calibration/skip_search.json"
    data = (json.dumps({"result": result, "evaluations": trail}, indent=1) + "\n").encode("utf-8")
    (bundle / "calibration").mkdir(exist_ok=True)
    _atomic(bundle / rel, data)
    manifest["files"][rel] = hashlib.sha256(data).hexdigest()
    manifest["files"] = dict(sorted(manifest["files"].items()))
    manifest["speculation"] = {
        "skip_layers": result["skip_layers"],
        "calibration": {k: result[k] for k in ("agreement", "estimated_speedup", "pays", "draft_len", "tokens",
                                                "pydoc_tokens", "self_generated_tokens")},
    }
    from ..bundle.manifest import dump

    _atomic(bundle / "manifest.yaml", dump(manifest))


def _atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    sys.exit(main())

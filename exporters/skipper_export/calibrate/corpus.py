"""The draft corpus: the model's own greedy answers from calibration, stored in the bundle so the
runtime can draft by looking the text so far up in them (prompt lookup over what this model tends
to say: its openings, list markers, code fences, recurring phrases). Model-free, so a draft costs
only its verified row; docs/bundle-format.md (``draft_corpus``) has the layout.

Added to a bundle by ``./skipper calibrate`` (from the answers it generates anyway), or to an
already calibrated bundle from the harvest in a ``--drafter-cache`` folder without recalibrating:

    python -m skipper_export.calibrate.corpus BUNDLE --drafter-cache build/drafter-cache
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ExportError, OneLineArgumentParser, reported

SEPARATOR = -1            # ends every answer in the file
MAX_CORPUS_TOKENS = 1 << 20  # what the Java reader accepts (4 MiB of int32)
CORPUS_FILE = "draft/corpus.i32"


def answers_of_harvest(final: np.ndarray, starts: np.ndarray, own_from: np.ndarray) -> list[list[int]]:
    """The own answers of a drafter harvest (``features.Features``): greedy teacher forcing is
    generation, so the token at row r + 1 of an own part is the full model's top-1 at row r."""
    out = []
    for i in range(len(starts) - 1):
        a, b = int(starts[i]), int(starts[i + 1])
        o = int(own_from[i])
        if 0 < o < b - a:
            out.append([int(x) for x in final[a + o - 1:b - 1]])
    return out


def corpus_bytes(answers: Sequence[Sequence[int]], vocab_size: int) -> bytes:
    """int32 little-endian: each answer's tokens followed by -1."""
    parts = []
    for n, ans in enumerate(answers):
        ids = np.asarray(ans, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ExportError("draft corpus", f"answer {n} has a token id outside [0, {vocab_size})")
        parts.append(np.append(ids, SEPARATOR))
    data = np.concatenate(parts).astype("<i4") if parts else np.zeros(0, "<i4")
    if data.size > MAX_CORPUS_TOKENS:
        raise ExportError("draft corpus", f"{data.size} tokens, more than the {MAX_CORPUS_TOKENS} a bundle may hold")
    return data.tobytes()


def section(answers: Sequence[Sequence[int]], source: str) -> dict[str, Any]:
    """The manifest's ``draft_corpus`` section for a corpus of ``answers``."""
    return {"file": CORPUS_FILE, "dtype": "int32", "tokens": int(sum(len(a) + 1 for a in answers)),
            "sequences": len(answers), "source": source}


def add_to_bundle(bundle: Path, answers: Sequence[Sequence[int]], source: str) -> dict[str, Any]:
    """Writes the corpus into a bundle (staged, manifest last); returns its section."""
    from ..bundle.writer import BundleUpdate
    from ..verify.bundle_session import load_manifest

    manifest = load_manifest(bundle, verify=False)  # only the corpus's hash changes: the rest stays checked at load
    if not answers:
        raise ExportError("draft corpus", "no answers to store")
    data = corpus_bytes(answers, int(manifest["model"]["vocab_size"]))
    staging = Path(tempfile.mkdtemp(dir=bundle, prefix=".corpus-"))
    try:
        update = BundleUpdate(bundle, staging)
        update.stage(CORPUS_FILE, data)
        manifest["draft_corpus"] = section(answers, source)
        update.commit(manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest["draft_corpus"]


def _newest_harvest(bundle: Path, cache: Path, threads: int, sess: Any = None) -> tuple[Any, Path]:
    """The newest harvest in ``cache`` (a ``features.Features``) and its path, checked to be this
    bundle's: its embedding rows must be the bundle's, byte for byte, and each own answer the
    harvest's greedy continuation."""
    from ..verify.bundle_session import BundleSession, load_manifest
    from .feature_cache import load
    from .fusion_study import tokens_of

    harvests = sorted(cache.glob("features-*.npz"), key=lambda p: p.stat().st_mtime)
    if not harvests:
        raise ExportError(f"--drafter-cache {cache}", "holds no harvest (./skipper calibrate --drafter-cache writes one)")
    manifest = load_manifest(bundle, verify=False)
    loaded = load(harvests[-1], int(manifest["model"]["hidden_size"]))
    if loaded is None:
        raise ExportError(f"--drafter-cache {harvests[-1]}", "is not a readable harvest")
    feats = loaded[0]
    if sess is None:
        sess = BundleSession(bundle, max_seq=64, threads=threads, verify=False)
    try:
        tokens = tokens_of(sess, feats.embedded, int(manifest["model"]["vocab_size"]))
    except ValueError as e:
        raise ExportError(f"--drafter-cache {harvests[-1]}", str(e)) from None
    starts, own_from, final = feats.starts, feats.own_from, feats.final
    for i in range(len(starts) - 1):
        a, b, o = int(starts[i]), int(starts[i + 1]), int(own_from[i])
        if 0 < o < b - a and not np.array_equal(tokens[a + o:b], final[a + o - 1:b - 1]):
            raise ExportError(f"--drafter-cache {harvests[-1]}", f"passage {i}: the own answer is not the harvest's "
                              "greedy continuation")
    return feats, harvests[-1]


def main(argv: list[str] | None = None) -> int:
    p = OneLineArgumentParser(prog="python -m skipper_export.calibrate.corpus",
                              description="Store the model's own answers from a drafter harvest as the bundle's "
                                          "draft corpus (no recalibration).")
    p.add_argument("bundle", type=Path, help="a bundle directory (its manifest is updated in place)")
    p.add_argument("--drafter-cache", type=Path, required=True, metavar="DIR",
                   help="folder of ./skipper calibrate --drafter-cache: its newest harvest is read")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)

    def body() -> int:
        feats, _ = _newest_harvest(a.bundle, a.drafter_cache, a.threads)
        s = add_to_bundle(a.bundle, answers_of_harvest(feats.final, feats.starts, feats.own_from), "harvest")
        print(f"{a.bundle}: draft corpus of {s['sequences']} answers, {s['tokens']} tokens ({CORPUS_FILE})")
        return 0

    return reported(body, a.bundle)


if __name__ == "__main__":
    sys.exit(main())

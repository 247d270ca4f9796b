"""A cache of the feature drafter's harvest (``--drafter-cache DIR``), so a second calibration of the
same bundle skips the model's answers and the teacher-forced pass (minutes on 2 cores) and spends
its budget on training.

An entry is keyed by what determines its content: the bundle's model files (their sha256s, not
the draft folder that calibration rewrites) and the text budget. It is one ``.npz`` written to a
temporary name and renamed, so a cut-off run leaves no half entry; a file that does not read back
as a consistent :class:`Features` is ignored and rewritten, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .features import Features

FORMAT = 1  # bump when the harvest (text, fields) changes meaning


def cache_key(manifest: dict, prompts: int, answer_tokens: int, text_tokens: int) -> str:
    model_files = {k: v for k, v in sorted(manifest.get("files", {}).items())
                   if not k.startswith(("draft/", "calibration/"))}
    blob = json.dumps({"format": FORMAT, "files": model_files, "prompts": prompts, "answer_tokens": answer_tokens,
                       "text_tokens": text_tokens}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def load(path: Path, hidden: int) -> tuple[Features, dict] | None:
    """The cached harvest at ``path`` with its timings, or None when absent or inconsistent."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            f = Features(z["embedded"].astype(np.float32, copy=False), z["feature"].astype(np.float32, copy=False),
                         z["final"].astype(np.int64, copy=False), z["starts"].astype(np.int64, copy=False),
                         z["own_from"].astype(np.int64, copy=False))
            timings = json.loads(bytes(z["timings"]).decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # JSONDecodeError is a ValueError
        return None
    n = len(f.final)
    ok = (f.embedded.shape == (n, hidden) and f.feature.shape == (n, hidden) and f.starts.ndim == 1
          and len(f.starts) >= 2 and f.starts[0] == 0 and f.starts[-1] == n and bool(np.all(np.diff(f.starts) > 0))
          and f.own_from.shape == (len(f.starts) - 1,) and bool(np.all(f.own_from >= 0))
          and bool(np.all(f.own_from <= np.diff(f.starts))) and isinstance(timings, dict))
    return (f, timings) if ok else None


def store(path: Path, feats: Features, timings: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".features-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, embedded=feats.embedded, feature=feats.feature, final=feats.final, starts=feats.starts,
                     own_from=feats.own_from, timings=np.frombuffer(json.dumps(timings).encode(), np.uint8))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

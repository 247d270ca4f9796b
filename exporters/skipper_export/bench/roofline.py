"""The roofline of decoding: memory bandwidth measured now, on this machine, divided by the weight
bytes one decode step reads (every layer graph and the head; the embedding is a row gather)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml


def bandwidth_gb_s(megabytes: int = 512, repeats: int = 5) -> float:
    """Best of `repeats` single-pass reads (numpy sum, one thread) of a buffer much larger than the caches."""
    a = np.ones(megabytes * (1 << 20) // 8, dtype=np.float64)
    a.sum()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best / 1e9


def weight_bytes_per_token(bundle: Path) -> int:
    m = yaml.safe_load((bundle / "manifest.yaml").read_text(encoding="utf-8"))
    head = m["graphs"]["head"]
    # a tied head's weights are the embedding table's bytes in the data file it names
    files = [e["file"] for e in m["graphs"]["layers"]] + [head["file"]] + ([head["data"]] if head.get("data") else [])
    return sum((bundle / f).stat().st_size for f in files)


def roofline(bundle: Path) -> dict[str, Any]:
    bw = bandwidth_gb_s()
    per_token = weight_bytes_per_token(bundle)
    return {"bandwidth_gb_s": bw, "weight_bytes_per_token": per_token,
            "tokens_per_s": bw * 1e9 / per_token,
            "method": "numpy single-thread read of 512 MiB (best of 5) / bytes of layer + head graphs "
                      "(and the head's data file)"}

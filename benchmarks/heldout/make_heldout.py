"""Held-out real text for `./skipper score --adaptive-depth`: docstrings of Python standard-library
modules (none of us wrote them; calibration reads pydoc_data topics and the model's own answers,
never these). Deterministic for a given Python version.

    .venv/bin/python benchmarks/heldout/make_heldout.py [MAX_CHARS] > build/heldout.txt

MAX_CHARS (default 6000, ~1500 SmolLM2 tokens) keeps the text inside a 2048-token context.
"""

from __future__ import annotations

import importlib
import sys

MODULES = ("argparse", "csv", "difflib", "heapq", "inspect", "json", "logging", "pickle", "shlex", "string",
           "textwrap", "threading", "unittest", "urllib.parse", "zipfile", "collections", "functools", "sqlite3")


def main() -> int:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    parts = []
    for name in MODULES:
        doc = (importlib.import_module(name).__doc__ or "").strip()
        if len(doc) > 200:
            parts.append(doc)
    sys.stdout.write(("\n\n".join(parts))[:limit] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

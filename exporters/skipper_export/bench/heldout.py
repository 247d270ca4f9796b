"""Held-out real text: docstrings of Python standard-library modules. None of us wrote them, and
calibration reads pydoc_data topics and the model's own answers, never these. Deterministic for a
given Python version. Used by ``./skipper score --reference`` and ``score --adaptive-depth``."""

from __future__ import annotations

import importlib

MODULES = ("argparse", "csv", "difflib", "heapq", "inspect", "json", "logging", "pickle", "shlex", "string",
           "textwrap", "threading", "unittest", "urllib.parse", "zipfile", "collections", "functools", "sqlite3")

# More texts of the same kind for figures that need more tokens than one context holds
# (`score --reference`): each passage is scored on its own, so each must fit 2048 tokens.
PASSAGES = {
    "docstrings-a": MODULES,
    "docstrings-b": ("http.client", "tempfile", "typing", "subprocess", "socket", "random", "statistics", "calendar",
                     "os"),
    "docstrings-c": ("ast", "copy", "hashlib", "sched", "smtplib", "timeit", "trace", "uuid", "ftplib", "tokenize",
                     "zlib"),
}

DEFAULT_CHARS = 6000  # ~1500 SmolLM2 tokens: inside a 2048-token context


def heldout_text(max_chars: int = DEFAULT_CHARS, modules: tuple[str, ...] = MODULES) -> str:
    """The module docstrings longer than 200 characters, joined by blank lines, cut at max_chars."""
    parts = []
    for name in modules:
        doc = (importlib.import_module(name).__doc__ or "").strip()
        if len(doc) > 200:
            parts.append(doc)
    return "\n\n".join(parts)[:max_chars] + "\n"


def heldout_passages(max_chars: int = DEFAULT_CHARS) -> dict[str, str]:
    """Every passage of :data:`PASSAGES` by name, each cut at max_chars."""
    return {name: heldout_text(max_chars, modules) for name, modules in PASSAGES.items()}

"""Real English text for training tiny tokenizers, without shipping a corpus.

Why pydoc topics: the standard library carries ~460k characters of English prose
(the help() topic pages). It is present in every CPython install, nobody on this
project wrote it, and it is fixed for a given Python version, so tokenizers trained
on it are deterministic for a given interpreter.
"""

from __future__ import annotations

from ..errors import ExportError


def real_text(max_chars: int) -> str:
    """Return up to ``max_chars`` characters of English text, always the same for one Python.

    The ``pydoc_data.topics.topics`` values are joined in sorted key order, so the result
    does not depend on dict insertion order.
    """
    if max_chars <= 0:
        raise ExportError("tiny corpus", f"max_chars must be positive, got {max_chars}")
    try:
        from pydoc_data.topics import topics  # type: ignore[import-not-found]
    except ImportError as e:  # some distro Pythons strip pydoc_data
        raise ExportError(
            "tiny corpus",
            "the Python standard library module pydoc_data.topics is missing "
            f"({e}); install the full Python standard library (e.g. the python3-doc / "
            "libpython3-stdlib package) to train tiny tokenizers",
        ) from e
    if not isinstance(topics, dict) or not topics:
        raise ExportError("tiny corpus", "pydoc_data.topics.topics is empty or not a dict")
    parts: list[str] = []
    total = 0
    for key in sorted(topics):
        value = str(topics[key])
        parts.append(value)
        total += len(value) + 1
        if total >= max_chars:
            break
    return "\n".join(parts)[:max_chars]

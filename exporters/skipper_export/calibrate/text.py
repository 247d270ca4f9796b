"""Calibration text none of us wrote: Python's pydoc_data topics, plus the model's own greedy
continuations of chat prompts (self-distillation: drafts must predict what this model says)."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ExportError

CHAT_SEEDS = (  # instructions only; the text the search scores is the model's own answer
    "Explain what a Python decorator is.",
    "Write a short list of tips for writing readable code.",
    "Summarise what an operating system does.",
    "How do I read a file line by line in Python?",
)


def pydoc_passages(count: int, offset: int = 3) -> list[str]:
    try:
        from pydoc_data.topics import topics  # type: ignore[import-not-found]
    except ImportError as e:
        raise ExportError("calibration text", "Python's pydoc_data.topics is missing (a stripped Python?)") from e
    keys = sorted(topics)
    if not keys:
        raise ExportError("calibration text", "pydoc_data.topics is empty")
    step = max(1, len(keys) // count)
    return [topics[k] for k in keys[offset::step][:count]]


def calibration_tokens(encode: Callable[[str], list[int]], greedy: Callable[[list[int], int], list[int]],
                       chat: Callable[[str], str] | None, budget: int, own: int) -> tuple[list[int], dict[str, Any]]:
    """About `budget` tokens: pydoc passages, then `own` tokens of the model's own answers."""
    tokens: list[int] = []
    for text in pydoc_passages(8):
        tokens += encode(text)[: max(1, (budget - own) // 8)]
    real = len(tokens)
    per = max(1, own // len(CHAT_SEEDS))
    for seed in CHAT_SEEDS:
        prompt = encode(chat(seed) if chat else seed)
        tokens += prompt + greedy(prompt, per)
    return tokens, {"pydoc_tokens": real, "self_generated_tokens": len(tokens) - real}

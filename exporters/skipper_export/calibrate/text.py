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


def _topics() -> dict[str, str]:
    try:
        from pydoc_data.topics import topics  # type: ignore[import-not-found]
    except ImportError as e:
        raise ExportError("calibration text", "Python's pydoc_data.topics is missing (a stripped Python?)") from e
    if not topics:
        raise ExportError("calibration text", "pydoc_data.topics is empty")
    return topics


def pydoc_passages(count: int, offset: int = 3) -> list[str]:
    topics = _topics()
    keys = sorted(topics)
    step = max(1, len(keys) // count)
    return [topics[k] for k in keys[offset::step][:count]]


def chat_seeds(count: int) -> list[str]:
    """The fixed seeds, then questions about pydoc topic names (the answers are the model's)."""
    keys = sorted(_topics())
    seeds = list(CHAT_SEEDS)
    step = max(1, len(keys) // max(1, count))
    for k in keys[1::step]:
        if len(seeds) >= count:
            break
        seeds.append(f"Explain the Python topic '{k}' briefly, with an example.")
    return seeds[:count]


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


def exit_passages(encode: Callable[[str], list[int]], greedy: Callable[[list[int], int], list[int]],
                  chat: Callable[[str], str] | None, pydoc_tokens: int, own_passages: int, own_tokens: int,
                  passage_len: int = 256, progress: Callable[[int], None] = lambda _: None
                  ) -> list[tuple[list[int], int]]:
    """(tokens, own_from) passages for the exit-head fit: pydoc topics cut to `passage_len`, then
    chat prompts each followed by `own_tokens` of the model's own greedy answer."""
    out: list[tuple[list[int], int]] = []
    count = max(1, pydoc_tokens // passage_len)
    total = 0
    for text in pydoc_passages(count * 2, offset=2):
        if total >= pydoc_tokens:
            break
        ids = encode(text)[:passage_len]
        if len(ids) < 16:
            continue
        out.append((ids, len(ids)))
        total += len(ids)
    if total < min(pydoc_tokens, 64):
        raise ExportError("calibration text", f"only {total} tokens of pydoc_data text, need {pydoc_tokens}")
    for seed in chat_seeds(own_passages):
        prompt = encode(chat(seed) if chat else seed)
        out.append((prompt + greedy(prompt, own_tokens), len(prompt)))
        progress(1)
    return out

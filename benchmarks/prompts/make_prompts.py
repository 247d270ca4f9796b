"""Writes the benchmark prompt sets from text none of us wrote, deterministically.

  chat.txt      instructions and questions about Python topics (topic names from pydoc_data)
  grounded.txt  "summarise / extract from this passage" over pydoc_data.topics passages
  code.txt      "explain / document / rewrite this function" over Python standard library source

One prompt per line; a newline inside a prompt is written as the two characters \\n and a
backslash as \\\\ (the bench and the tests read them back). Run: python benchmarks/prompts/make_prompts.py
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "").replace("\n", "\\n")


def passage(text: str, words: int) -> str:
    """The first `words` words of a pydoc topic, whitespace runs collapsed."""
    return " ".join(re.sub(r"\s+", " ", text).split(" ")[:words]).strip()


def main() -> None:
    from pydoc_data.topics import topics

    keys = sorted(topics)
    chat_topics = [k for k in keys if k.isalpha()][:40:5]  # 8 topics spread over the list
    chat_forms = [
        "What is {t} in Python? Answer in a few sentences.",
        "Explain Python's {t} to a beginner, with a short example.",
        "Give me three tips about {t} in Python.",
        "Write a short list of common mistakes with {t} in Python.",
    ]
    chat = [chat_forms[i % len(chat_forms)].format(t=t) for i, t in enumerate(chat_topics)]

    grounded_keys = keys[7::max(1, len(keys) // 8)][:8]  # 8 passages spread over the topics
    grounded_forms = [
        "Summarise the following text in two sentences:\n\n{p}",
        "List the key terms defined in this passage, one per line:\n\n{p}",
        "Answer using only the passage: what is this passage about?\n\n{p}",
        "Rewrite the first two sentences of this passage in plain English:\n\n{p}",
    ]
    grounded = [grounded_forms[i % len(grounded_forms)].format(p=passage(topics[k], 180))
                for i, k in enumerate(grounded_keys)]

    import heapq
    import shlex
    import textwrap
    import fnmatch
    import string
    import statistics
    import difflib

    functions = [textwrap.dedent, heapq.nsmallest, shlex.quote, fnmatch.translate,
                 heapq.merge, string.capwords, statistics.median, difflib.get_close_matches]
    code_forms = [
        "Explain what this Python function does, step by step:\n\n{c}",
        "Add type hints and a short docstring to this Python function:\n\n{c}",
        "Rename the variables of this Python function to clearer names and return the code:\n\n{c}",
        "Write two unit tests for this Python function:\n\n{c}",
    ]
    code = []
    for i, f in enumerate(functions):
        src = inspect.getsource(f)
        src = re.sub(r'(?s)(\n\s+)("""|\'\'\').*?\2', "", src, count=1)  # drop the docstring: the model writes one
        code.append(code_forms[i % len(code_forms)].format(c=src.rstrip()[:1500]))

    for name, prompts in (("chat", chat), ("grounded", grounded), ("code", code)):
        (HERE / f"{name}.txt").write_text("".join(escape(p) + "\n" for p in prompts), encoding="utf-8")
        print(f"{name}.txt: {len(prompts)} prompts")


if __name__ == "__main__":
    main()

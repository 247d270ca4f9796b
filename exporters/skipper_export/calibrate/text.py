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


# ---- the feature drafter's training text (self-distillation on held-out-clean prompts) -------------

# Modules whose functions the benchmark's code prompts or the held-out docstrings use: never trained on.
_HELD_OUT_MODULES = frozenset({"textwrap", "heapq", "shlex", "fnmatch", "string", "statistics", "difflib"})
# Pure-Python standard-library modules whose functions become "explain / document this" prompts.
_CODE_MODULES = ("posixpath", "genericpath", "glob", "pprint", "base64", "quopri", "colorsys", "gettext",
                 "mimetypes", "netrc", "ntpath", "queue", "reprlib", "shutil", "tabnanny", "warnings", "wave",
                 "zipapp", "bisect", "ipaddress", "fractions", "configparser", "optparse", "plistlib", "tarfile",
                 "imaplib", "poplib", "mailbox", "email.utils", "html", "html.parser", "xml.dom.minidom", "nturl2path",
                 "pathlib", "enum", "dataclasses", "contextlib", "operator", "traceback", "linecache", "pkgutil")
_CHAT_FORMS = (
    "Explain the Python topic '{t}' briefly, with an example.",
    "How is {t} used in Python code? Show one small example.",
    "What should a beginner know about {t} in Python?",
    "Describe {t} in Python in three short bullet points.",
)
_GROUNDED_FORMS = (
    "Summarise this passage in a few sentences:\n\n{p}",
    "What are the main points of the following text?\n\n{p}",
    "Explain the following documentation to a beginner:\n\n{p}",
)
_CODE_FORMS = (
    "Explain what this Python function does:\n\n{c}",
    "Write a docstring for this Python function:\n\n{c}",
    "Describe the inputs and outputs of this Python function:\n\n{c}",
)


# Beyond the first prompts above (364 with Python 3.11), drafter_prompts goes on with more of the
# standard library: questions about modules, their docstrings as passages, and their functions. They
# come after the first ones, so a smaller count gives the same prompts as before (cached harvests hold).
_MORE_MODULES = ("calendar", "argparse", "logging", "random", "typing", "zipfile", "inspect", "dis", "ast",
                 "tokenize", "copy", "functools", "uuid", "hmac", "secrets", "selectors", "smtplib", "ftplib",
                 "http.client", "http.cookies", "http.server", "email.message", "xml.etree.ElementTree",
                 "subprocess", "tempfile", "threading", "trace", "pdb", "codeop", "compileall", "filecmp",
                 "fileinput", "getopt", "getpass", "gzip", "bz2", "lzma", "locale", "pickletools", "platform",
                 "pydoc", "ssl", "sysconfig", "timeit", "types", "webbrowser", "urllib.parse", "urllib.request",
                 "json", "_pydecimal", "copyreg", "doctest", "pickle", "pstats", "pty", "socket", "tracemalloc",
                 "unittest.case", "unittest.mock", "wsgiref.util", "xml.sax.saxutils", "asyncio.tasks",
                 "http.cookiejar", "concurrent.futures._base", "imaplib", "tty", "codecs", "collections", "abc",
                 "numbers", "sched", "cmd", "os", "stat", "token", "weakref", "graphlib", "keyword", "shelve")
_MODULE_FORMS = (
    "What is Python's {m} module for? Give one short example.",
    "Summarise in a few bullet points what the {m} module offers.",
    "When would a programmer reach for the {m} module? Answer briefly.",
    "Show a small program that uses Python's {m} module and explain it.",
)


def benchmark_topics() -> frozenset[str]:
    """pydoc topics the shipped benchmark prompts use (benchmarks/prompts/make_prompts.py picks
    them by these rules): the drafter never trains on them, so the bench measures held-out text."""
    keys = sorted(_topics())
    chat = [k for k in keys if k.isalpha()][:40:5]
    grounded = keys[7::max(1, len(keys) // 8)][:8]
    return frozenset(chat) | frozenset(grounded)


def _code_prompts(modules: tuple[str, ...] = _CODE_MODULES) -> list[str]:
    import importlib
    import inspect

    out = []
    for name in modules:
        if name in _HELD_OUT_MODULES:
            continue
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for _, f in sorted(inspect.getmembers(module, inspect.isfunction)):
            if getattr(f, "__module__", None) != module.__name__:
                continue
            try:
                src = inspect.getsource(f)
            except (OSError, TypeError):
                continue
            if 200 <= len(src) <= 1500:
                out.append(src.rstrip())
    return out


def drafter_prompts(count: int) -> list[str]:
    """`count` instructions for the model to answer (its answers are the drafter's main training
    text), interleaved chat / grounded / code so every budget sees all three kinds. Built from
    pydoc topics the benchmark does not use and standard-library functions it does not use."""
    import re

    topics = _topics()
    keys = [k for k in sorted(topics) if k not in benchmark_topics()]
    chat = [_CHAT_FORMS[i % len(_CHAT_FORMS)].format(t=k.replace("-", " "))
            for i in range(len(_CHAT_FORMS)) for k in keys[i::len(_CHAT_FORMS)]]
    grounded = []
    for i, k in enumerate(keys):
        words = re.sub(r"\s+", " ", topics[k]).split(" ")
        start = (i * 37) % max(1, len(words) - 150)
        grounded.append(_GROUNDED_FORMS[i % len(_GROUNDED_FORMS)].format(p=" ".join(words[start:start + 150]).strip()))
    code = [_CODE_FORMS[i % len(_CODE_FORMS)].format(c=c) for i, c in enumerate(_code_prompts())]
    out = _interleave([chat, grounded, code], count)
    if len(out) < count:
        out += _interleave(list(_more_kinds()), count - len(out))
    return out


def _interleave(kinds: list[list[str]], count: int) -> list[str]:
    out: list[str] = []
    i = 0
    while len(out) < count and any(i < len(k) for k in kinds):
        for k in kinds:
            if i < len(k) and len(out) < count:
                out.append(k[i])
        i += 1
    return out


def _more_kinds() -> tuple[list[str], list[str], list[str]]:
    """Questions about _MORE_MODULES, their docstrings as passages, and their functions (never the
    benchmark's held-out modules)."""
    import importlib
    import re

    modules = [m for m in _MORE_MODULES if m.split(".")[0] not in _HELD_OUT_MODULES]
    chat = [_MODULE_FORMS[i % len(_MODULE_FORMS)].format(m=m) for i, m in enumerate(modules)]
    chat += [_MODULE_FORMS[(i + 1) % len(_MODULE_FORMS)].format(m=m) for i, m in enumerate(modules)]
    grounded = []
    for i, name in enumerate(modules):
        try:
            doc = importlib.import_module(name).__doc__ or ""
        except ImportError:
            continue
        words = re.sub(r"\s+", " ", doc).strip().split(" ")
        if len(words) >= 40:
            grounded.append(_GROUNDED_FORMS[i % len(_GROUNDED_FORMS)].format(p=" ".join(words[:150])))
    code = [_CODE_FORMS[i % len(_CODE_FORMS)].format(c=c) for i, c in enumerate(_code_prompts(tuple(modules)))]
    return chat, grounded, code


def drafter_passages(encode: Callable[[str], list[int]], greedy: Callable[[list[int], int], list[int]],
                     chat: Callable[[str], str] | None, pydoc_tokens: int, prompts: int, answer_tokens: int,
                     passage_len: int = 256, max_prompt: int = 384, progress: Callable[[int], None] = lambda _: None
                     ) -> list[tuple[list[int], int]]:
    """(tokens, own_from) passages: the model's own greedy answers to :func:`drafter_prompts` (with
    their prompts), then pydoc topic text (not the benchmark's topics) cut into `passage_len` pieces."""
    out: list[tuple[list[int], int]] = []
    for text in drafter_prompts(prompts):
        prompt = encode(chat(text) if chat else text)[-max_prompt:]
        out.append((prompt + greedy(prompt, answer_tokens), len(prompt)))
        progress(1)
    total = 0
    topics = _topics()
    held = benchmark_topics()
    for k in sorted(topics):
        if k in held:
            continue
        ids = encode(topics[k])
        for s in range(0, len(ids) - 16, passage_len):
            if total >= pydoc_tokens:
                return out
            piece = ids[s:s + passage_len]
            out.append((piece, len(piece)))
            total += len(piece)
    return out


def bench_line(prompt: str) -> str:
    """One prompt in the bench's prompt-file format (benchmarks/prompts/make_prompts.py)."""
    return prompt.replace("\\", "\\\\").replace("\r", "").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> int:
    """Writes drafter_prompts past the first --skip as a bench prompt file (for calibrate.retrain)."""
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m skipper_export.calibrate.text",
                                description="Write the feature drafter's training prompts as a bench prompt file.")
    p.add_argument("out", type=Path)
    p.add_argument("--skip", type=int, default=320, help="leave out the first N (calibration's; default 320)")
    p.add_argument("--count", type=int, default=100_000, help="at most this many (default: all)")
    a = p.parse_args(argv)
    prompts = drafter_prompts(a.skip + a.count)[a.skip:]
    a.out.write_text("".join(bench_line(x) + "\n" for x in prompts), encoding="utf-8")
    print(f"{a.out}: {len(prompts)} prompts")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())

"""Greedy text generation on a bundle from Python (the demo until the Java runtime exists)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ExportError
from ..machine import thread_count
from .bundle_session import BundleSession
from .tokenizer import BundleTokenizer


def render_chat(template: str | None, user: str) -> str:
    """The bundle's chat template for one user turn, rendered in a sandbox (templates are untrusted)."""
    if not template:
        return user
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=[{"role": "user", "content": user}], add_generation_prompt=True,
                                            bos_token="", eos_token="")


def stream_greedy(sess: BundleSession, tok: BundleTokenizer, prompt_ids: list[int], max_tokens: int,
                  eos_ids: set[int]) -> Iterator[str]:
    """Yields text pieces as tokens are generated; never yields a partial UTF-8 character."""
    logits, _ = sess.forward(prompt_ids)
    out: list[int] = []
    shown = ""
    while len(out) < max_tokens:
        nxt = int(logits[-1].argmax())
        if nxt in eos_ids:
            break
        out.append(nxt)
        text = tok.decode(out)
        if not text.endswith("\ufffd"):  # hold back an incomplete multi-byte character
            yield text[len(shown):]
            shown = text
        if sess.length >= sess.max_seq:
            break
        logits, _ = sess.forward([nxt])


def main(argv: list[str] | None = None, write: Callable[[str], None] = sys.stdout.write) -> int:
    p = argparse.ArgumentParser(prog="python -m skipper_export generate",
                                description="Greedy generation on a bundle with ONNX Runtime (Python check runner).")
    p.add_argument("--bundle", required=True, type=Path)
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--raw", action="store_true", help="do not apply the chat template")
    p.add_argument("--threads", type=thread_count, default=2,
                   help="intra-op threads, capped at the available processors (default 2)")
    a = p.parse_args(argv)
    try:
        if a.max_tokens < 1:
            raise ExportError("--max-tokens", f"must be at least 1, got {a.max_tokens}")
        sess = BundleSession(a.bundle, threads=a.threads)
        tok = BundleTokenizer(a.bundle, sess.manifest)
        text = a.prompt if a.raw else render_chat(sess.manifest.get("chat_template"), a.prompt)
        ids = tok.encode(text)
        if len(ids) + 1 > sess.max_seq:
            raise ExportError("--prompt", f"prompt is {len(ids)} tokens, the context holds {sess.max_seq}")
        eos = set(sess.manifest["tokenizer"]["eos_ids"])
        t0 = time.perf_counter()
        n = 0
        for piece in stream_greedy(sess, tok, ids, a.max_tokens, eos):
            write(piece)
            sys.stdout.flush()
            n += 1
        dt = time.perf_counter() - t0
        write("\n")
        print(f"[{len(ids)} prompt tokens, {sess.length - len(ids)} generated in {dt:.2f} s]", file=sys.stderr)
        return 0
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

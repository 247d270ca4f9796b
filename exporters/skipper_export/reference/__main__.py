"""CLI: ``python -m skipper_export.reference --model PATH --tokens 1,2,3 [--greedy N] [--json]``.

Prints, for every position, the argmax of the reference logits and the logit value there; with
``--greedy N`` also the N-token greedy continuation of the whole token list.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from skipper_export.errors import ExportError

from .model import ReferenceModel


def _parse_tokens(text: str, where: str) -> list[int]:
    parts = [t for t in text.replace(",", " ").split() if t]
    try:
        tokens = [int(t) for t in parts]
    except ValueError as e:
        raise ExportError(where, f"token ids must be integers ({e})") from e
    if not tokens:
        raise ExportError(where, "no token ids given")
    return tokens


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m skipper_export.reference",
        description="Independent float64 numpy reference forward pass for Llama-family checkpoints.",
    )
    ap.add_argument("--model", required=True, help="a .gguf file or a Hugging Face model folder")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tokens", help="comma-separated token ids, e.g. 1,2,3")
    src.add_argument("--tokens-file", help="file of token ids separated by commas or whitespace")
    ap.add_argument("--greedy", type=int, default=0, metavar="N", help="also greedily generate N new tokens")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args(argv)

    try:
        if args.tokens is not None:
            tokens = _parse_tokens(args.tokens, "--tokens")
        else:
            f = Path(args.tokens_file)
            if not f.is_file():
                raise ExportError(str(f), "no such tokens file")
            tokens = _parse_tokens(f.read_text(), str(f))
        if args.greedy < 0:
            raise ExportError("--greedy", "must be >= 0")
        model = ReferenceModel.load(args.model)
        argmax, max_logit = model.teacher_forced(tokens)
        greedy = model.greedy(tokens, args.greedy) if args.greedy else []
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if args.json:
        print(json.dumps({
            "tokens": tokens,
            "argmax": [int(a) for a in argmax],
            "max_logit": [float(x) for x in max_logit],
            "greedy": greedy,
        }))
    else:
        print(f"{'pos':>5} {'token':>8} {'argmax':>8} {'max_logit':>14}")
        for i, (t, a, m) in enumerate(zip(tokens, argmax, max_logit)):
            print(f"{i:>5} {t:>8} {int(a):>8} {float(m):>14.6f}")
        if args.greedy:
            print("greedy:", ",".join(str(t) for t in greedy))
    return 0


if __name__ == "__main__":
    sys.exit(main())

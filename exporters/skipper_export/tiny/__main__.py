"""Command line: ``python -m skipper_export.tiny --out DIR --format hf|gguf --tokenizer spm|bpe``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ExportError
from . import make_tiny
from .weights import TinySpec


def build_parser() -> argparse.ArgumentParser:
    d = TinySpec()
    dflt = f"(default {d.layers} layers, hidden {d.hidden}, {d.heads} heads, {d.kv_heads} kv heads, intermediate {d.intermediate}, seed {d.seed})"
    p = argparse.ArgumentParser(
        prog="python -m skipper_export.tiny",
        description="Generate a tiny random Llama/Qwen2 model (HF folder or GGUF) with a tokenizer "
        "trained on Python's pydoc text. Deterministic: same arguments, same bytes.",
        epilog="K-quants (Q4_K, Q6_K) need hidden and intermediate multiples of 256 "
        "(e.g. --hidden 256 --intermediate 512); Q4_0/Q4_1/Q8_0 need multiples of 32. "
        "Matrices that do not fit are stored as F16; for Q4_K/Q6_K, hidden/intermediate default to 256/512. "
        "--attention-bias selects qwen2. Spec defaults: " + dflt,
    )
    p.add_argument("--out", required=True, help="output folder (written to a temp folder, then renamed)")
    p.add_argument("--format", required=True, choices=["hf", "gguf"])
    p.add_argument("--tokenizer", required=True, choices=["spm", "bpe"], help="spm: SentencePiece BPE + byte fallback; bpe: GPT-2 byte-level BPE")
    p.add_argument("--tensor-type", default="F32", help="gguf only: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K Q6_K MIXED (default F32)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="hf only (default float32)")
    p.add_argument("--shards", type=int, default=1, help="hf only: number of safetensors files (default 1)")
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--heads", type=int, default=None)
    p.add_argument("--kv-heads", type=int, default=None)
    p.add_argument("--intermediate", type=int, default=None)
    p.add_argument("--vocab-size", type=int, default=None, help="tokenizer vocab target (>= 300)")
    p.add_argument("--max-position", type=int, default=None)
    p.add_argument("--rope-theta", type=float, default=None)
    p.add_argument("--tie-word-embeddings", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--attention-bias", action=argparse.BooleanOptionalAction, default=None, help="q/k/v biases (qwen2 architecture)")
    p.add_argument("--seed", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    # Only fields given on the command line: make_tiny picks K-quant friendly sizes otherwise.
    names = ("layers", "hidden", "heads", "kv_heads", "intermediate", "vocab_size", "max_position",
             "rope_theta", "tie_word_embeddings", "attention_bias", "seed")
    spec: dict[str, Any] = {n: getattr(a, n) for n in names if getattr(a, n) is not None}
    try:
        path = make_tiny(a.out, a.format, a.tokenizer, a.tensor_type, shards=a.shards, dtype=a.dtype, **spec)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

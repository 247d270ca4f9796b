"""Test data for the Java runtime: bundles plus what the independent numpy reference says about them.

``python -m skipper_export goldens --out build/test-data [--real]`` writes, per case,
``<case>/bundle/`` and ``<case>/goldens.json`` (the default recipe's cases, ``*-int4-int8``, only
the bundle: tests compare that runtime with itself):

  prompts:        [{"text", "ids", "greedy": [up to 64 reference greedy tokens], "greedy_cut": null | {...}}]
  teacher_forced: {"ids": [...], "argmax": [...], "near_ties": [positions], "tie_bound": float}
                  reference argmax of the next token at every position; near_ties lists the positions
                  whose float64 top-2 margin is within the float32 yardstick's tie bound (yardstick.py),
                  where a correct float32 runtime may pick the runner-up
  tokenizer:      [{"text", "ids"}] edge-case texts encoded by the exporter's tokenizer (specials parsed)
  eos_ids, vocab_size

Greedy and argmax come from the float64 reference (reference/), never from the bundle, so the Java
runtime is checked against an independent implementation. A greedy golden ends before the first step
that is an fp32 near-tie (greedy_cut says where and why): past it, two correct float32 runtimes may
write different texts, so no token there is a fact a test may demand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from ..export import ExportOptions, export
from ..reference.model import ReferenceModel
from ..tiny import make_tiny
from ..tiny.corpus import real_text
from .bundle_session import load_manifest
from .tokenizer import BundleTokenizer
from .yardstick import fp32_bound, teacher_forced

EDGE_CASES = [
    "",
    "Hello, world!",
    "  leading and   multiple   spaces\t\ttabs\n\nnewlines\n",
    "café naïve résumé Ångström",
    "日本語のテキストと中文文本",
    "emoji: 🚀🔥👍🏽 and ZWJ 👩‍👩‍👧",
    "numbers 1234567890 3.14159 -42",
    "code: def f(x):\n    return x ** 2  # comment",
    "<|im_start|>user\nHi there<|im_end|>\n",
]
PROMPTS = [
    "What is the capital of France? Answer in one sentence.",
    "Write a Python function that returns the n-th Fibonacci number.",
    "List five fruits that are red.",
    "Summarise in one sentence: " + real_text(700)[200:700],
    "Explain why the sky is blue to a ten-year-old.",
]


def _chat(text: str) -> str:
    return f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"


# A fast calibration so the runtime's drafters are tested on every case: exit heads, FiRST routers
# and, on the tiny models, a briefly trained feature drafter (SmolLM2's cases never train it: minutes).
FAST_CALIBRATION = {"exit_tokens": 1024, "own_passages": 4, "own_tokens": 32, "draft_vocab": 512, "skip_search": False,
                    "first_passages": 8, "first_tokens": 24, "drafter": None}
TINY_DRAFTER = {"minutes": 1.0, "max_updates": 80, "prompts": 8, "answer_tokens": 32, "text_tokens": 1024,
                "measure_rounds": 100}


def write_bundle(out: Path, source: Path | str, calibrate: dict[str, Any] | None = None, **export_kw: Any) -> Path:
    """``<case>/bundle`` alone (what tests comparing the runtime with itself need), calibrated if asked."""
    bundle = out / "bundle"
    export(ExportOptions(source=str(source), out=bundle, force=True, progress=False, **export_kw))
    if calibrate is not None:
        from ..calibrate.__main__ import calibrate as run_calibration

        from ..calibrate.__main__ import DrafterBudget

        kw = dict(calibrate)
        if kw.get("drafter") is not None:
            kw["drafter"] = DrafterBudget(**kw["drafter"])
        run_calibration(bundle, 96, 24, 2, progress=False, **kw)
    return bundle


def write_case(out: Path, source: Path | str, ref_path: Path, n_greedy: int, n_tf: int,
               calibrate: dict[str, Any] | None = None, **export_kw: Any) -> None:
    bundle = write_bundle(out, source, calibrate, **export_kw)
    manifest = load_manifest(bundle, verify=False)
    tok = BundleTokenizer(bundle, manifest)
    ref, ref32 = ReferenceModel.load(ref_path), ReferenceModel.load(ref_path, np.float32)
    prompts = []
    for p in PROMPTS:
        ids = tok.encode(_chat(p))
        greedy, margins = ref.greedy_with_margins(ids, n_greedy)
        tie = 2 * fp32_bound(ref.forward(ids).logits, ref32.forward(ids).logits)
        cut = next((j for j, m in enumerate(margins) if m <= tie), None)
        prompts.append({"text": _chat(p), "ids": ids, "greedy": greedy[:cut],
                        "greedy_cut": None if cut is None else {"at": cut, "margin": margins[cut], "tie_bound": tie}})
    tf_ids = tok.encode(real_text(20_000)[3_000:])[:n_tf]
    tf = teacher_forced(ref, ref32, tf_ids)
    goldens = {
        "vocab_size": manifest["model"]["vocab_size"],
        "eos_ids": manifest["tokenizer"]["eos_ids"],
        "prompts": prompts,
        "teacher_forced": {"ids": tf_ids, "argmax": [int(x) for x in tf.argmax],
                           "near_ties": [int(i) for i in np.flatnonzero(~tf.decided)], "tie_bound": tf.tie_bound},
        "tokenizer": [{"text": t, "ids": tok.encode(t)} for t in EDGE_CASES],
    }
    (out / "goldens.json").write_text(json.dumps(goldens, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m skipper_export goldens",
                                description="Bundles and reference outputs for the Java runtime's parity tests.")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--real", action="store_true", help="also the real SmolLM2-135M (fp32 and int4, minutes)")
    a = p.parse_args(argv)
    try:
        models = a.out / "models"
        bpe = make_tiny(models / "hf-bpe", "hf", "bpe", layers=3, tie_word_embeddings=False)
        spm = make_tiny(models / "gguf-spm-q4_1", "gguf", "spm", "Q4_1")
        write_case(a.out / "tiny-bpe-fp32", bpe, bpe, 24, 128, calibrate={**FAST_CALIBRATION, "drafter": TINY_DRAFTER},
                   weights="fp32")
        # Reference goldens hold bundles to the float32 yardstick: exact weights x float compute.
        write_case(a.out / "tiny-spm-int4", spm, spm, 24, 128, calibrate={**FAST_CALIBRATION, "drafter": TINY_DRAFTER}, weights="int4",
                   matmul="fp32")
        # Standard ops (the TensorRT flavour), calibrated too: the TensorRT runner's exit heads, draft
        # head and feature drafter are tested on it through the CPU stand-in of its native seam.
        write_case(a.out / "tiny-bpe-fp32-standard", bpe, bpe, 24, 128, calibrate={**FAST_CALIBRATION, "drafter": TINY_DRAFTER},
                   weights="fp32", flavour="standard")
        # float16 compute (the TensorRT-style recipe), checked against its float32 twin by the runtime tests.
        write_bundle(a.out / "tiny-bpe-fp16-standard", bpe, weights="fp16", flavour="standard")
        # The default recipe (int8 matmul activations): no reference goldens (its agreement with exact
        # math is statistical), only the bundle, for the speculative-equals-plain tests.
        write_bundle(a.out / "tiny-spm-int4-int8", spm, {**FAST_CALIBRATION, "drafter": TINY_DRAFTER}, weights="int4",
                     matmul="int8")
        if a.real:
            from ..load.source import resolve_source

            gguf = resolve_source("smollm2-135m")
            write_case(a.out / "smollm2-fp32", gguf, gguf, 64, 512, weights="fp32")
            write_case(a.out / "smollm2-int4", gguf, gguf, 64, 512, calibrate={**FAST_CALIBRATION, "draft_vocab": 4096},
                       weights="int4", matmul="fp32")
            write_bundle(a.out / "smollm2-int4-int8", gguf, {**FAST_CALIBRATION, "draft_vocab": 4096}, weights="int4",
                         matmul="int8")
        return 0
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``python -m skipper_export <command>``: export, generate, reference, tiny."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import ExportError, OneLineArgumentParser


def _export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="checkpoint -> bundle of per-layer ONNX graphs",
                       description="Export a Llama-family checkpoint (GGUF file, Hugging Face folder or a known "
                                   "model name such as smollm2-135m) to a Skipper bundle.")
    p.add_argument("--source", required=True, help="smollm2-135m | path/to/model.gguf | path/to/hf-folder")
    p.add_argument("--out", required=True, type=Path, help="bundle directory to create")
    p.add_argument("--weights", default="auto", choices=["auto", "fp32", "fp16", "int8", "int4"],
                   help="weight precision (auto: keep the source's, e.g. int4 for Q4 GGUF files)")
    p.add_argument("--flavour", default="ort", choices=["ort", "standard"],
                   help="ort: ONNX Runtime contrib ops (CPU default); standard: standard ONNX ops only (TensorRT)")
    p.add_argument("--activations", default="auto", choices=["auto", "float32", "float16"],
                   help="activation dtype (auto: float16 for standard+fp16, else float32)")
    p.add_argument("--kv-cache", dest="kv_cache", default="auto", choices=["auto", "float32", "float16"],
                   help="KV cache element type. auto: float16 on the default recipe (ort, int4/int8 weights, "
                        "--matmul int8; half the cache, as llama.cpp's default f16 cache; same agreement), "
                        "else the activations' type (the exact recipe keeps float32)")
    p.add_argument("--matmul", "--ort-accuracy", dest="matmul", default="int8", choices=["int8", "fp32"],
                   help="ort flavour, int4/int8 weights: compute of the quantized matmuls. int8 (default): "
                        "activations quantized per block inside MatMulNBits, as llama.cpp does: ~3x faster, "
                        "bitwise batch-invariant, so speculative greedy output equals plain decoding; fp32: float "
                        "compute on the exact weights (what the parity tests check against float64). "
                        "--ort-accuracy is its old name")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--calibrate", action="store_true",
                   help="then calibrate the bundle (exit heads, routers, skip set; ~6 min for SmolLM2-135M on 2 cores; "
                        "same as ./skipper calibrate OUT with its defaults)")


def _run_export(a: argparse.Namespace) -> int:
    from .export import ExportOptions, export

    t0 = time.perf_counter()
    m = export(ExportOptions(source=a.source, out=a.out, weights=a.weights, flavour=a.flavour,
                             activations=a.activations, kv_cache=a.kv_cache, matmul=a.matmul, force=a.force, progress=not a.no_progress))
    calibration = None
    if a.calibrate:
        from .calibrate.__main__ import DrafterBudget, calibrate, summary as calibration_summary

        calibration = calibrate(a.out, 768, 192, 2, progress=not a.no_progress, drafter=DrafterBudget())
        if not a.json:
            print(calibration_summary(a.out, calibration))
    size = sum(f.stat().st_size for f in a.out.rglob("*") if f.is_file())
    summary = {"out": str(a.out), "model": m["model"]["name"], "weights": m["weights"]["mode"], "flavour": m["flavour"],
               "layers": m["model"]["num_layers"], "bytes": size, "seconds": round(time.perf_counter() - t0, 1),
               **({"calibration": calibration} if calibration is not None else {})}
    if a.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {a.out}: {summary['model']}, {summary['weights']}/{summary['flavour']}, "
              f"{summary['layers']} layer graphs, {size / 1e6:.1f} MB in {summary['seconds']} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "generate":
        from .verify.generate import main as generate_main

        return generate_main(argv[1:])
    if argv and argv[0] == "goldens":
        from .verify.goldens import main as goldens_main

        return goldens_main(argv[1:])
    if argv and argv[0] in ("reference", "tiny"):
        # Sub-tools with their own argument parsers.
        import runpy

        sys.argv = [f"skipper_export.{argv[0]}", *argv[1:]]
        runpy.run_module(f"skipper_export.{argv[0]}", run_name="__main__")
        return 0
    parser = OneLineArgumentParser(prog="skipper" if argv[:1] == ["export"] else "python -m skipper_export",
                                   description="Skipper exporter")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{export,generate,goldens,reference,tiny}")
    _export_parser(sub)
    a = parser.parse_args(argv)
    try:
        return _run_export(a)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file system refusal the checks above did not foresee: still one line
        print(f"error: {ExportError(str(e.filename or 'export'), str(e.strerror or e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

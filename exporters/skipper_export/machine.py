"""Where a test run happens: CPU, instruction sets, threads and the numeric libraries' settings.

``python -m skipper_export.machine`` prints a few lines (``./skipper test`` starts with them), so a
failing log says which kernels the numbers came from: ONNX Runtime's MLAS and numpy's OpenBLAS pick
kernels per CPU (AVX2, AVX-512, VNNI, AMX), and ``OPENBLAS_CORETYPE`` overrides OpenBLAS's choice.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import re
import sys

# Instruction-set flags that change which float32/int8 kernels the libraries run.
_ISA = re.compile(r"^(sse4_2|avx|avx2|fma|f16c|avx512\w*|avx_vnni\w*|amx\w*|asimd\w*|sve\w*|neon|fp16|bf16|i8mm|dotprod)$")
_ENV = re.compile(r"^(OPENBLAS_\w+|OMP_\w+|MKL_\w+|GOTO\w+|ORT_\w+|ONNXRUNTIME_\w+|SKIPPER_\w+|\w+_NUM_THREADS|MALLOC_\w+)$")


def available_cpus() -> int:
    """Processors this process may run on (CPU affinity and cgroup cpusets honoured), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_count(value: str) -> int:
    """argparse type of ``--threads``: 1 or more; above :func:`available_cpus` it is capped with one
    warning line (extra threads only wait for each other, and hundreds crashed ONNX Runtime)."""
    import argparse

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    cpus = available_cpus()
    if n > cpus:
        print(f"warning: --threads {n} is more than the {cpus} processors this process may use; using {cpus}",
              file=sys.stderr)
        return cpus
    return n


def _cpuinfo() -> tuple[str, list[str]]:
    """CPU model and the kernel-relevant flags of the first core in /proc/cpuinfo (x86 or Arm)."""
    model, flags = "", []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and not model:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = sorted({x for x in value.split() if _ISA.match(x)})
    except OSError:
        pass
    return model or platform.processor() or "?", flags


def _openblas_core() -> str:
    """OpenBLAS's runtime kernel choice (numpy's bundled copy), or '?' when it cannot be asked."""
    try:
        import numpy

        libs = glob.glob(os.path.join(os.path.dirname(numpy.__file__) + ".libs", "*openblas*"))
        for path in libs:
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
                         "openblas_get_corename"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    return fn().decode("ascii", "replace")
    except (OSError, ImportError):
        pass
    return "?"


def describe() -> list[str]:
    model, flags = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    lines = [f"cpu: {model} ({platform.machine()}), {os.cpu_count()} logical cores, {usable} usable",
             f"isa: {' '.join(flags) or '?'}"]
    versions = [f"python {platform.python_version()}"]
    try:
        import numpy

        versions.append(f"numpy {numpy.__version__} (OpenBLAS kernel {_openblas_core()})")
    except ImportError:
        pass
    try:
        import onnxruntime

        versions.append(f"onnxruntime {onnxruntime.__version__}")
    except ImportError:
        pass
    lines.append("libs: " + ", ".join(versions))
    env = sorted(f"{k}={v}" for k, v in os.environ.items() if _ENV.match(k))
    lines.append("env: " + (" ".join(env) if env else "(no OPENBLAS_/OMP_/MKL_/ORT_/*_NUM_THREADS settings)"))
    return lines


def main() -> int:
    for line in describe():
        print(f"machine: {line}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m skipper_export.fuzz``: byte-mutation fuzzing of the exporter's file readers.

Targets: ``gguf`` (``load_gguf`` on a tiny Q4_1 GGUF), ``safetensors`` (``load_hf_folder`` with a
mutated ``model.safetensors``), ``hf-config`` (a mutated ``config.json``). Each execution mutates
the seed file (bit flips, random bytes, truncation, insertion, duplicated runs, and integers
overwritten with boundary values: lengths and counts are where readers go wrong) and loads it. The
contract: a checkpoint or an ``ExportError`` (one line naming the file). Anything else is a finding,
written to ``build/fuzz/findings/`` with its traceback and reproducible from its seed. Memory is
capped (``RLIMIT_AS``) so a size read from the file and allocated unchecked shows up as a
``MemoryError`` finding instead of swapping the machine.

Deterministic: execution ``i`` of a target uses ``random.Random(seed * 1_000_003 + i)``. ``./skipper
test`` runs a short fixed budget (exporters/tests/test_fuzz.py); ``./skipper fuzz --minutes N`` long ones.

Java targets (``java-manifest``, ``java-deployment``, ``java-sentencepiece``, ``java-tokenizer``,
``java-request``, ``java-schema``) are
Jazzer fuzz tests in the SDK's test sources (coverage-guided, libFuzzer inside the JVM), run one per
Maven invocation with ``JAZZER_FUZZ=1``. Their contract is the same (accepted, or the parser's own
exception in one line); a finding fails the run and Jazzer writes the input into the test's
``<Class>Inputs/<method>/`` resource folder, where ``./skipper test`` replays it from then on.
``--minutes`` is the budget of the whole run, split evenly over the targets.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

from .errors import ExportError, OneLineArgumentParser

PY_TARGETS = ("gguf", "safetensors", "hf-config")
# name -> (Maven module, test class, fuzz test method)
JAVA_TARGETS = {
    "java-manifest": ("sdk/bundle", "dev.skipper.bundle.ManifestFuzzTest", "readerAcceptsOrRefusesInOneLine"),
    "java-deployment": ("sdk/core", "dev.skipper.core.config.DeploymentFuzzTest", "loaderAcceptsOrRefusesInOneLine"),
    "java-sentencepiece": ("sdk/core", "dev.skipper.core.tokenizer.SentencePieceModelFuzzTest",
                           "readerAcceptsOrRefusesInOneLine"),
    "java-tokenizer": ("sdk/core", "dev.skipper.core.tokenizer.TokenizerFuzzTest", "encodeAndDecodeAnyInput"),
    "java-request": ("sdk/server", "dev.skipper.server.RequestFuzzTest", "parserAcceptsOrRefusesAsDeclared"),
    "java-schema": ("sdk/core", "dev.skipper.core.constrained.SchemaFuzzTest", "compilerAcceptsOrRefusesInOneLine"),
}
TARGETS = PY_TARGETS + tuple(JAVA_TARGETS)
BOUNDARY_INTS = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF,
                 1 << 32, 1 << 40)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits of ``data``."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            b += bytes([rng.randrange(256)])
        op = rng.randrange(6)
        pos = rng.randrange(len(b))
        if op == 0:  # flip a bit
            b[pos] ^= 1 << rng.randrange(8)
        elif op == 1:  # random bytes
            n = rng.randint(1, 16)
            b[pos:pos + n] = bytes(rng.randrange(256) for _ in range(n))
        elif op == 2:  # truncate
            del b[rng.randrange(len(b)):]
        elif op == 3:  # insert
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif op == 4:  # duplicate a run
            n = rng.randint(1, 256)
            b[pos:pos] = b[pos:pos + n]
        else:  # a boundary integer over 4 or 8 bytes (little-endian, where GGUF keeps counts and lengths)
            width = rng.choice((4, 8))
            v = rng.choice(BOUNDARY_INTS) & ((1 << (8 * width)) - 1)
            b[pos:pos + width] = struct.pack("<Q" if width == 8 else "<I", v)
    return bytes(b)


class Target:
    """A seed file and how to load a mutated copy of it."""

    def __init__(self, name: str, work: Path) -> None:
        from .tiny import make_tiny

        self.name = name
        self.work = work
        models = work / "models"
        if name == "gguf":
            self.seed_path = make_tiny(models / "gguf", "gguf", "spm", "Q4_1")
        else:
            self.folder = make_tiny(models / "hf", "hf", "bpe", layers=2)
            self.seed_path = self.folder / ("model.safetensors" if name == "safetensors" else "config.json")
        self.seed = self.seed_path.read_bytes()

    def load(self, data: bytes) -> None:
        from .load.gguf_source import load_gguf
        from .load.hf_source import load_hf_folder

        if self.name == "gguf":
            f = self.work / "case.gguf"
            f.write_bytes(data)
            load_gguf(f)
        else:
            case = self.work / "case"
            if not case.exists():
                shutil.copytree(self.folder, case)
            (case / self.seed_path.name).write_bytes(data)
            load_hf_folder(case)


def _unlimit_memory() -> None:
    """In a child process: lift this process's address-space cap (a JVM reserves far more than it uses)."""
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def _limit_memory(gib: float) -> None:
    try:
        import resource

        limit = int(gib * (1 << 30))
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def run(target: str, executions: int | None, seconds: float | None, seed: int, out: Path | None,
        log: Callable[[str], None] = print) -> dict:
    """Fuzzes one target for a number of executions or seconds; returns counts and findings."""
    findings: list[dict] = []
    with tempfile.TemporaryDirectory(prefix=f"skipper-fuzz-{target}-") as tmp:
        t = Target(target, Path(tmp))
        t.load(t.seed)  # the seed itself must load
        start, i, refused = time.monotonic(), 0, 0
        while (executions is None or i < executions) and (seconds is None or time.monotonic() - start < seconds):
            rng = random.Random(seed * 1_000_003 + i)
            data = mutate(t.seed, rng)
            try:
                t.load(data)
            except ExportError as e:
                refused += 1
                if "\n" in str(e):
                    findings.append(_finding(target, seed, i, data, f"multi-line ExportError: {e!r}", out))
            except Exception as e:  # noqa: BLE001 - every other exception is what the fuzzer looks for
                findings.append(_finding(target, seed, i, data, "".join(traceback.format_exception(e)), out))
            i += 1
        elapsed = time.monotonic() - start
    log(f"fuzz {target}: {i} executions in {elapsed:.0f} s, {refused} refused cleanly, {len(findings)} findings")
    return {"target": target, "executions": i, "seconds": round(elapsed, 1), "refused": refused,
            "findings": findings}


def run_java(target: str, seconds: float, root: Path, log: Callable[[str], None] = print) -> dict:
    """Fuzzes one Jazzer target for ``seconds`` through Maven; returns executions and findings."""
    import os
    import re
    import subprocess

    module, cls, method = JAVA_TARGETS[target]
    total = max(1, int(seconds))
    cmd = ["mvn", "-B", "-ntp", "test", "-pl", module, "-am", f"-Dtest={cls}#{method}",
           "-Dsurefire.failIfNoSpecifiedTests=false", f"-Dskipper.testData={root / 'build' / 'test-data'}",
           # libFuzzer flags after the annotation's (the last one wins): the run's own budget.
           "-Djazzer.internal.arg.0=skipper-fuzz", f"-Djazzer.internal.arg.1=-max_total_time={total}"]
    start = time.monotonic()
    p = subprocess.run(cmd, cwd=root, env={**os.environ, "JAZZER_FUZZ": "1"}, capture_output=True, text=True,
                       timeout=total + 600, preexec_fn=_unlimit_memory)
    elapsed = time.monotonic() - start
    out = re.sub(r"\x1b\[[0-9;]*m", "", p.stdout + p.stderr)
    done = re.findall(r"Done (\d+) runs in (\d+) second", out)
    executions = int(done[-1][0]) if done else 0
    findings: list[dict] = []
    if p.returncode != 0:
        crash = re.findall(r"(?:Test unit written to|artifact_prefix.*?)(\S+crash-\S+)", out)
        lines = [l for l in out.splitlines()
                 if "FuzzTestFindingException" in l or "== Java Exception" in l or l.startswith("[ERROR]")]
        findings.append({"target": target, "error": (lines[0] if lines else out.strip()[-400:])[:400],
                         "file": crash[-1] if crash else None})
    elif not done:
        findings.append({"target": target, "error": "the fuzz test did not run (no libFuzzer summary in the output)"})
    log(f"fuzz {target}: {executions} executions in {elapsed:.0f} s (Maven included), {len(findings)} findings")
    return {"target": target, "executions": executions, "seconds": round(elapsed, 1), "findings": findings}


def _finding(target: str, seed: int, i: int, data: bytes, what: str, out: Path | None) -> dict:
    f = {"target": target, "seed": seed, "execution": i, "error": what.strip().splitlines()[-1]}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        base = out / f"{target}-{seed}-{i}"
        base.with_suffix(".bin").write_bytes(data)
        base.with_suffix(".txt").write_text(what)
        f["file"] = str(base.with_suffix(".bin"))
    return f


def main(argv: list[str] | None = None) -> int:
    p = OneLineArgumentParser(prog="skipper fuzz", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=1.0,
                   help="budget of the whole run, split evenly over the targets (default 1)")
    p.add_argument("--target", choices=TARGETS, action="append", help="a target (repeatable; default all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("build/fuzz/findings"), help="where findings are written")
    p.add_argument("--memory-gib", type=float, default=4.0, help="address-space cap of this process (default 4)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    a = p.parse_args(argv)
    if not a.minutes > 0:
        p.error(f"--minutes must be > 0, got {a.minutes}")
    _limit_memory(a.memory_gib)
    targets = a.target or list(TARGETS)
    share = a.minutes * 60 / len(targets)
    root = Path(__file__).resolve().parents[2]
    results = []
    for t in targets:
        log = lambda s: print(s, file=sys.stderr)  # noqa: E731
        if t in JAVA_TARGETS:
            # Maven's start and the compile take ~30 s of the share; never fuzz for less than 10 s.
            results.append(run_java(t, max(10.0, share - 30), root, log=log))
        else:
            results.append(run(t, None, share, a.seed, a.out, log=log))
    if a.json:
        print(json.dumps(results))
    return 1 if any(r["findings"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

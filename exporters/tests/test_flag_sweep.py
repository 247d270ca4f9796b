"""Every flag of the exporter's commands (``export``, ``calibrate``) at its bounds: zero, negative,
one past a limit, huge, NaN/inf, empty, a 1 MB string, a binary or missing file. Each run must end
within a bounded time either successfully or with one ``error:`` line and exit 2: never a traceback,
never a hang. (The Java CLI's flags: sdk/cli OptionSweepTest.)"""

from __future__ import annotations

import contextlib
import io
import signal
from pathlib import Path

import pytest

from skipper_export.__main__ import main as export_main
from skipper_export.calibrate.__main__ import main as calibrate_main
from skipper_export.tiny import make_tiny

from helpers import export_bundle

HUGE = str(10**15)
BAD_NUMBERS = ["0", "-1", HUGE, "nan", "inf", "", "1e3", "x" * (1 << 20)]
SECONDS = 120  # per run: a bad value must be refused long before this


class _Timeout(Exception):
    pass


def _run(main, argv: list[str]) -> tuple[int, str]:
    """Runs a command in-process under a SIGALRM deadline; returns (exit status, stderr)."""
    def expire(signum, frame):  # noqa: ANN001
        raise _Timeout(f"{argv[:4]} ran longer than {SECONDS} s")

    err = io.StringIO()
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(SECONDS)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(argv)
            except SystemExit as e:  # argparse's exit
                status = e.code if isinstance(e.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return status, err.getvalue()


def _assert_clean(status: int, err: str, what: str) -> None:
    assert "Traceback" not in err, f"{what}: traceback\n{err[-2000:]}"
    if status == 0:
        return
    assert status == 2, f"{what}: exit {status}\n{err[-2000:]}"
    lines = [l for l in err.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("error:")]
    assert len(errors) == 1 and len(errors[0]) <= 2000, f"{what}: not one error line\n{err[-2000:]}"


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    return export_bundle(make_tiny(root / "m", "hf", "bpe", layers=2), root / "b", weights="fp32")


CALIBRATE_INT_FLAGS = ["--tokens", "--own", "--exit-tokens", "--own-passages", "--own-tokens", "--draft-vocab",
                       "--seed", "--first-passages", "--first-tokens", "--threads", "--train-minutes", "--max-updates",
                       "--drafter-prompts", "--drafter-answer-tokens", "--drafter-text-tokens"]


# Values a flag accepts (they calibrate the tiny bundle, quickly with the small settings below).
ACCEPTED = {("--seed", "0"), ("--own", "0"), ("--own-passages", "0"), ("--threads", HUGE), ("--train-minutes", "1e3"),
            ("--drafter-prompts", "0"), ("--drafter-text-tokens", "0")}
# Small settings so that an accepted value calibrates in seconds; the swept flag comes last and wins. The
# feature drafter's flags are checked with the drafter off too (its training: test_feature_drafter.py).
SMALL = ["--no-progress", "--no-skip-search", "--exit-tokens", "64", "--own-passages", "0", "--first-passages", "2",
         "--first-tokens", "4", "--draft-vocab", "8", "--no-feature-drafter", "--drafter-prompts", "1",
         "--drafter-text-tokens", "64"]


@pytest.mark.parametrize("flag", CALIBRATE_INT_FLAGS)
def test_calibrate_numbers_at_their_bounds(flag: str, tiny_bundle: Path) -> None:
    for value in BAD_NUMBERS:
        status, err = _run(calibrate_main, [str(tiny_bundle), *SMALL, flag, value])
        what = f"calibrate {flag} {value[:20]!r}"
        _assert_clean(status, err, what)
        assert status == (0 if (flag, value) in ACCEPTED else 2), f"{what}: exit {status}\n{err[-500:]}"


def test_calibrate_drafter_cache_paths(tiny_bundle: Path, tmp_path: Path) -> None:
    pytest.importorskip("jax")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    drafter = ["--no-progress", "--no-skip-search", "--exit-tokens", "64", "--own-passages", "0", "--first-passages",
               "2", "--first-tokens", "4", "--draft-vocab", "8", "--feature-drafter", "--max-updates", "1",
               "--drafter-prompts", "1", "--drafter-answer-tokens", "4", "--drafter-text-tokens", "64"]
    for value in ["", " ", str(a_file), str(a_file / "sub"), "x" * (1 << 20)]:
        status, err = _run(calibrate_main, [str(tiny_bundle), *drafter, "--drafter-cache", value])
        _assert_clean(status, err, f"calibrate --drafter-cache {value[:20]!r}")
        assert status == 2, f"--drafter-cache {value[:20]!r}: exit {status}"


def test_calibrate_bundle_argument_and_exit_layers(tiny_bundle: Path, tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "manifest.yaml").write_bytes(bytes(range(256)) * 16)
    for bundle in ["", str(tmp_path / "missing"), str(binary), "x" * (1 << 20), str(tiny_bundle / "manifest.yaml")]:
        status, err = _run(calibrate_main, [bundle, "--no-progress"])
        _assert_clean(status, err, f"calibrate bundle {bundle[:40]!r}")
        assert status == 2
    for layers in ["", "0", "-1", HUGE, "nan", "1,,2", "x" * 1000]:
        status, err = _run(calibrate_main, [str(tiny_bundle), "--exit-layers", layers, "--no-progress"])
        _assert_clean(status, err, f"calibrate --exit-layers {layers[:20]!r}")
        assert status == 2


def test_export_flags_at_their_bounds(tmp_path: Path) -> None:
    src = make_tiny(tmp_path / "m", "hf", "bpe", layers=2)
    binary = tmp_path / "binary.gguf"
    binary.write_bytes(bytes(range(256)) * 64)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    cases = [
        ["--source", ""], ["--source", str(tmp_path / "missing.gguf")], ["--source", str(binary)],
        ["--source", str(empty)], ["--source", "x" * (1 << 20)], ["--source", str(src), "--out", ""],
        ["--source", str(src), "--out", str(binary)], ["--source", str(src), "--out", "/proc/skipper-cannot"],
        ["--source", str(src), "--weights", "int3"], ["--source", str(src), "--flavour", ""],
        ["--source", str(src), "--activations", "bfloat16"], ["--source", str(src), "--matmul", "nan"],
    ]
    for extra in cases:
        argv = ["export", *extra]
        if "--out" not in extra:
            argv += ["--out", str(tmp_path / "out")]
        status, err = _run(export_main, [*argv, "--no-progress"])
        _assert_clean(status, err, f"export {[a[:30] for a in extra]}")
        assert status == 2, f"export {[a[:30] for a in extra]} was accepted"
    assert not (tmp_path / "out").exists(), "a refused export leaves nothing behind"

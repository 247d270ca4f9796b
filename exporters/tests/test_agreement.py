"""`score --reference`'s Python half: teacher-forced agreement with the float64 reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import export_bundle
from skipper_export.bench.agreement import main
from skipper_export.tiny import make_tiny
from skipper_export.verify.bundle_session import BundleSession

TOKENS = list(np.random.default_rng(3).integers(3, 500, 120))


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    root = tmp_path_factory.mktemp("agreement")
    src = make_tiny(root / "g", "gguf", "bpe", "Q4_1")
    bundle = export_bundle(src, root / "b", weights="int4")  # fp32 matmuls: exact weights
    argmax = BundleSession(bundle, max_seq=256).teacher_forced_argmax([int(t) for t in TOKENS], chunk=64)
    return src, bundle, argmax


def _java_json(path: Path, argmax: np.ndarray, tokens: list[int] = TOKENS) -> Path:
    """What `skipper score --json` writes (the fields the agreement reads)."""
    path.write_text(json.dumps({"tokens": [int(t) for t in tokens], "argmax": [int(x) for x in argmax[:-1]]}))
    return path


def test_an_exact_bundle_agrees_on_every_decided_position_and_a_wrong_one_does_not(
        case: tuple[Path, Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, bundle, argmax = case
    wrong = argmax.copy()
    wrong[::10] = (wrong[::10] + 1) % 500  # every tenth position changed
    files = [_java_json(tmp_path / "p1.json", argmax), _java_json(tmp_path / "p2.json", wrong)]
    out = tmp_path / "agreement.json"
    assert main(["--java-json", str(files[0]), "--bundle", str(bundle), "--gguf", str(src), "--no-llama-cpp",
                 "--json", "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(out.read_text())
    row = doc["runtimes"][0]
    assert row["positions"] == len(TOKENS) - 1 and row["agreement_decided"] == 1.0, row
    assert main(["--java-json", *map(str, files), "--bundle", str(bundle), "--gguf", str(src), "--no-llama-cpp",
                 "--json"]) == 0
    both = json.loads(capsys.readouterr().out)["runtimes"][0]
    assert both["positions"] == 2 * (len(TOKENS) - 1)
    changed = len(range(0, len(TOKENS) - 1, 10))
    assert row["disagreements"] + changed == both["disagreements"], (row, both)
    assert both["agreement"] == pytest.approx(1 - both["disagreements"] / both["positions"])


def test_bad_inputs_are_one_error_line(case: tuple[Path, Path, np.ndarray], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    src, bundle, argmax = case
    short = _java_json(tmp_path / "short.json", argmax[:50])
    assert main(["--java-json", str(short), "--bundle", str(bundle), "--gguf", str(src), "--no-llama-cpp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "expected argmax for" in err[-1]
    ok = _java_json(tmp_path / "ok.json", argmax)
    assert main(["--java-json", str(ok), "--bundle", str(bundle), "--gguf", str(tmp_path / "none.gguf"),
                 "--no-llama-cpp"]) == 2
    assert "source GGUF is needed" in capsys.readouterr().err

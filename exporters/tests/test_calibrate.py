"""Skip-set calibration of a tiny bundle: manifest section, hashes, the search record, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skipper_export.calibrate.__main__ import calibrate, main
from skipper_export.calibrate.skip_search import expected_speedup, search
from skipper_export.errors import ExportError
from skipper_export.tiny import make_tiny
from skipper_export.verify.bundle_session import load_manifest

from helpers import export_bundle


def test_calibrate_writes_a_skip_set_into_the_bundle(tmp_path: Path) -> None:
    src = make_tiny(tmp_path / "m", "hf", "bpe", layers=4)
    bundle = export_bundle(src, tmp_path / "b", weights="fp32")
    result = calibrate(bundle, budget=96, own=24, threads=1, progress=False)
    m = load_manifest(bundle)  # verifies every hash, the new file's included
    spec = m["speculation"]
    assert spec["skip_layers"] == result["skip_layers"] and spec["skip_layers"]
    assert all(0 <= l < 4 for l in spec["skip_layers"])
    assert 0 <= spec["calibration"]["agreement"] <= 1
    record = json.loads((bundle / "calibration/skip_search.json").read_text())
    assert len(record["evaluations"]) >= 4  # every layer alone, then growing sets
    assert "calibration/skip_search.json" in m["files"]


def test_bad_token_budget_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ExportError):
        calibrate(tmp_path, budget=10, own=0, threads=1, progress=False)
    assert main([str(tmp_path / "missing"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_search_prefers_sets_that_pay_and_the_cost_model_is_monotone() -> None:
    # A model where skipping any of layers 1-4 costs nothing and anything else breaks agreement.
    def agreement_of(skip: frozenset[int]) -> float:
        return 1.0 if skip <= {1, 2, 3, 4} else 0.1

    best, trail = search(6, agreement_of)
    assert set(best.layers) <= {1, 2, 3, 4} and len(best.layers) == 3 and best.speedup > 1
    assert len(trail) == 6 + 3
    assert expected_speedup(0.9, 3, 30)[0] > expected_speedup(0.5, 3, 30)[0]
    assert expected_speedup(0.9, 10, 30)[0] > expected_speedup(0.9, 1, 30)[0]

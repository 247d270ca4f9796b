"""The machine description ./skipper test starts with."""

from __future__ import annotations

import pytest

from skipper_export import machine


def test_describes_cpu_isa_libraries_and_thread_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("UNRELATED_SETTING", "x")
    lines = machine.describe()
    assert [line.split(":")[0] for line in lines] == ["cpu", "isa", "libs", "env"]
    assert "logical cores" in lines[0] and "onnxruntime" in lines[2] and "OpenBLAS kernel" in lines[2]
    assert "OPENBLAS_CORETYPE=Haswell" in lines[3] and "OMP_NUM_THREADS=2" in lines[3]
    assert "UNRELATED_SETTING" not in lines[3]

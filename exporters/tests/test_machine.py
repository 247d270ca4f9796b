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


def test_thread_counts_are_checked_and_capped_at_the_processors(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    cpus = machine.available_cpus()
    assert cpus >= 1
    assert machine.thread_count("1") == 1
    assert machine.thread_count(str(cpus)) == cpus
    assert capsys.readouterr().err == ""
    assert machine.thread_count("999") == min(999, cpus)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threads 999" in err and f"using {cpus}" in err
    for bad in ("0", "-1", "two", "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            machine.thread_count(bad)

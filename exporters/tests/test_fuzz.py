"""Short fuzz runs of the exporter's readers (long runs: ./skipper fuzz --minutes N)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from skipper_export.errors import ExportError
from skipper_export.fuzz import Target, mutate, run


@pytest.mark.parametrize("target,executions", [("gguf", 300), ("safetensors", 1500), ("hf-config", 3000)])
def test_mutated_files_load_or_fail_with_one_line(target: str, executions: int) -> None:
    result = run(target, executions, None, seed=7, out=None, log=lambda s: None)
    assert result["executions"] == executions
    assert result["refused"] > executions // 20, "the mutations must reach the readers' checks"
    assert result["findings"] == [], result["findings"][:3]


def test_regression_a_zero_sized_tensor_dimension(tmp_path: Path) -> None:
    """Found by the fuzzer (gguf, seed 1, execution 1072): a dimension of 0 crashed reshape."""
    t = Target("gguf", tmp_path)
    data = mutate(t.seed, random.Random(1 * 1_000_003 + 1072))
    with pytest.raises(ExportError) as e:
        t.load(data)
    assert "\n" not in str(e.value)


def test_mutations_are_deterministic_and_change_the_file() -> None:
    seed = bytes(range(256)) * 4
    a = [mutate(seed, random.Random(i)) for i in range(50)]
    assert a == [mutate(seed, random.Random(i)) for i in range(50)]
    assert sum(x != seed for x in a) >= 45

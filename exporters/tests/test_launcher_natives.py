"""The launcher points ONNX Runtime's Java loader at native libraries it extracted once, so a start
writes nothing into the JVM's temp folder and leaves nothing there (the loader's own extraction
copies 28 MB per start and its folder outlives the process)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import export_bundle
from skipper_export.tiny import make_tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("unzip") is None or os.uname().sysname != "Linux",
                    reason="the launcher extracts with unzip, on Linux")
def test_a_run_leaves_nothing_in_the_temp_folder(tmp_path: Path) -> None:
    bundle = export_bundle(make_tiny(tmp_path / "m", "gguf", "bpe", "Q4_1"), tmp_path / "b")
    java_tmp = tmp_path / "java-tmp"
    java_tmp.mkdir()
    env = {**os.environ, "SKIPPER_JAVA_OPTS": f"-Djava.io.tmpdir={java_tmp}"}
    r = subprocess.run([str(ROOT / "skipper"), "run", "--bundle", str(bundle), "--prompt", "hello",
                        "--max-tokens", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in java_tmp.iterdir()) == []
    natives = list((ROOT / "sdk/cli/target/native").glob("onnxruntime*/linux-*/libonnxruntime.so"))
    assert natives, "no extracted ONNX Runtime library under sdk/cli/target/native"

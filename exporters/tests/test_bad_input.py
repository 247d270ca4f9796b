"""Bad input through the CLI: one-line error naming the file and problem, exit code 2, and no
bundle (or temp dir) left behind."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skipper_export.tiny import make_tiny

EXPORTERS = Path(__file__).resolve().parents[1]


def run_export(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(EXPORTERS)}
    return subprocess.run([sys.executable, "-m", "skipper_export", "export", "--no-progress", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def assert_clean_failure(r: subprocess.CompletedProcess[str], out: Path, *needles: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir())
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert leftovers == []


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny(tmp_path_factory.mktemp("m") / "g", "gguf", "bpe", "Q4_1")


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny(tmp_path_factory.mktemp("m") / "h", "hf", "spm")


def _copy_hf(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_not_a_gguf_file(tmp_path: Path) -> None:
    f = tmp_path / "model.gguf"
    f.write_text("hello, I am not a model")
    r = run_export("--source", str(f), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", str(f), "not a GGUF file")


def test_missing_source(tmp_path: Path) -> None:
    r = run_export("--source", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", "nope.gguf", "no such file")


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.999])
def test_truncated_gguf(tmp_path: Path, tiny_gguf: Path, keep: float) -> None:
    data = tiny_gguf.read_bytes()
    f = tmp_path / "cut.gguf"
    f.write_bytes(data[: int(len(data) * keep)])
    r = run_export("--source", str(f), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", str(f))
    assert "truncated" in r.stderr or "corrupt" in r.stderr


def _tensor_type_offset(data: bytes, name: str) -> int:
    """Byte offset of the ggml type field in the tensor-info record of ``name``."""
    key = struct.pack("<Q", len(name)) + name.encode()
    at = data.index(key) + len(key)
    (n_dims,) = struct.unpack_from("<I", data, at)
    return at + 4 + 8 * n_dims


def test_unknown_tensor_type(tmp_path: Path, tiny_gguf: Path) -> None:
    data = bytearray(tiny_gguf.read_bytes())
    struct.pack_into("<I", data, _tensor_type_offset(bytes(data), "blk.0.ffn_up.weight"), 250)
    f = tmp_path / "badtype.gguf"
    f.write_bytes(bytes(data))
    r = run_export("--source", str(f), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", str(f), "tensor type")


def test_unsupported_tensor_type(tmp_path: Path) -> None:
    """A type GGUF knows but we do not export (Q5_0) is named in the message."""
    import gguf

    src = make_tiny(tmp_path / "m", "gguf", "bpe", "Q4_0")
    reader = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(str(tmp_path / "q5.gguf"), "llama")
    for key, fld in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        v = fld.contents()
        vtype = fld.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, v, vtype, sub_type=fld.types[-1])
        else:
            w.add_key_value(key, v, vtype)
    for t in reader.tensors:
        arr = gguf.quants.dequantize(t.data, t.tensor_type).reshape(list(reversed([int(d) for d in t.shape])))
        if t.name == "blk.1.ffn_down.weight":
            w.add_tensor(t.name, gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q5_0), raw_dtype=gguf.GGMLQuantizationType.Q5_0)
        else:
            w.add_tensor(t.name, arr.astype(np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    r = run_export("--source", str(tmp_path / "q5.gguf"), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", "blk.1.ffn_down.weight", "Q5_0")


def test_unsupported_architecture(tmp_path: Path, tiny_gguf: Path) -> None:
    data = bytearray(tiny_gguf.read_bytes())
    key = b"general.architecture"
    at = data.index(key) + len(key) + 4 + 8  # value type u32, string length u64
    assert data[at:at + 5] == b"llama"
    data[at:at + 5] = b"mamba"
    f = tmp_path / "arch.gguf"
    f.write_bytes(bytes(data))
    r = run_export("--source", str(f), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", str(f), "unsupported architecture 'mamba'")


def _edit_config(folder: Path, **changes: object) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            cfg.pop(k)
        else:
            cfg[k] = v
    (folder / "config.json").write_text(json.dumps(cfg))


def test_missing_config_key(tmp_path: Path, tiny_hf: Path) -> None:
    d = _copy_hf(tiny_hf, tmp_path / "m")
    _edit_config(d, num_hidden_layers=None)
    r = run_export("--source", str(d), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", "config.json", "num_hidden_layers")


def test_inconsistent_config_is_a_shape_mismatch(tmp_path: Path, tiny_hf: Path) -> None:
    d = _copy_hf(tiny_hf, tmp_path / "m")
    _edit_config(d, intermediate_size=96)
    r = run_export("--source", str(d), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", "shape")


def test_heads_not_dividing(tmp_path: Path, tiny_hf: Path) -> None:
    d = _copy_hf(tiny_hf, tmp_path / "m")
    _edit_config(d, num_key_value_heads=3)
    r = run_export("--source", str(d), "--out", str(tmp_path / "out"))
    assert_clean_failure(r, tmp_path / "out", "num_kv_heads")


def test_existing_out_needs_force(tmp_path: Path, tiny_gguf: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    r = run_export("--source", str(tiny_gguf), "--out", str(out))
    assert r.returncode == 2 and "--force" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (out / "precious.txt").read_text() == "keep me"
    r = run_export("--source", str(tiny_gguf), "--out", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert not (out / "precious.txt").exists() and (out / "manifest.yaml").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_force_export_keeps_the_old_bundle(tmp_path: Path, tiny_gguf: Path) -> None:
    out = tmp_path / "out"
    assert run_export("--source", str(tiny_gguf), "--out", str(out)).returncode == 0
    before = (out / "manifest.yaml").read_bytes()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(tiny_gguf.read_bytes()[:5000])
    r = run_export("--source", str(bad), "--out", str(out), "--force")
    assert r.returncode == 2
    assert (out / "manifest.yaml").read_bytes() == before


def test_unknown_flag_is_a_usage_error(tmp_path: Path, tiny_gguf: Path) -> None:
    r = run_export("--source", str(tiny_gguf), "--out", str(tmp_path / "o"), "--bogus")
    # One line, like every other bad input (argparse's usage block is not printed).
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: skipper: unrecognized arguments: --bogus (see --help)"], r.stderr

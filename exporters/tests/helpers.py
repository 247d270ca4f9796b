"""Shared test helpers: export a source into a bundle and compare it with the numpy reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skipper_export.export import ExportOptions, export
from skipper_export.verify.bundle_session import BundleSession
from skipper_export.verify.yardstick import fp32_bound, top2_margin  # noqa: F401 (re-exported for the tests)


def export_bundle(source: Path | str, out: Path, **kw: object) -> Path:
    """Exports for a test. Unless a test says otherwise, quantized matmuls compute in fp32 on the
    exact weights (``matmul="fp32"``): the parity tests hold bundles to the float32 yardstick, which
    int8 activations (the default recipe's, tested by name) are not meant to meet."""
    kw.setdefault("matmul", "fp32")
    export(ExportOptions(source=str(source), out=out, progress=False, force=True, **kw))  # type: ignore[arg-type]
    return out


def fp32_ratio(got: np.ndarray, want64: np.ndarray, want32: np.ndarray) -> float:
    """max |got - want64| over :func:`fp32_bound`: <= 1 means as close as float32 arithmetic allows."""
    return float(np.abs(got.astype(np.float64) - want64).max()) / fp32_bound(want64, want32)


def fp32_ratios(got: list[np.ndarray], want64: list[np.ndarray], want32: list[np.ndarray]) -> np.ndarray:
    """:func:`fp32_ratio` tensor by tensor (e.g. embeddings, every layer's output, logits)."""
    assert len(got) == len(want64) == len(want32), (len(got), len(want64), len(want32))
    return np.array([fp32_ratio(g, a, b) for g, a, b in zip(got, want64, want32)])


def reference_bounds(source: Path | str, tokens: list[int]) -> dict[str, Any]:
    """Float32-yardstick bounds of ``tokens`` run from an empty cache through ``source``: "logits"
    (float) and per layer "k"/"v" (lists of floats), for checks between two float32 computations of
    the same thing (each within one bound of float64, so within two of each other)."""
    from skipper_export.reference.model import RefKVCache, ReferenceModel

    c64, c32 = RefKVCache(), RefKVCache()
    o64 = ReferenceModel.load(source).forward(tokens, c64)
    o32 = ReferenceModel.load(source, np.float32).forward(tokens, c32)
    return {"logits": fp32_bound(o64.logits, o32.logits),
            "k": [fp32_bound(a, b) for a, b in zip(c64.k, c32.k)],
            "v": [fp32_bound(a, b) for a, b in zip(c64.v, c32.v)]}


def batch_vs_alone_max_diff(bundle: Path, seed: int, trials: int = 3) -> tuple[float, int]:
    """Largest |logit| difference between tokens verified n at a time and the same tokens one by one."""
    batch, alone = BundleSession(bundle, max_seq=160), BundleSession(bundle, max_seq=160)
    rng = np.random.default_rng(seed)
    vocab = int(batch.manifest["model"]["vocab_size"])
    worst, rows = 0.0, 0
    for _ in range(trials):
        prompt = [int(t) for t in rng.integers(3, vocab, int(rng.integers(3, 60)))]
        for n in (2, 3, 5, 8):
            drafts = [int(t) for t in rng.integers(3, vocab, n)]
            batch.truncate(0)
            batch.forward(prompt)
            many, _ = batch.forward(drafts)
            alone.truncate(0)
            alone.forward(prompt)
            for i, t in enumerate(drafts):
                one, _ = alone.forward([t])
                worst = max(worst, float(np.abs(many[i] - one[0]).max()))
                rows += 1
    return worst, rows


def edge_case_texts() -> list[str]:
    from skipper_export.verify.goldens import EDGE_CASES

    return list(EDGE_CASES)


def rewrite_gguf(src: Path, dst: Path, types: dict[str, str], scale: float = 1.0,
                 fields: dict[str, object] | None = None) -> Path:
    """Copy a GGUF file, re-encoding the named tensors (GGUF names) as other GGML types (their values
    multiplied by ``scale``) and replacing the values of the metadata keys in ``fields``."""
    import gguf

    from skipper_export.tiny.ggml_quant import quantize

    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(str(dst), arch)
    for key, fld in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = (fields or {}).get(key, fld.contents())
        if fld.types[0] == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, value, fld.types[0], sub_type=fld.types[-1])
        else:
            w.add_key_value(key, value, fld.types[0])
    for t in reader.tensors:
        if t.name in types:
            arr = gguf.quants.dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)]) * scale
            qt = gguf.GGMLQuantizationType[types[t.name]]
            w.add_tensor(t.name, quantize(arr.astype(np.float32), qt), raw_dtype=qt)
        else:
            w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    missing = set(fields or {}) - set(reader.fields)
    assert not missing, f"no such GGUF fields: {missing}"
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst

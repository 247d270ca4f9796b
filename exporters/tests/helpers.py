"""Shared test helpers: export a source into a bundle and compare it with the numpy reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skipper_export.export import ExportOptions, export

# Parity tolerance for fp32 graphs against the float64 reference (elementwise, allclose-style).
ATOL, RTOL = 1e-4, 1e-3


def export_bundle(source: Path | str, out: Path, **kw: object) -> Path:
    export(ExportOptions(source=str(source), out=out, progress=False, force=True, **kw))  # type: ignore[arg-type]
    return out


def tolerance_ratio(got: np.ndarray, want: np.ndarray, atol: float = ATOL, rtol: float = RTOL) -> float:
    """max |got - want| / (atol + rtol*|want|): <= 1 means within tolerance everywhere."""
    return float((np.abs(got.astype(np.float64) - want) / (atol + rtol * np.abs(want))).max())


def edge_case_texts() -> list[str]:
    from skipper_export.verify.goldens import EDGE_CASES

    return list(EDGE_CASES)


def rewrite_gguf(src: Path, dst: Path, types: dict[str, str]) -> Path:
    """Copy a GGUF file, re-encoding the named tensors (GGUF names) as other GGML types."""
    import gguf

    from skipper_export.tiny.ggml_quant import quantize

    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(str(dst), arch)
    for key, fld in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if fld.types[0] == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, fld.contents(), fld.types[0], sub_type=fld.types[-1])
        else:
            w.add_key_value(key, fld.contents(), fld.types[0])
    for t in reader.tensors:
        if t.name in types:
            arr = gguf.quants.dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)])
            qt = gguf.GGMLQuantizationType[types[t.name]]
            w.add_tensor(t.name, quantize(arr.astype(np.float32), qt), raw_dtype=qt)
        else:
            w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst

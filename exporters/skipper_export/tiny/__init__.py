"""Tiny random Llama/Qwen2 models (HF folders and GGUF files) for fast, offline tests.

Everything is generated locally and deterministically: tokenizers are trained on the
Python standard library's pydoc topic text, weights come from a seeded numpy generator.
Use :func:`make_tiny`; the same arguments always give byte-identical files, and an
existing output made from the same arguments is reused (cache-friendly).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ExportError
from .weights import TinySpec, random_weights

__all__ = ["TinySpec", "make_tiny", "random_weights", "STAMP_FILE", "GGUF_FILE"]

STAMP_FILE = "tiny.json"  # describes what was generated; used as the cache key
GGUF_FILE = "model.gguf"
_GENERATOR_VERSION = 1  # bump when output bytes change for the same arguments

K_QUANT_SPEC: dict[str, Any] = {"hidden": 256, "intermediate": 512, "heads": 4, "kv_heads": 2, "layers": 2}
"""Spec overrides for Q4_K / Q6_K files: all row lengths multiples of 256, still tiny."""


def _request(fmt: str, kind: str, tensor_type: str, shards: int, dtype: str, spec: TinySpec) -> dict[str, Any]:
    import sentencepiece
    import tokenizers

    # Trainer and corpus versions are part of the key: they change the tokenizer bytes.
    return {
        "generator_version": _GENERATOR_VERSION,
        "format": fmt,
        "tokenizer": kind,
        "tensor_type": tensor_type if fmt == "gguf" else None,
        "shards": shards if fmt == "hf" else None,
        "dtype": dtype if fmt == "hf" else None,
        "spec": dataclasses.asdict(spec),
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "sentencepiece": sentencepiece.__version__,
        "tokenizers": tokenizers.__version__,
    }


def _result_path(out: Path, fmt: str) -> Path:
    return out / GGUF_FILE if fmt == "gguf" else out


def _matches(out: Path, request: dict[str, Any]) -> bool:
    try:
        stamp = json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(stamp.get("request") == request)


def _generate(tmp: Path, fmt: str, kind: str, tensor_type: str, shards: int, dtype: str, spec: TinySpec, request: dict[str, Any]) -> None:
    from . import tokenizers_train as tt
    from .write_gguf import normalize_tensor_type, plan_tensor_types, write_gguf
    from .write_hf import write_hf_folder

    tok_file = tmp / tt.tokenizer_filename(kind)
    tt.train_tokenizer(kind, spec.vocab_size, tok_file)
    # The model's vocab is exactly the trained tokenizer's (byte-level BPE may stop short).
    spec = dataclasses.replace(spec, vocab_size=tt.tokenizer_vocab_size(kind, tok_file))
    weights = random_weights(spec)
    stamp: dict[str, Any] = {"request": request, "spec": spec.to_json(), "files": {}}
    if fmt == "hf":
        write_hf_folder(tmp, spec, weights, kind, shards=shards, dtype=dtype, tokenizer_file=tok_file)  # type: ignore[arg-type]
    else:
        write_gguf(tmp / GGUF_FILE, spec, weights, kind, tensor_type, tokenizer_file=tok_file)  # type: ignore[arg-type]
        plan = plan_tensor_types(weights, normalize_tensor_type(tensor_type))
        stamp["tensor_types"] = {k: v.name for k, v in plan.items()}
    stamp["files"] = sorted(p.name for p in tmp.iterdir())
    (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")


def make_tiny(
    out_dir: str | os.PathLike[str],
    fmt: str,
    tokenizer_kind: str,
    tensor_type: str = "F32",
    *,
    shards: int = 1,
    dtype: str = "float32",
    **spec_overrides: Any,
) -> Path:
    """Generate (or reuse) a tiny model in ``out_dir``; return the folder (hf) or the .gguf path.

    ``fmt``: 'hf' or 'gguf'. ``tokenizer_kind``: 'spm' or 'bpe'. ``tensor_type`` (gguf only):
    F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K Q6_K MIXED. ``shards`` / ``dtype`` (hf only).
    ``spec_overrides`` are :class:`TinySpec` fields (layers, hidden, heads, kv_heads,
    intermediate, vocab_size, tie_word_embeddings, attention_bias, seed, ...). For Q4_K /
    Q6_K the defaults become hidden=256, intermediate=512 unless overridden.

    The output is written to a temp folder next to ``out_dir`` and renamed into place, so a
    half-written model is never seen. If ``out_dir`` already holds output of the same request
    it is returned as is; if it holds other tiny output (or is empty) it is replaced; any
    other existing folder is an error (never deleted).
    """
    if fmt not in ("hf", "gguf"):
        raise ExportError("tiny", f"format {fmt!r} must be 'hf' or 'gguf'")
    if tokenizer_kind not in ("spm", "bpe"):
        raise ExportError("tiny", f"tokenizer {tokenizer_kind!r} must be 'spm' or 'bpe'")
    if fmt == "gguf":
        from .write_gguf import normalize_tensor_type

        tensor_type = normalize_tensor_type(tensor_type)
        if tensor_type in ("Q4_K", "Q6_K"):
            # K-quants need 256-wide rows; keep the model tiny but make every matrix fit.
            for k in ("hidden", "intermediate"):
                spec_overrides.setdefault(k, K_QUANT_SPEC[k])
    fields = {f.name for f in dataclasses.fields(TinySpec)}
    unknown = sorted(set(spec_overrides) - fields)
    if unknown:
        raise ExportError("tiny", f"unknown spec field(s) {unknown}; known: {sorted(fields)}")
    spec = TinySpec(**spec_overrides)
    spec.validate()
    request = _request(fmt, tokenizer_kind, tensor_type, shards, dtype, spec)

    out = Path(out_dir)
    if out.exists():
        if _matches(out, request):
            return _result_path(out, fmt)
        if not out.is_dir() or (any(out.iterdir()) and not (out / STAMP_FILE).exists()):
            raise ExportError("tiny", f"{out} exists and is not a tiny-model folder; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _generate(tmp, fmt, tokenizer_kind, tensor_type, shards, dtype, spec, request)
        if out.exists():
            shutil.rmtree(out)
        try:
            os.replace(tmp, out)
        except OSError:
            # Another process (e.g. a parallel test worker) won the race with the same request.
            if not _matches(out, request):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _result_path(out, fmt)

"""Initializers moved out of a graph into a data file next to it (ONNX external data).

Why: ONNX Runtime maps an external initializer whose offset is a multiple of the allocation
granularity straight from the file instead of copying it. A Gather-only table (the token embedding)
then costs resident memory only for the rows a prompt touches (-30 MB for SmolLM2's int8 table),
and the pages are the page cache's, shared by every process that loads the bundle. Weights that
ONNX Runtime prepacks (MatMulNBits) gain nothing: it copies them into its own layout anyway.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, numpy_helper

# 64 KiB: the mapping granularity of every page size in use (4 KiB x86, 16/64 KiB ARM kernels).
ALIGN = 1 << 16
MIN_BYTES = 4096  # smaller tensors stay inline: no mapping is worth a page


def externalize(model: onnx.ModelProto, location: str, min_bytes: int = MIN_BYTES, align: int = ALIGN,
                always: frozenset[str] = frozenset()) -> bytes:
    """Moves every initializer of at least ``min_bytes`` raw bytes (and those named in ``always``)
    into the returned data, each at an ``align``-aligned offset, and points the tensor at
    ``location`` (relative to the graph's file)."""
    data = bytearray()
    for t in model.graph.initializer:
        raw = t.raw_data
        if len(raw) < min_bytes and t.name not in always:
            continue
        data += b"\0" * ((-len(data)) % align)
        offset = len(data)
        data += raw
        _point_at(t, location, offset)
    return bytes(data)


def _point_at(t: TensorProto, location: str, offset: int) -> None:
    """Makes ``t`` an external initializer: its raw bytes at ``offset`` of ``location``."""
    length = len(t.raw_data)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    del t.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value


def share(model: onnx.ModelProto, data: bytes, location: str, min_bytes: int = MIN_BYTES) -> list[str]:
    """Points every initializer of ``model`` whose bytes already lie, whole and aligned, in
    ``data`` (another graph's external data file, written at ``location``) at that region instead
    of keeping its own copy; returns their names. Equal bytes are the proof: a tied LM head whose
    8-bit MatMulNBits weights and scales are exactly the embedding table's (graphs/embed.py, bias
    128) keeps none of its own, -32 MB of bundle for SmolLM2. ONNX Runtime resolves the location
    against the graph's own folder, so both graphs must sit in the same one."""
    view = memoryview(data)
    shared = []
    for t in model.graph.initializer:
        raw = t.raw_data
        if len(raw) < min_bytes:
            continue
        head = raw[:64]  # a cheap look before comparing whole regions
        hit = next((o for o in range(0, len(data) - len(raw) + 1, ALIGN)
                    if data[o:o + 64] == head and view[o:o + len(raw)] == raw), None)
        if hit is None:
            continue
        _point_at(t, location, hit)
        shared.append(t.name)
    return shared


# The embedding graph's initializers (graphs/embed.py): a plain table, or block-quantized values
# with per-block scales and optional offsets.
EMBED_TENSORS = frozenset({"embed_tokens", "embed_tokens.q", "embed_tokens.scales", "embed_tokens.offsets"})
# Unsigned bytes standing for b - 128 (graphs/embed.py with bias 128): MatMulNBits' 8-bit layout.
BIASED_INT8 = "biased_int8"
_VALUE_TYPES = {TensorProto.INT8: "int8", TensorProto.UINT8: "uint8", TensorProto.FLOAT: "float32",
                TensorProto.FLOAT16: "float16"}


def embed_table(model: onnx.ModelProto, location: str, rows: int, columns: int, block: int) -> dict | None:
    """The manifest's ``graphs.embed.table``: where an externalized embedding graph's rows lie in its
    data file, so a runtime can read a token's row itself (positional reads: no mapped pages count
    as its resident memory) instead of running the graph. Row r, column c is
    ``float(values[r, c]) * scales[r, c // block] + offsets[r, c // block]`` (scales and offsets
    when present, float32), exactly what the graph computes with float32 activations; None when the
    graph's activations are not float32, a tensor stayed inline or its shape is not ``rows`` x
    ``columns`` (blocks of ``block``). A graph that subtracts ``embed_tokens.bias`` from its uint8
    values (graphs/embed.py) is described as ``values: biased_int8`` when that bias is 128."""
    if model.graph.output[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        return None
    found: dict[str, tuple[int, int]] = {}  # name -> (data type, offset)
    for t in model.graph.initializer:
        if t.name not in EMBED_TENSORS:
            continue
        want = [rows, columns] if t.name in ("embed_tokens", "embed_tokens.q") else [rows, columns // block]
        if list(t.dims) != want:
            return None  # a table padded past the vocabulary (or otherwise shaped): the runtime runs the graph
        if t.data_location != TensorProto.EXTERNAL:
            return None
        meta = {e.key: e.value for e in t.external_data}
        if meta.get("location") != location:
            return None
        found[t.name] = (t.data_type, int(meta.get("offset", "0")))
    if "embed_tokens" in found:
        dtype, offset = found["embed_tokens"]
        if dtype not in (TensorProto.FLOAT, TensorProto.FLOAT16):
            return None
        return {"file": location, "rows": rows, "columns": columns, "values": _VALUE_TYPES[dtype],
                "values_offset": offset}
    if "embed_tokens.q" not in found or "embed_tokens.scales" not in found:
        return None
    qtype, qoff = found["embed_tokens.q"]
    stype, soff = found["embed_tokens.scales"]
    if qtype not in (TensorProto.INT8, TensorProto.UINT8) or stype != TensorProto.FLOAT:
        return None
    bias = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "embed_tokens.bias"]
    biased = bool(bias)
    if biased and (bias[0].size != 1 or float(bias[0].reshape(-1)[0]) != 128 or qtype != TensorProto.UINT8 or "embed_tokens.offsets" in found):
        return None
    table = {"file": location, "rows": rows, "columns": columns,
             "values": BIASED_INT8 if biased else _VALUE_TYPES[qtype],
             "values_offset": qoff, "block_size": block, "scales_offset": soff}
    if "embed_tokens.offsets" in found:
        otype, ooff = found["embed_tokens.offsets"]
        if otype != TensorProto.FLOAT:
            return None
        table["offsets_offset"] = ooff
    return table

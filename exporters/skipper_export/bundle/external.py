"""Initializers moved out of a graph into a data file next to it (ONNX external data).

Why: ONNX Runtime maps an external initializer whose offset is a multiple of the allocation
granularity straight from the file instead of copying it. A Gather-only table (the token embedding)
then costs resident memory only for the rows a prompt touches (-30 MB for SmolLM2's int8 table),
and the pages are the page cache's, shared by every process that loads the bundle. Weights that
ONNX Runtime prepacks (MatMulNBits) gain nothing: it copies them into its own layout anyway.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto

# 64 KiB: the mapping granularity of every page size in use (4 KiB x86, 16/64 KiB ARM kernels).
ALIGN = 1 << 16
MIN_BYTES = 4096  # smaller tensors stay inline: no mapping is worth a page


def externalize(model: onnx.ModelProto, location: str, min_bytes: int = MIN_BYTES, align: int = ALIGN) -> bytes:
    """Moves every initializer of at least ``min_bytes`` raw bytes into the returned data, each at an
    ``align``-aligned offset, and points the tensor at ``location`` (relative to the graph's file)."""
    data = bytearray()
    for t in model.graph.initializer:
        raw = t.raw_data
        if len(raw) < min_bytes:
            continue
        data += b"\0" * ((-len(data)) % align)
        offset = len(data)
        data += raw
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(len(raw)))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
    return bytes(data)

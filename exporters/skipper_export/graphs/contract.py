"""Names, shapes and dtypes of every graph's inputs and outputs: the runtime contract.

Symbolic dims: ``seq`` = new tokens this run (1 for decode, many for prefill/verification),
``past`` = tokens already in the layer's KV cache, ``max_seq`` = the runtime's cache capacity,
``rope_positions`` = rows of the bundle's rotary table. Batch is fixed to 1 (one sequence per session).
Documented in docs/bundle-format.md; the manifest repeats it per graph.

Two KV layouts (``kv_cache.layout`` in the manifest):
  sequence_major      (standard flavour) past = a prefix view [1, past, kv_heads, D] of the cache;
                      the graph returns only the new rows, which the runtime stores after it.
  head_major_shared   (ort flavour) past_key and present_key are the SAME runtime buffer
                      [1, kv_heads, max_seq, D]; ONNX Runtime's GroupQueryAttention reads the valid
                      prefix (seqlens_k) and writes the new rows in place. One node for RoPE +
                      attention, and tensors the runtime creates once per cache instead of per call.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # float32 | float16 | int64 | int32
    shape: tuple  # ints and symbolic dim names

    def as_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def embed_io(hidden: int, act: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    return ([TensorSpec("input_ids", "int64", (1, "seq"))],
            [TensorSpec("hidden", act, (1, "seq", hidden))])


KV_LAYOUTS = ("sequence_major", "head_major_shared")


def kv_layout(flavour: str) -> str:
    return "head_major_shared" if flavour == "ort" else "sequence_major"


def layer_io(hidden: int, kv_heads: int, head_dim: int, act: str,
             layout: str = "sequence_major", kv: str | None = None) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """kv: the cache's (and the rotary tables') element type when it differs from the activations'
    (head_major_shared only: float16 K/V next to float32 activations halves the cache)."""
    kv = kv or act
    if layout == "head_major_shared":
        cache = (1, kv_heads, "max_seq", head_dim)
        return ([TensorSpec("hidden", act, (1, "seq", hidden)),
                 TensorSpec("past_key", kv, cache),
                 TensorSpec("past_value", kv, cache),
                 TensorSpec("seqlens_k", "int32", (1,)),
                 TensorSpec("total_sequence_length", "int32", ()),
                 TensorSpec("cos_cache", kv, ("rope_positions", head_dim // 2)),
                 TensorSpec("sin_cache", kv, ("rope_positions", head_dim // 2))],
                [TensorSpec("hidden_out", act, (1, "seq", hidden)),
                 TensorSpec("present_key", kv, cache),
                 TensorSpec("present_value", kv, cache)])
    if layout != "sequence_major":
        raise ValueError(f"unknown KV layout {layout!r}")
    if kv != act:
        raise ValueError("a KV type other than the activations' needs the head_major_shared layout")
    return ([TensorSpec("hidden", act, (1, "seq", hidden)),
             TensorSpec("position_ids", "int64", (1, "seq")),
             TensorSpec("past_key", act, (1, "past", kv_heads, head_dim)),
             TensorSpec("past_value", act, (1, "past", kv_heads, head_dim))],
            [TensorSpec("hidden_out", act, (1, "seq", hidden)),
             TensorSpec("key", act, (1, "seq", kv_heads, head_dim)),
             TensorSpec("value", act, (1, "seq", kv_heads, head_dim))])


def kv_fill_io(hidden: int, kv_heads: int, head_dim: int, act: str,
               layout: str = "sequence_major", kv: str | None = None) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """A layer's K/V only (lossy adaptive depth fills deeper layers of an exited token): the layer's
    inputs without hidden_out; sequence_major needs no past (nothing is attended)."""
    ins, outs = layer_io(hidden, kv_heads, head_dim, act, layout, kv)
    if layout == "head_major_shared":
        return ins, outs[1:]
    return ins[:2], outs[1:]


def head_io(hidden: int, vocab: int, act: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    return ([TensorSpec("hidden", act, (1, "seq", hidden))],
            [TensorSpec("logits", "float32", (1, "seq", vocab))])

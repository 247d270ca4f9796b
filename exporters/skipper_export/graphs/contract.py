"""Names, shapes and dtypes of every graph's inputs and outputs: the runtime contract.

Symbolic dims: ``seq`` = new tokens this run (1 for decode, many for prefill/verification),
``past`` = tokens already in the layer's KV cache. Batch is fixed to 1 (one sequence per session).
Documented in docs/bundle-format.md; the manifest repeats it per graph.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # float32 | float16 | int64
    shape: tuple  # ints and symbolic dim names

    def as_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def embed_io(hidden: int, act: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    return ([TensorSpec("input_ids", "int64", (1, "seq"))],
            [TensorSpec("hidden", act, (1, "seq", hidden))])


def layer_io(hidden: int, kv_heads: int, head_dim: int, act: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    return ([TensorSpec("hidden", act, (1, "seq", hidden)),
             TensorSpec("position_ids", "int64", (1, "seq")),
             TensorSpec("past_key", act, (1, "past", kv_heads, head_dim)),
             TensorSpec("past_value", act, (1, "past", kv_heads, head_dim))],
            [TensorSpec("hidden_out", act, (1, "seq", hidden)),
             TensorSpec("key", act, (1, "seq", kv_heads, head_dim)),
             TensorSpec("value", act, (1, "seq", kv_heads, head_dim))])


def head_io(hidden: int, vocab: int, act: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    return ([TensorSpec("hidden", act, (1, "seq", hidden))],
            [TensorSpec("logits", "float32", (1, "seq", vocab))])

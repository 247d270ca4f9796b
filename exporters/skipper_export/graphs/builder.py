"""A small ONNX graph builder: deterministic node names, initializers and typed graph I/O."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

STANDARD_OPSET = 21  # blocked DequantizeLinear and 4-bit types need opset 21
MS_DOMAIN = "com.microsoft"

DTYPES = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16, "int64": TensorProto.INT64,
          "int32": TensorProto.INT32}
NP_DTYPES = {"float32": np.float32, "float16": np.float16}


class GraphBuilder:
    """Accumulates nodes and initializers; names are derived from a prefix and a counter so the
    same calls always give the same graph (deterministic bundle files)."""

    def __init__(self, name: str, act_dtype: str = "float32", kv_dtype: str | None = None) -> None:
        self.name = name
        self.act_dtype = act_dtype  # "float32" | "float16": activations
        self.kv_dtype = kv_dtype or act_dtype  # KV cache and rotary tables (GroupQueryAttention's type)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.uses_ms_domain = False
        self._count = 0
        self._const_cache: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    # --- names and constants ---
    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def add_initializer(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def add_raw_initializer(self, name: str, data_type: int, dims: Sequence[int], raw: bytes) -> str:
        t = onnx.TensorProto()
        t.name = name
        t.data_type = data_type
        t.dims.extend(int(d) for d in dims)
        t.raw_data = raw
        self.initializers.append(t)
        return name

    def const(self, value: Any, dtype: Any) -> str:
        """A small constant, shared by every use of the same value."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.tobytes(), arr.shape)
        if key not in self._const_cache:
            self._const_cache[key] = self.add_initializer(self.fresh("const"), arr)
        return self._const_cache[key]

    def act_const(self, value: Any) -> str:
        return self.const(value, NP_DTYPES[self.act_dtype])

    def i64(self, value: Any) -> str:
        return self.const(value, np.int64)

    # --- nodes ---
    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, domain: str = "", hint: str | None = None,
           **attrs: Any) -> Any:
        outs = [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.fresh("n_" + op_type), domain=domain, **attrs))
        if domain == MS_DOMAIN:
            self.uses_ms_domain = True
        return outs[0] if n_out == 1 else outs

    def cast(self, x: str, dtype: str) -> str:
        return self.op("Cast", [x], to=DTYPES[dtype])

    # --- graph I/O ---
    def add_input(self, name: str, dtype: str, shape: Sequence[Any]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, DTYPES[dtype], list(shape)))
        return name

    def add_output(self, value: str, name: str, dtype: str, shape: Sequence[Any]) -> None:
        """Makes ``value`` a graph output called ``name``: the producing node writes it directly (no
        Identity copy, which would also break GroupQueryAttention's in-place shared KV buffer)."""
        produced = any(value in n.output for n in self.nodes)
        taken = any(name in n.output for n in self.nodes) or any(i.name == name for i in self.inputs)
        if not produced or taken:
            self.nodes.append(helper.make_node("Identity", [value], [name], name=self.fresh("n_out")))
        else:
            for n in self.nodes:
                for field in (n.input, n.output):
                    for i, v in enumerate(field):
                        if v == value:
                            field[i] = name
        self.outputs.append(helper.make_tensor_value_info(name, DTYPES[dtype], list(shape)))

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        opsets = [helper.make_opsetid("", STANDARD_OPSET)]
        if self.uses_ms_domain:
            opsets.append(helper.make_opsetid(MS_DOMAIN, 1))
        m = helper.make_model(graph, opset_imports=opsets, producer_name="skipper_export", producer_version="1")
        m.ir_version = 10  # readable by ONNX Runtime >= 1.20 and TensorRT 10
        return m

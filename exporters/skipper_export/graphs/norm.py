"""RMSNorm: x * w / sqrt(mean(x^2) + eps), always computed in float32."""

from __future__ import annotations

import numpy as np

from .builder import MS_DOMAIN, GraphBuilder


def rms_norm(g: GraphBuilder, x: str, weight: np.ndarray, eps: float, name: str, flavour: str) -> str:
    """x [1, S, H] (activation dtype) -> same shape and dtype."""
    if flavour == "ort" and g.act_dtype == "float32":
        w = g.add_initializer(name, weight.astype(np.float32))
        # ONNX Runtime's fused kernel (registered in the default domain, not part of the ONNX standard).
        return g.op("SimplifiedLayerNormalization", [x, w], axis=-1, epsilon=float(eps), stash_type=1)
    xf = x if g.act_dtype == "float32" else g.cast(x, "float32")
    ms = g.op("ReduceMean", [g.op("Mul", [xf, xf]), g.i64([-1])], keepdims=1)  # [1, S, 1]
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [ms, g.const(eps, np.float32)])])])
    y = g.op("Mul", [g.op("Mul", [xf, inv]), g.add_initializer(name, weight.astype(np.float32))])
    return y if g.act_dtype == "float32" else g.cast(y, g.act_dtype)


def add_rms_norm(g: GraphBuilder, x: str, residual: str, weight: np.ndarray, eps: float, name: str,
                 flavour: str) -> tuple[str, str]:
    """(norm(residual + x), residual + x): the residual add fused with the next norm."""
    if flavour == "ort" and g.act_dtype == "float32":
        w = g.add_initializer(name, weight.astype(np.float32))
        out, _mean, _inv, total = g.op("SkipSimplifiedLayerNormalization", [x, residual, w], n_out=4,
                                      domain=MS_DOMAIN, epsilon=float(eps))
        return out, total
    total = g.op("Add", [residual, x])
    return rms_norm(g, total, weight, eps, name, flavour), total

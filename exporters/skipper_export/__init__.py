"""Skipper exporter: turns Llama-family checkpoints into per-layer ONNX bundles."""

__version__ = "0.8.0"

"""Running exported bundles with ONNX Runtime from Python: the exporter checks its own output."""

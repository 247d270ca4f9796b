"""Calibration of a written bundle: searches that need the model's own forward passes on real text."""

"""Benchmark helpers run by ``./skipper bench``: the llama.cpp baseline, the roofline and the report."""

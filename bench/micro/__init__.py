"""Micro-benchmarks: each runs alone (``python -m bench.micro.<name>``) or as ``micro``."""

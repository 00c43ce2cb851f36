"""The scenarios the driver (``python -m bench.run``) runs; each takes a ``Harness``."""

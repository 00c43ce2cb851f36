"""Shared machinery of the benchmarks: processes, servers, the simulator process, load, outputs."""

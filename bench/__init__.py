"""Benchmarks: ``python -m bench.bench_refresh`` (see bench/README.md)."""

"""Throughput benchmarks (not tests): ``python -m bench.<name>``; each prints a ratio
against a baseline measured in the same run."""

"""Benchmarks: the whole bot against raw vLLM and a naive baseline, in one run, with plots."""

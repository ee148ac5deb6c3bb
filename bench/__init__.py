"""Benchmarks: scripts that time the pipeline's engines at scale (never part of ``make test``)."""

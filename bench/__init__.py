"""Benchmarks: each prints one line that begins with its id, the figure and its ratio."""

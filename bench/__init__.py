"""Benchmarks: each module here has `run() -> dict` of figures; `python -m bench` runs them all."""

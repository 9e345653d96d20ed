"""Traces (and, later, metrics and logging) for every function."""

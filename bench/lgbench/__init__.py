"""The benchmark harness behind bench/run.py (see bench/README.md), one concept per module."""

"""Lockgate: an AI gateway that enforces resource policies on every model call."""

__version__ = "0.1.0"

"""Canonical types and pure per-format codecs (no I/O)."""

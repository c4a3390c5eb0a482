"""Accounting and observability: usage records' sinks (metrics, traces, request log, audit of
denials), the admin-mutation audit, and the ``Observability`` object that wires them in."""

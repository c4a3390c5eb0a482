"""The store's domain errors; the admin API maps them to 404 / 409 / 400.

StoreError
├── NotFoundError      the named tenant, app or key does not exist
├── ConflictError      a name is already taken
└── ValidationError    a value is malformed (``field`` names it)
"""

from __future__ import annotations


class StoreError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFoundError(StoreError):
    pass


class ConflictError(StoreError):
    pass


class ValidationError(StoreError):
    pass

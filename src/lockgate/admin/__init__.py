"""The ``/admin/v1`` control-plane API and the identity CLI commands."""

from .app import create_admin_app
from .context import AdminContext

__all__ = ["AdminContext", "create_admin_app"]

"""Authentication data for the hot path: principals, the key index and its refresher."""

from .index import BOOTSTRAP_KEY_ID, Clock, KeyIndex
from .principal import AdminPrincipal, Principal
from .refresher import IdentityRefresher, IdentitySource

__all__ = [
    "BOOTSTRAP_KEY_ID",
    "AdminPrincipal",
    "Clock",
    "IdentityRefresher",
    "IdentitySource",
    "KeyIndex",
    "Principal",
]

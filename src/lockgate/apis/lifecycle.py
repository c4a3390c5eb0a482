"""The lifecycle of an API version and of a subscription: states and allowed transitions.

Pure data and rules, no imports from the rest of Lockgate, so the store and the admin API
share them.

Version: ``draft`` → ``published`` → ``deprecated`` → ``retired`` (``published`` may also be
retired at once). A draft may be edited or deleted; from ``published`` on, a version is
immutable but for its lifecycle fields (sunset, successor).

Subscription: ``pending`` → ``active`` (approve) or ``rejected`` (reject); ``active`` →
``revoked`` (revoke). A pending subscription may also be revoked (withdrawn). ``rejected`` and
``revoked`` are final: the app asks again with a new request.
"""

from __future__ import annotations

from typing import Literal

VersionStatus = Literal["draft", "published", "deprecated", "retired"]
VERSION_STATUSES: tuple[VersionStatus, ...] = ("draft", "published", "deprecated", "retired")
SubscriptionMode = Literal["auto", "manual"]
SubscriptionStatus = Literal["pending", "active", "rejected", "revoked"]
SUBSCRIPTION_STATUSES: tuple[SubscriptionStatus, ...] = ("pending", "active", "rejected", "revoked")
Decision = Literal["approve", "reject", "revoke"]

# version action -> (states it applies to, resulting state)
VERSION_ACTIONS: dict[str, tuple[frozenset[str], VersionStatus]] = {
    "publish": (frozenset({"draft"}), "published"),
    "deprecate": (frozenset({"published"}), "deprecated"),
    "retire": (frozenset({"published", "deprecated"}), "retired"),
}

DECISIONS: dict[Decision, tuple[frozenset[str], SubscriptionStatus]] = {
    "approve": (frozenset({"pending"}), "active"),
    "reject": (frozenset({"pending"}), "rejected"),
    "revoke": (frozenset({"pending", "active"}), "revoked"),
}

# subscription state -> the webhook event announcing it
EVENTS: dict[SubscriptionStatus, str] = {
    "pending": "subscription.requested",
    "active": "subscription.approved",
    "rejected": "subscription.rejected",
    "revoked": "subscription.revoked",
}

# subscription state -> how a refused call names it
STATE_WORDS: dict[str, str] = {
    "pending": "is pending approval",
    "rejected": "was rejected",
    "revoked": "was revoked",
}

# Live subscriptions: at most one per (app, API).
LIVE: frozenset[str] = frozenset({"pending", "active"})


def version_transition(action: str, status: str) -> VersionStatus | None:
    """The state ``action`` leads to from ``status``, or None when it does not apply."""
    allowed, result = VERSION_ACTIONS[action]
    return result if status in allowed else None


def decision_transition(decision: Decision, status: str) -> SubscriptionStatus | None:
    allowed, result = DECISIONS[decision]
    return result if status in allowed else None


def callable_status(status: str) -> bool:
    return status in ("published", "deprecated")


def parse_version(text: str) -> int | None:
    """A version as a path names it: ``v1`` or ``1``; None when it is neither."""
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdigit() or len(digits) > 9:
        return None
    n = int(digits)
    return n if n >= 1 else None

"""The events Lockgate announces, by name: the vocabulary of ``alerts.webhooks[].events``.

Pure data with no imports, so config validation can refuse a name that would never fire.
"""

from __future__ import annotations

EVENTS: frozenset[str] = frozenset(
    {
        "budget.threshold",  # a cost limit crossed one of its alert_at fractions
        "circuit.open",  # a deployment's breaker opened
        "circuit.close",  # ... and closed again
        "subscription.requested",
        "subscription.approved",
        "subscription.rejected",
        "subscription.revoked",
        "model.error_rate",  # a model's error rate crossed an alerts.rules threshold
        "model.error_rate.resolved",  # ... and fell back under it
        "model.latency",  # a model's latency percentile crossed an alerts.rules threshold
        "model.latency.resolved",
    }
)


def event_pattern_known(pattern: str) -> bool:
    """A webhook's event filter: an event name, ``family.*`` or ``*``."""
    if pattern == "*" or pattern in EVENTS:
        return True
    if pattern.endswith(".*"):
        family = pattern[:-1]
        return any(e.startswith(family) for e in EVENTS)
    return False


def matches(pattern: str, event: str) -> bool:
    return (
        pattern == "*"
        or pattern == event
        or (pattern.endswith(".*") and event.startswith(pattern[:-1]))
    )

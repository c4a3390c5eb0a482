"""Rate-limit response headers: what a client's SDK reads to pace itself.

OpenAI-style ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` on every limited route
(reset as a duration: ``20ms``, ``6m0s``), plus Anthropic's ``anthropic-ratelimit-*`` (reset as
an RFC 3339 time) on Anthropic routes. Each family reports the tightest limit of its measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from lockgate.limits.counters import Check, Outcome

Headers = list[tuple[bytes, bytes]]


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    total = math.ceil(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def rate_headers(
    checks: Sequence[Check], outcomes: Sequence[Outcome], now: float, anthropic: bool
) -> Headers:
    # one pass: the check with the smallest share left, per measure
    best: dict[str, tuple[float, Check, Outcome]] = {}
    for check, outcome in zip(checks, outcomes, strict=True):
        measure = check.spec.measure
        if measure == "cost":
            continue
        share = outcome.remaining / check.spec.limit
        held = best.get(measure)
        if held is None or share < held[0]:
            best[measure] = (share, check, outcome)
    out: Headers = []
    for measure, (_, check, outcome) in best.items():
        limit = check.spec.limit_header
        remaining = str(max(0, math.floor(outcome.remaining))).encode()
        m = measure.encode()
        out += [
            (b"x-ratelimit-limit-" + m, limit),
            (b"x-ratelimit-remaining-" + m, remaining),
            (b"x-ratelimit-reset-" + m, duration(outcome.reset).encode()),
        ]
        if anthropic:
            at = datetime.fromtimestamp(now + outcome.reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            out += [
                (b"anthropic-ratelimit-" + m + b"-limit", limit),
                (b"anthropic-ratelimit-" + m + b"-remaining", remaining),
                (b"anthropic-ratelimit-" + m + b"-reset", at.encode()),
            ]
    return out

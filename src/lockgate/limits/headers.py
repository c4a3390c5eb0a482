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


def _tightest(
    checks: Sequence[Check], outcomes: Sequence[Outcome], measure: str
) -> tuple[Check, Outcome] | None:
    best: tuple[Check, Outcome] | None = None
    for check, outcome in zip(checks, outcomes, strict=True):
        if check.spec.measure != measure:
            continue
        if (
            best is None
            or outcome.remaining / check.spec.limit < best[1].remaining / best[0].spec.limit
        ):
            best = (check, outcome)
    return best


def rate_headers(
    checks: Sequence[Check], outcomes: Sequence[Outcome], now: float, anthropic: bool
) -> Headers:
    out: Headers = []
    for measure in ("requests", "tokens"):
        found = _tightest(checks, outcomes, measure)
        if found is None:
            continue
        check, outcome = found
        limit = str(int(check.spec.limit)).encode()
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

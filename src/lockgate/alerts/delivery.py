"""One webhook delivery: the signed request and what counts as delivered.

The body is the JSON event; ``x-lockgate-signature: sha256=<hex>`` is the HMAC-SHA256 of
``<timestamp>.<body>`` under the webhook's ``secret`` (when one is configured), with the
timestamp in ``x-lockgate-timestamp``, so a receiver can verify origin and reject replays.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from lockgate.upstream import UpstreamRequest

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    events: tuple[str, ...]  # patterns; empty: every event
    secret: str | None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def build_request(
    target: WebhookTarget, event: str, delivery_id: str, timestamp: str, body: bytes
) -> UpstreamRequest:
    headers = [
        ("content-type", "application/json"),
        ("user-agent", "lockgate-webhooks"),
        ("x-lockgate-event", event),
        ("x-lockgate-delivery", delivery_id),
        ("x-lockgate-timestamp", timestamp),
    ]
    if target.secret:
        headers.append(("x-lockgate-signature", signature(target.secret, timestamp, body)))
    return UpstreamRequest("POST", target.url, headers, body)

"""What a guard decided, kept on the request's context for the request log and audit.

A decision names the policy, the guard, the side, the action and the entity types found with
their counts (and a score for prompt injection): never the matched text. The usage record
carries them to the request log and the audit log (``lockgate.usage.record``); each is also
logged on ``lockgate.guards`` (one line per decision, only when a guard acted).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from lockgate.errors import ContentPolicyViolation
from lockgate.guards.spec import Guard
from lockgate.pipeline.context import RequestContext

log = logging.getLogger("lockgate.guards")

ENTITY_WORDS = {
    "EMAIL": "an e-mail address",
    "PHONE": "a phone number",
    "CREDIT_CARD": "a credit card number",
    "IBAN": "an IBAN",
    "SSN": "a US social security number",
    "IP_ADDRESS": "an IP address",
    "DENY": "a denied phrase",
}


@dataclass(frozen=True, slots=True)
class GuardDecision:
    policy: str
    guard: str
    type: str
    side: str  # input | output
    action: str  # block | redact | flag | repair
    entities: tuple[tuple[str, int], ...] = ()
    score: float | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "policy": self.policy,
            "guard": self.guard,
            "type": self.type,
            "side": self.side,
            "action": self.action,
            "entities": dict(self.entities),
        }
        if self.score is not None:
            out["score"] = round(self.score, 4)
        return out


def decide(
    ctx: RequestContext,
    guard: Guard,
    side: str,
    entities: Mapping[str, int],
    score: float | None = None,
    action: str | None = None,
) -> GuardDecision:
    """Record what ``guard`` did on ``side`` of this request (``action``: what it did, when
    that is not its configured action, e.g. ``repair`` for a schema)."""
    d = GuardDecision(
        policy=guard.policy,
        guard=guard.name,
        type=guard.type,
        side=side,
        action=action or guard.action,
        entities=tuple(sorted(entities.items())),
        score=score,
    )
    ctx.guard_decisions = (*ctx.guard_decisions, d)
    log.info(
        "guard decision request=%s policy=%s guard=%s side=%s action=%s entities=%s%s",
        ctx.request_id,
        d.policy,
        d.guard,
        side,
        d.action,
        ",".join(f"{k}:{v}" for k, v in d.entities) or "-",
        f" score={score:.3f}" if score is not None else "",
    )
    return d


def blocked(
    ctx: RequestContext,
    guard: Guard,
    side: str,
    entities: Mapping[str, int],
    score: float | None = None,
) -> ContentPolicyViolation:
    """Record a block and build its 400: names the policy, the guard and what was found."""
    decide(ctx, guard, side, entities, score)
    ctx.decided_by = "guards"  # the pipeline policy; the decision names the config policy
    where = "the prompt" if side == "input" else "the response"
    if guard.type == "prompt_injection":
        what = f"looks like a prompt injection (score {score or 0:.2f} >= {guard.threshold:g})"
    elif guard.type == "schema":
        what = "does not match the response_format schema"
    else:
        kinds = ", ".join(ENTITY_WORDS.get(k, k.lower().replace("_", " ")) for k in entities)
        what = f"contains {kinds}"
    return ContentPolicyViolation(
        f"{guard.label} blocked the request: {where} {what}; the matched text is not shown"
    )

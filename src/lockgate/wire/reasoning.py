"""Reasoning across formats: OpenAI ``reasoning_effort`` <-> Anthropic ``thinking`` <-> Gemini
``generationConfig.thinkingConfig``.

One table of budgets per effort level, used both ways:

==========  ==================  ===============================================
effort      thinking budget     budget -> effort (Anthropic/Gemini -> OpenAI)
==========  ==================  ===============================================
minimal     1,024 tokens        (never chosen from a budget: o-series reject it)
low         2,048 tokens        budget <= 2,048
medium      8,192 tokens        budget <= 8,192
high        24,576 tokens       larger budgets
==========  ==================  ===============================================

1,024 is Anthropic's smallest budget; 24,576 is Gemini 2.5 Flash's largest. A budget is
always sent as a number where the provider takes one, so the mapping is visible in the request
log and the same request costs the same every time.

``max_tokens`` adjustments: Anthropic and Gemini count thinking inside ``max_tokens`` /
``maxOutputTokens`` and Anthropic requires ``max_tokens`` > ``budget_tokens``. When a client's
limit would leave no room for the answer (it is at most the budget), the limit sent is the
budget plus the client's limit, so the client still gets the answer length it asked for.
Without a client limit, the provider default plus the budget is sent. OpenAI counts
reasoning inside ``max_completion_tokens`` too and needs no adjustment.

``thinking: {type: disabled}`` maps to no ``reasoning_effort`` for OpenAI (the model's default)
and to ``thinkingBudget: 0`` for Gemini; ``adaptive`` (the model decides) maps to Gemini's
dynamic budget ``-1`` and, for OpenAI, to no effort (the model's default).
"""

from __future__ import annotations

from types import MappingProxyType

from lockgate.wire.types import Reasoning

EFFORTS = ("minimal", "low", "medium", "high")
EFFORT_BUDGETS: MappingProxyType[str, int] = MappingProxyType(
    {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
)
MIN_ANTHROPIC_BUDGET = 1024
GEMINI_DYNAMIC = -1


def budget_of(r: Reasoning) -> int | None:
    """The token budget to send, or None when thinking is off or left to the model."""
    if not r.enabled or r.adaptive:
        return None
    if r.budget is not None:
        return r.budget
    if r.effort is not None:
        return EFFORT_BUDGETS.get(r.effort)
    return None


def effort_of(r: Reasoning) -> str | None:
    """The OpenAI ``reasoning_effort`` to send, or None for the model's default."""
    if not r.enabled or r.adaptive:
        return None
    if r.effort is not None:
        return r.effort
    if r.budget is None:
        return None
    if r.budget <= EFFORT_BUDGETS["low"]:
        return "low"
    if r.budget <= EFFORT_BUDGETS["medium"]:
        return "medium"
    return "high"


def output_limit(max_tokens: int | None, budget: int, default: int) -> int:
    """``max_tokens`` for a provider that counts thinking inside it (see the module doc)."""
    limit = max_tokens if max_tokens is not None else default + budget
    return limit if limit > budget else budget + limit

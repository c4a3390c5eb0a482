"""What a call cost: tokens times the serving deployment's price (USD per 1M tokens).

Canonical usage counts cache reads and cache writes inside ``input_tokens`` (see
``lockgate.wire.types.Usage``); each part is priced at its own rate, falling back to the input
price when the table has no separate rate. Reasoning tokens are part of ``output_tokens``.
"""

from __future__ import annotations

from lockgate.config.models import Price
from lockgate.wire.types import Usage

PER_TOKEN = 1e-6


def request_cost(usage: Usage, price: Price) -> float:
    cached = usage.cached_input_tokens
    written = usage.cache_creation_input_tokens
    uncached = max(0, usage.input_tokens - cached - written)
    read_rate = price.input if price.cached_input is None else price.cached_input
    write_rate = price.input if price.cache_write is None else price.cache_write
    total = (
        uncached * price.input
        + cached * read_rate
        + written * write_rate
        + usage.output_tokens * price.output
    )
    return total * PER_TOKEN


def tokens_cost(input_tokens: int, output_tokens: int, price: Price) -> float:
    """The most a call of this size may cost (a reservation): every input token uncached."""
    return (input_tokens * price.input + output_tokens * price.output) * PER_TOKEN

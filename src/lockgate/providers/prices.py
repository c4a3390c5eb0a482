"""The shipped price table (``prices.json``): list prices per provider type and model.

A deployment's price is, in order: its own ``price:``, its model's ``price:``, this table
(looked up by the provider type and the upstream model name, accepting dated snapshots and
``-latest`` aliases of a listed model), else unknown. Loaded once per process; nothing is
fetched at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

from lockgate.config.models import Price

# A snapshot suffix of a listed model: -2024-08-06, -20250929, -latest, -001, -preview-05-20
_SNAPSHOT = re.compile(r"-(?:\d{4}-?\d{2}-?\d{2}|latest|\d{3}|preview(?:-[\d-]+)?)$")


@dataclass(frozen=True, slots=True)
class PriceTable:
    as_of: str
    types: dict[str, dict[str, Price]]
    aliases: dict[str, str]

    def lookup(self, provider_type: str, model: str) -> Price | None:
        table = self.types.get(self.aliases.get(provider_type, provider_type), {})
        price = table.get(model)
        if price is not None:
            return price
        base = _SNAPSHOT.sub("", model)
        while base != model:
            price = table.get(base)
            if price is not None:
                return price
            model, base = base, _SNAPSHOT.sub("", base)
        return None


def _parse(doc: dict[str, Any]) -> PriceTable:
    types = {
        kind: {name: Price.model_validate(p) for name, p in models.items()}
        for kind, models in doc["types"].items()
    }
    return PriceTable(as_of=doc["as_of"], types=types, aliases=dict(doc.get("aliases", {})))


@cache
def price_table() -> PriceTable:
    """The table that ships with this package (parsed once; immutable)."""
    raw = resources.files("lockgate.providers").joinpath("prices.json").read_bytes()
    return _parse(orjson.loads(raw))

"""The compiled catalog of API products: what a call and a discovery request read.

``ProductIndex`` is immutable: one is compiled from the config's ``apis:`` at each config load
(``Runtime.apis``), one from the store's products and subscriptions at each identity refresh
(``Services.products``). Templates and schemas are compiled here, once per version (the store
index reuses what it compiled before for versions that did not change); a call only looks
up dicts. The config's definition of a name wins over the store's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from lockgate.errors import InvalidRequest
from lockgate.store.product_records import (
    ApiProduct,
    ApiVersion,
    ProductSnapshot,
    SubscriptionState,
)
from lockgate.wire import api_product
from lockgate.wire.formats import IngressFormat
from lockgate.wire.types import ChatRequest, Message, ResponseFormat, TextPart

from .template import (
    INPUT,
    Schema,
    Template,
    check_input,
    check_output,
    compile_schema,
    compile_template,
    environment,
)

if TYPE_CHECKING:
    from lockgate.config.apis import ApiConfig

log = logging.getLogger("lockgate.apis")


@dataclass(frozen=True, slots=True)
class CompiledVersion:
    api: str
    version: int
    status: str
    model: str
    owner: str | None  # the owning tenant's name
    template: Template
    system: Template | None
    input: Schema
    output: Schema | None
    max_tokens: int | None
    temperature: float | None
    sunset: float | None  # epoch seconds
    successor: int | None
    headers: tuple[tuple[bytes, bytes], ...]  # Deprecation, Sunset, Link
    format: IngressFormat
    stamp: object  # what it was compiled from, to reuse it while that does not change

    @property
    def label(self) -> str:
        return f"'{self.api}' v{self.version}"

    def status_at(self, now: float) -> str:
        """The status a call sees: a version past its sunset is retired."""
        if self.sunset is not None and now >= self.sunset and self.status != "draft":
            return "retired"
        return self.status

    def request(self, data: object) -> ChatRequest:
        """The chat request of one call: inputs checked, defaults filled in, rendered."""
        if not isinstance(data, dict):
            raise InvalidRequest(
                f"API {self.label}: the body must be a JSON object of its inputs",
                param="body",
                code=INPUT,
            )
        stream = data.pop("stream", False)
        if not isinstance(stream, bool):
            raise InvalidRequest("stream: must be true or false", param="stream", code=INPUT)
        inputs = check_input(self.input, data)
        system = self.system.render(inputs, "system prompt") if self.system else None
        fmt = None
        if self.output is not None:
            fmt = ResponseFormat(
                "json_schema", name=_schema_name(self.api), schema=self.output.document
            )
        return ChatRequest(
            model=self.model,
            messages=[Message("user", [TextPart(self.template.render(inputs))])],
            system=[TextPart(system)] if system else [],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            response_format=fmt,
            stream=stream,
            include_usage=stream,
        )

    def finish(self, text: str) -> object:
        if self.output is None:
            return text
        return check_output(self.output, text, self.label)


class ProductIndex:
    __slots__ = ("_apis", "_subscriptions", "_versions", "unannounced")

    def __init__(
        self,
        apis: Iterable[ApiProduct] = (),
        subscriptions: Iterable[SubscriptionState] = (),
        *,
        now: float | None = None,
        previous: ProductIndex | None = None,
        unannounced: int = 0,
    ) -> None:
        self._apis = {a.name: a for a in apis}
        self._subscriptions = {(s.app_id, s.api): s for s in subscriptions}
        self._versions: dict[tuple[str, int], CompiledVersion] = {}
        loaded = time.time() if now is None else now
        for api in self._apis.values():
            for v in api.versions:
                old = previous._versions.get((api.name, v.version)) if previous else None
                stamp = (api.tenant, v)
                if old is not None and old.stamp == stamp:
                    self._versions[(api.name, v.version)] = old
                    continue
                try:
                    self._versions[(api.name, v.version)] = compile_version(api, v, loaded)
                except ValueError as err:  # a row written around the checks: leave it out
                    log.error("API %s v%d cannot be compiled: %s", api.name, v.version, err)
        self.unannounced = unannounced

    @classmethod
    def from_snapshot(
        cls, snapshot: ProductSnapshot, previous: ProductIndex | None = None
    ) -> ProductIndex:
        return cls(
            snapshot.apis,
            snapshot.subscriptions,
            previous=previous,
            unannounced=snapshot.unannounced,
        )

    def api(self, name: str) -> ApiProduct | None:
        return self._apis.get(name)

    def apis(self) -> list[ApiProduct]:
        return list(self._apis.values())

    def version(self, name: str, number: int) -> CompiledVersion | None:
        return self._versions.get((name, number))

    def subscription(self, app_id: str, api: str) -> SubscriptionState | None:
        return self._subscriptions.get((app_id, api))

    def __len__(self) -> int:
        return len(self._apis)


EMPTY = ProductIndex()


def compile_version(api: ApiProduct, v: ApiVersion, loaded: float) -> CompiledVersion:
    env = environment()
    output = compile_schema(v.output_schema, "output_schema") if v.output_schema else None
    compiled = CompiledVersion(
        api=api.name,
        version=v.version,
        status=v.status,
        model=v.model,
        owner=api.tenant,
        template=compile_template(v.template, env),
        system=compile_template(v.system, env, "system") if v.system else None,
        input=compile_schema(v.input_schema or {"type": "object"}, "input_schema", defaults=True),
        output=output,
        max_tokens=v.max_tokens,
        temperature=v.temperature,
        sunset=v.sunset.timestamp() if v.sunset else None,
        successor=v.successor,
        headers=lifecycle_headers(api.name, v, loaded),
        format=_PLACEHOLDER,
        stamp=(api.tenant, v),
    )
    return replace(compiled, format=version_format(compiled))


def lifecycle_headers(name: str, v: ApiVersion, loaded: float) -> tuple[tuple[bytes, bytes], ...]:
    """``Deprecation`` (RFC 9745: ``@<epoch seconds>``) and a ``successor-version`` link
    (RFC 5829) on a deprecated version; ``Sunset`` (RFC 8594: an HTTP-date) on any version
    that has a sunset."""
    out = []
    if v.status == "deprecated":
        since = v.deprecated_at.timestamp() if v.deprecated_at else loaded
        out.append((b"deprecation", f"@{int(since)}".encode()))
    if v.sunset is not None and v.status in ("published", "deprecated"):
        out.append((b"sunset", http_date(v.sunset).encode()))
    if v.status == "deprecated" and v.successor is not None:
        out.append((b"link", successor_link(name, v.successor).encode()))
    return tuple(out)


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def successor_link(name: str, successor: int) -> str:
    return f'</apis/{name}/v{successor}>; rel="successor-version"'


def version_format(v: CompiledVersion) -> IngressFormat:
    """The chat codec of one version: the data plane runs it like any other ingress format."""
    return api_product.ingress_format(v.request, v.finish)


_PLACEHOLDER = api_product.API_FORMAT  # replaced once the version exists


def _schema_name(api: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in api)[:64] or "output"


# --- config ----------------------------------------------------------------------------------


def _moment(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def config_products(apis: Mapping[str, ApiConfig]) -> list[ApiProduct]:
    """The config's ``apis:`` as product records (``source="config"``)."""
    out = []
    for name, api in apis.items():
        versions = tuple(
            ApiVersion(
                version=v.version,
                status=v.status,
                model=v.model,
                template=v.template,
                system=v.system,
                input_schema=dict(v.input_schema) if v.input_schema else {"type": "object"},
                output_schema=dict(v.output_schema) if v.output_schema else None,
                max_tokens=v.max_tokens,
                temperature=v.temperature,
                sunset=_moment(v.sunset),
                successor=v.successor,
                deprecated_at=_moment(v.deprecated_at),
            )
            for v in api.all_versions()
        )
        out.append(
            ApiProduct(
                name=name,
                tenant=api.tenant,
                subscription=api.subscription,
                versions=versions,
                description=api.description,
                plan=api.plan,
                source="config",
            )
        )
    return out


def config_index(apis: Mapping[str, ApiConfig], now: float | None = None) -> ProductIndex:
    return ProductIndex(config_products(apis), now=now) if apis else EMPTY

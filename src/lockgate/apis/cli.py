"""``lockgate apis list|show|create|add-version|publish|deprecate|retire`` and ``lockgate
subscriptions list|request|approve|reject|revoke``: against the store, or with ``--url`` and
``--admin-key`` through a running gateway's admin API (with that key's role and scope).

Straight on the store the actor is ``cli``; gateways pick the change up within a second (their
identity poll) and one of them sends the ``subscription.*`` webhook. ``--config`` also lists
that file's (read-only) APIs and checks plan names against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import click
import orjson

from lockgate.admin.cli import _emit, _store, _store_options
from lockgate.admin.remote import RemoteStore
from lockgate.store import Store
from lockgate.store.errors import ConflictError, ValidationError
from lockgate.store.product_records import ApiProduct, ApiVersion, Subscription

from .catalog import config_products
from .lifecycle import SUBSCRIPTION_STATUSES, callable_status, parse_version
from .remote import RemoteProducts


class LocalProducts:
    """The store's products (and a config file's, read-only) behind the remote interface."""

    def __init__(self, store: Store, config: list[ApiProduct]) -> None:
        self._store = store
        self._config = {a.name: a for a in config}

    def list_apis(self) -> list[ApiProduct]:
        apis = {a.name: a for a in self._store.products.list_apis()} | self._config
        return [apis[n] for n in sorted(apis)]

    def get_api(self, name: str) -> ApiProduct:
        return self._config.get(name) or self._store.products.get_api(name)

    def _writable(self, name: str) -> None:
        if name in self._config:
            raise ValidationError(f"API {name!r} is defined in the config file; change it there")

    def create_api(self, name: str, **fields: Any) -> ApiProduct:
        if name in self._config:
            raise ConflictError(f"API {name!r} already exists (in the config file)")
        return self._store.products.create_api(name, **fields)

    def add_version(self, name: str, **fields: Any) -> ApiVersion:
        self._writable(name)
        return self._store.products.add_version(name, **fields)

    def transition(self, name: str, version: int, action: str, **fields: Any) -> ApiVersion:
        self._writable(name)
        return self._store.products.transition(name, version, action, **fields)

    def request_subscription(
        self, app_id: str, api: str, *, reason: str | None = None, plan: str | None = None
    ) -> Subscription:
        product = self.get_api(api)
        if not any(callable_status(v.status) for v in product.versions):
            raise ConflictError(f"API {api!r} has no published version to subscribe to")
        return self._store.products.request_subscription(
            app_id,
            api,
            mode=product.subscription,
            plan=plan if plan is not None else product.plan,
            reason=reason,
            actor="cli",
        )

    def list_subscriptions(self, **filters: Any) -> list[Subscription]:
        return self._store.products.list_subscriptions(**filters)

    def decide(
        self, subscription_id: str, decision: Any, *, reason: str | None, plan: str | None
    ) -> Subscription:
        return self._store.products.decide(
            subscription_id,
            decision,
            actor="cli",
            reason=reason,
            plan=plan,
            set_plan=plan is not None,
        )


Backend = LocalProducts | RemoteProducts


@contextmanager
def _products(storage: str | None, config_file: str | None) -> Iterator[Backend]:
    with _store(storage, config_file) as (store, _):
        if isinstance(store, RemoteStore):
            yield RemoteProducts(store)
            return
        apis: list[ApiProduct] = []
        if config_file is not None:
            from lockgate.config.loader import load_config_file

            apis = config_products(load_config_file(config_file).apis)
        yield LocalProducts(store, apis)


def _version_arg(text: str) -> int:
    number = parse_version(text)
    if number is None:
        raise click.BadParameter(f"{text!r} is not a version (1 or v1)", param_hint="VERSION")
    return number


def _api_line(a: ApiProduct) -> str:
    versions = ", ".join(f"v{v.version} {v.status}" for v in a.versions) or "no versions"
    owner = a.tenant or "platform"
    return f"{a.name}\towner={owner}\tsubscription={a.subscription}\t{a.source}\t{versions}"


def _version_line(name: str, v: ApiVersion) -> str:
    extra = ""
    if v.sunset is not None:
        extra += f"\tsunset={v.sunset.date().isoformat()}"
    if v.successor is not None:
        extra += f"\tsuccessor=v{v.successor}"
    return f"{name} v{v.version}\t{v.status}\tmodel={v.model}{extra}"


def _sub_line(s: Subscription) -> str:
    plan = f"\tplan={s.plan}" if s.plan else ""
    return f"{s.id}\t{s.tenant}/{s.app_name} ({s.app_id})\t{s.api}\t{s.status}{plan}"


def _json_of(value: Any) -> Any:
    return orjson.loads(orjson.dumps(asdict(value)))


def product_commands() -> list[click.Command]:
    return [_apis(), _subscriptions()]


def _apis() -> click.Group:
    @click.group("apis", help="API products: list, show, create, version and their lifecycle.")
    def apis() -> None:
        pass

    @apis.command("list", help="List API products and their versions.")
    @_store_options
    def list_(storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _products(storage, config_file) as backend:
            rows = backend.list_apis()
        _emit(as_json, [_json_of(a) for a in rows], *map(_api_line, rows))

    @apis.command("show", help="Show one API with its versions.")
    @click.argument("name")
    @_store_options
    def show(name: str, storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _products(storage, config_file) as backend:
            a = backend.get_api(name)
        lines = [_api_line(a), *(_version_line(a.name, v) for v in a.versions)]
        if a.description:
            lines.insert(1, a.description)
        _emit(as_json, _json_of(a), *lines)

    @apis.command("create", help="Create an API (no versions yet).")
    @click.argument("name")
    @click.option("--tenant", help="The owning tenant (default: the platform).")
    @click.option("--description")
    @click.option("--subscription", type=click.Choice(["manual", "auto"]), default="manual")
    @click.option("--plan", help="Default plan of its subscriptions.")
    @_store_options
    def create(
        name: str,
        tenant: str | None,
        description: str | None,
        subscription: str,
        plan: str | None,
        storage: str | None,
        config_file: str | None,
        as_json: bool,
    ) -> None:
        with _products(storage, config_file) as backend:
            a = backend.create_api(
                name, tenant=tenant, description=description, subscription=subscription, plan=plan
            )
        _emit(as_json, _json_of(a), _api_line(a))

    _add_version_command(apis)
    for action in ("publish", "deprecate", "retire"):
        _lifecycle_command(apis, action)
    return apis


def _add_version_command(apis: click.Group) -> None:
    @apis.command("add-version", help="Add a draft version to an API.")
    @click.argument("name")
    @click.option("--model", required=True)
    @click.option("--template", required=True, help="The prompt template (Jinja2).")
    @click.option("--system", help="A system prompt template.")
    @click.option("--input-schema", help="JSON Schema of the inputs (JSON text).")
    @click.option("--output-schema", help="JSON Schema of a JSON answer (JSON text).")
    @click.option("--max-tokens", type=click.IntRange(min=1))
    @click.option("--version", "number", type=click.IntRange(min=1), help="Default: the next.")
    @_store_options
    def add_version(
        name: str,
        model: str,
        template: str,
        system: str | None,
        input_schema: str | None,
        output_schema: str | None,
        max_tokens: int | None,
        number: int | None,
        storage: str | None,
        config_file: str | None,
        as_json: bool,
    ) -> None:
        fields: dict[str, Any] = {"model": model, "template": template, "version": number}
        for key, value in (("input_schema", input_schema), ("output_schema", output_schema)):
            if value is not None:
                try:
                    fields[key] = orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise click.BadParameter("not JSON", param_hint=f"--{key}") from None
        if system is not None:
            fields["system"] = system
        if max_tokens is not None:
            fields["max_tokens"] = max_tokens
        with _products(storage, config_file) as backend:
            v = backend.add_version(name, **fields)
        _emit(as_json, _json_of(v), _version_line(name, v))


def _lifecycle_command(apis: click.Group, action: str) -> None:
    helps = {
        "publish": "Publish a draft version (it becomes immutable and callable).",
        "deprecate": "Deprecate a version: calls get Deprecation and Sunset headers.",
        "retire": "Retire a version: calls answer 410, naming the successor.",
    }

    @click.argument("name")
    @click.argument("version")
    @click.option("--successor", type=click.IntRange(min=1), help="The version to use instead.")
    @_store_options
    def command(
        name: str,
        version: str,
        successor: int | None,
        storage: str | None,
        config_file: str | None,
        as_json: bool,
        sunset: datetime | None = None,
    ) -> None:
        number = _version_arg(version)
        fields: dict[str, Any] = {"successor": successor}
        if sunset is not None:
            fields["sunset"] = sunset.replace(tzinfo=sunset.tzinfo or UTC)
        with _products(storage, config_file) as backend:
            v = backend.transition(name, number, action, **fields)
        _emit(as_json, _json_of(v), _version_line(name, v))

    if action == "deprecate":
        command = click.option(
            "--sunset",
            type=click.DateTime(),
            help="When it stops answering (UTC), e.g. 2027-06-30.",
        )(command)
    apis.command(action, help=helps[action])(command)


def _subscriptions() -> click.Group:
    @click.group("subscriptions", help="Request, list and decide subscriptions to API products.")
    def subscriptions() -> None:
        pass

    @subscriptions.command("list", help="List subscriptions, newest first.")
    @click.option("--status", type=click.Choice(SUBSCRIPTION_STATUSES))
    @click.option("--api")
    @click.option("--app", "app_id", help="An app id.")
    @_store_options
    def list_(
        status: str | None,
        api: str | None,
        app_id: str | None,
        storage: str | None,
        config_file: str | None,
        as_json: bool,
    ) -> None:
        with _products(storage, config_file) as backend:
            rows = backend.list_subscriptions(status=status, api=api, app_id=app_id)
        _emit(as_json, [_json_of(s) for s in rows], *map(_sub_line, rows))

    @subscriptions.command("request", help="Request access for an app to an API.")
    @click.argument("app_id")
    @click.argument("api")
    @click.option("--reason", help="Why the app needs it (shown to the approver).")
    @click.option("--plan", help="Limits for this app on this API (API owner's admins only).")
    @_store_options
    def request(
        app_id: str,
        api: str,
        reason: str | None,
        plan: str | None,
        storage: str | None,
        config_file: str | None,
        as_json: bool,
    ) -> None:
        with _products(storage, config_file) as backend:
            s = backend.request_subscription(app_id, api, reason=reason, plan=plan)
        _emit(as_json, _json_of(s), _sub_line(s))

    for decision in ("approve", "reject", "revoke"):
        _decision_command(subscriptions, decision)
    return subscriptions


def _decision_command(group: click.Group, decision: str) -> None:
    @click.argument("subscription_id")
    @click.option("--reason", help="Recorded with the decision and sent in its webhook event.")
    @_store_options
    def command(
        subscription_id: str,
        reason: str | None,
        storage: str | None,
        config_file: str | None,
        as_json: bool,
        plan: str | None = None,
    ) -> None:
        with _products(storage, config_file) as backend:
            s = backend.decide(subscription_id, decision, reason=reason, plan=plan)
        _emit(as_json, _json_of(s), _sub_line(s))

    if decision == "approve":
        command = click.option("--plan", help="The subscription's plan (its limits on this API).")(
            command
        )
    group.command(decision, help=f"{decision.capitalize()} a subscription.")(command)

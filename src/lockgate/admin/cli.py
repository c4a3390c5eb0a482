"""``lockgate tenants|apps|keys|admin-keys``: identity management, against the store or a
running gateway.

By default the commands write to the store directly; gateways notice every change within a
second by polling the store's identity version, so no gateway needs to run. With ``--url`` (and
``--admin-key``, default ``$LOCKGATE_ADMIN_KEY``) they go through that gateway's admin API
instead, with the admin key's role and tenant scope (admin/remote.py). The lead registers
``identity_commands()`` in cli.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any, TypeVar

import click
import orjson

from lockgate.admin.remote import RemoteStore
from lockgate.admin.schemas import future_expiry
from lockgate.observability.cli_audit import audited_store
from lockgate.store import (
    ADMIN_ROLES,
    DEFAULT_URL,
    AdminKey,
    ApiKey,
    App,
    CreatedKey,
    Store,
    StoreError,
    Tenant,
)

F = TypeVar("F", bound=Callable[..., Any])


def identity_commands() -> list[click.Command]:
    return [_tenants(), _apps(), _keys(), _admin_keys()]


# --- shared plumbing -------------------------------------------------------------------------


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"lockgate.{param.name}"] = value
    return value


def _store_options(f: F) -> F:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(f)
    f = click.option(
        "--admin-key",
        envvar="LOCKGATE_ADMIN_KEY",
        expose_value=False,
        callback=_remember,
        help="Admin key for --url [default: $LOCKGATE_ADMIN_KEY].",
    )(f)
    f = click.option(
        "--url",
        expose_value=False,
        callback=_remember,
        help="A running gateway (e.g. http://127.0.0.1:8080): use its admin API, not the store.",
    )(f)
    f = click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False),
        help="Take the storage URL (and the plan names) from this config file.",
    )(f)
    f = click.option(
        "--storage",
        default=None,
        help=f"Store URL [default: $LOCKGATE_STORAGE or {DEFAULT_URL}]; overrides --config.",
    )(f)
    return f


Backend = Store | RemoteStore


@contextmanager
def _store(
    storage: str | None, config_file: str | None
) -> Iterator[tuple[Backend, set[str] | None]]:
    """Open (and migrate) the store, or the gateway of --url; yields it with the config's plan
    names, if a config was given."""
    meta = click.get_current_context().meta
    if meta.get("lockgate.url"):
        admin_key = meta.get("lockgate.admin_key")
        if not admin_key:
            raise click.UsageError("--url needs --admin-key (or $LOCKGATE_ADMIN_KEY)")
        try:
            yield RemoteStore(meta["lockgate.url"], admin_key), None
        except StoreError as exc:
            raise click.ClickException(exc.message) from exc
        return
    plans: set[str] | None = None
    secret: str | None = None
    if config_file is not None:
        from lockgate.config.loader import ConfigError, load_config_file

        try:
            cfg = load_config_file(config_file)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        storage = storage or cfg.storage
        plans = set(cfg.plans)
        meta["lockgate.rotation_grace"] = cfg.auth.api_keys.rotation_grace
        if cfg.auth.api_keys.hash_secret is not None:
            secret = cfg.auth.api_keys.hash_secret.get_secret_value()
    url = storage or os.environ.get("LOCKGATE_STORAGE") or DEFAULT_URL
    try:
        store = Store(url, key_secret=secret)
    except StoreError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        store.migrate()
        yield audited_store(store), plans
    except StoreError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        store.close()


def _check_plan(plan: str | None, plans: Collection[str] | None) -> None:
    if plan is not None and plans is not None and plan not in plans:
        raise click.BadParameter(f"unknown plan {plan!r}", param_hint="--plan")


def _attributes(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that parses as JSON (3, true, [..]) is taken as such."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--attr")
        try:
            out[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            out[key] = value
    return out


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _emit(as_json: bool, data: Any, *lines: str) -> None:
    """``data`` as JSON with --json, else the human-readable lines."""
    if as_json:
        _echo_json(data)
    else:
        for line in lines:
            click.echo(line)


def _tenant_line(t: Tenant) -> str:
    residency = ",".join(t.residency) or "-"
    return f"{t.name}\tplan={t.plan or '-'}\tresidency={residency}\tattributes={t.attributes}"


def _app_line(a: App) -> str:
    roles = ",".join(a.roles) or "-"
    return f"{a.id}\t{a.tenant}/{a.name}\tplan={a.plan or '-'}\troles={roles}"


def _key_line(k: ApiKey) -> str:
    state = (
        "revoked"
        if k.revoked_at
        else f"expires={k.expires_at.isoformat()}"
        if k.expires_at
        else "active"
    )
    return f"{k.id}\t{k.prefix}...\t{k.name or '-'}\t{state}"


def _print_created(created: CreatedKey, as_json: bool) -> None:
    k = created.key
    if as_json:
        _echo_json(
            {
                "id": k.id,
                "key": created.secret,
                "prefix": k.prefix,
                "app_id": k.app_id,
                "name": k.name,
                "expires_at": k.expires_at,
                "rotated_from": k.rotated_from,
            }
        )
        return
    click.echo(f"id:  {k.id}\nkey: {created.secret}")
    click.echo("The key is shown only once: store it now.", err=True)


# --- groups ----------------------------------------------------------------------------------


def _tenants() -> click.Group:
    @click.group("tenants", help="Create, list, show and delete tenants.")
    def tenants() -> None:
        pass

    @tenants.command("create", help="Create a tenant.")
    @click.argument("name")
    @click.option("--plan", help="The tenant's plan (a name under plans: in the config).")
    @click.option("--residency", multiple=True, help="An allowed region; repeat for more.")
    @click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="An attribute.")
    @_store_options
    def create(
        name: str,
        plan: str | None,
        residency: tuple[str, ...],
        attrs: tuple[str, ...],
        storage: str | None,
        config_file: str | None,
        as_json: bool,
    ) -> None:
        with _store(storage, config_file) as (store, plans):
            _check_plan(plan, plans)
            t = store.create_tenant(
                name, plan=plan, residency=residency, attributes=_attributes(attrs)
            )
        _emit(as_json, asdict(t), _tenant_line(t))

    @tenants.command("list", help="List tenants.")
    @_store_options
    def list_(storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _store(storage, config_file) as (store, _):
            rows = store.list_tenants()
        _emit(as_json, [asdict(t) for t in rows], *map(_tenant_line, rows))

    @tenants.command("show", help="Show one tenant and its apps.")
    @click.argument("name")
    @_store_options
    def show(name: str, storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _store(storage, config_file) as (store, _):
            t, apps = store.get_tenant(name), store.list_apps(name)
        data = {**asdict(t), "apps": [asdict(a) for a in apps]}
        _emit(as_json, data, _tenant_line(t), *("  " + _app_line(a) for a in apps))

    @tenants.command("delete", help="Delete a tenant with all its apps and keys.")
    @click.argument("name")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @_store_options
    def delete(
        name: str, yes: bool, storage: str | None, config_file: str | None, as_json: bool
    ) -> None:
        if not yes:
            click.confirm(f"Delete tenant {name!r} with all its apps and keys?", abort=True)
        with _store(storage, config_file) as (store, _):
            store.delete_tenant(name, cascade=True)
        _emit(as_json, {"deleted": name}, f"deleted tenant {name}")

    return tenants


def _apps() -> click.Group:
    @click.group("apps", help="Create, list and delete apps.")
    def apps() -> None:
        pass

    @apps.command("create", help="Create an app in a tenant.")
    @click.argument("tenant")
    @click.argument("name")
    @click.option("--plan", help="Overrides the tenant's plan for this app.")
    @click.option("--role", "roles", multiple=True, help="A role; repeat for more.")
    @click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="An attribute.")
    @_store_options
    def create(
        tenant: str,
        name: str,
        plan: str | None,
        roles: tuple[str, ...],
        attrs: tuple[str, ...],
        storage: str | None,
        config_file: str | None,
        as_json: bool,
    ) -> None:
        with _store(storage, config_file) as (store, plans):
            _check_plan(plan, plans)
            a = store.create_app(
                tenant, name, plan=plan, roles=roles, attributes=_attributes(attrs)
            )
        _emit(as_json, asdict(a), _app_line(a))

    @apps.command("list", help="List a tenant's apps.")
    @click.argument("tenant")
    @_store_options
    def list_(tenant: str, storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _store(storage, config_file) as (store, _):
            rows = store.list_apps(tenant)
        _emit(as_json, [asdict(a) for a in rows], *map(_app_line, rows))

    @apps.command("delete", help="Delete an app with its keys.")
    @click.argument("app_id")
    @_store_options
    def delete(app_id: str, storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _store(storage, config_file) as (store, _):
            store.delete_app(app_id)
        _emit(as_json, {"deleted": app_id}, f"deleted app {app_id}")

    return apps


def _keys() -> click.Group:
    @click.group("keys", help="Create, list, rotate and revoke API keys.")
    def keys() -> None:
        pass

    @keys.command("create", help="Create an API key for an app; the secret is printed once.")
    @click.argument("app_id")
    @click.option("--name", help="A label for the key.")
    @click.option("--expires-at", type=click.DateTime(), help="UTC expiry, e.g. 2030-01-01.")
    @_store_options
    def create(
        app_id: str,
        name: str | None,
        expires_at: datetime | None,
        storage: str | None,
        config_file: str | None,
        as_json: bool,
    ) -> None:
        if expires_at is not None:
            try:
                future_expiry(expires_at)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--expires-at") from None
        with _store(storage, config_file) as (store, _):
            created = store.create_key(app_id, name=name, expires_at=expires_at)
        _print_created(created, as_json)

    @keys.command("list", help="List an app's keys (prefixes only).")
    @click.argument("app_id")
    @_store_options
    def list_(app_id: str, storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _store(storage, config_file) as (store, _):
            rows = store.list_keys(app_id)
        _emit(as_json, [asdict(k) for k in rows], *map(_key_line, rows))

    @keys.command("rotate", help="Issue a new key; the old one works until the grace ends.")
    @click.argument("key_id")
    @click.option(
        "--grace",
        type=click.FloatRange(min=0),
        default=None,
        help="Seconds the old key keeps working [default: auth.api_keys.rotation_grace, 1h].",
    )
    @_store_options
    def rotate(
        key_id: str,
        grace: float | None,
        storage: str | None,
        config_file: str | None,
        as_json: bool,
    ) -> None:
        with _store(storage, config_file) as (store, _):
            if isinstance(store, Store):
                meta = click.get_current_context().meta
                default = float(meta.get("lockgate.rotation_grace", 3600.0))
                created = store.rotate_key(key_id, default if grace is None else grace)
            else:  # the gateway applies its configured grace
                created = store.rotate_key(key_id, grace)
        _print_created(created, as_json)

    @keys.command("revoke", help="Revoke a key; gateways stop accepting it within a second.")
    @click.argument("key_id")
    @_store_options
    def revoke(key_id: str, storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _store(storage, config_file) as (store, _):
            k = store.revoke_key(key_id)
        _emit(as_json, asdict(k), f"revoked key {k.id} ({k.prefix}...)")

    return keys


def _admin_key_line(k: AdminKey) -> str:
    state = "revoked" if k.revoked_at else "active"
    return f"{k.id}\t{k.prefix}...\t{k.role}\ttenant={k.tenant or '*'}\t{state}"


def _admin_keys() -> click.Group:
    @click.group("admin-keys", help="Create, list and revoke scoped admin keys.")
    def admin_keys() -> None:
        pass

    @admin_keys.command("create", help="Create an admin key; the secret is printed once.")
    @click.argument("role", type=click.Choice(ADMIN_ROLES))
    @click.option("--tenant", help="The tenant it is scoped to (tenant-admin, developer).")
    @_store_options
    def create(
        role: str, tenant: str | None, storage: str | None, config_file: str | None, as_json: bool
    ) -> None:
        with _store(storage, config_file) as (store, _):
            created = store.create_admin_key(role, tenant)
        k = created.key
        data = {"id": k.id, "key": created.secret, "role": k.role, "tenant": k.tenant}
        _emit(as_json, data, f"id:  {k.id}", f"key: {created.secret}")
        if not as_json:
            click.echo("The key is shown only once: store it now.", err=True)

    @admin_keys.command("list", help="List admin keys (prefixes only).")
    @click.option("--tenant", help="Only the keys scoped to this tenant.")
    @_store_options
    def list_(
        tenant: str | None, storage: str | None, config_file: str | None, as_json: bool
    ) -> None:
        with _store(storage, config_file) as (store, _):
            rows = store.list_admin_keys(tenant)
        _emit(as_json, [asdict(k) for k in rows], *map(_admin_key_line, rows))

    @admin_keys.command("revoke", help="Revoke an admin key.")
    @click.argument("admin_key_id")
    @_store_options
    def revoke(
        admin_key_id: str, storage: str | None, config_file: str | None, as_json: bool
    ) -> None:
        with _store(storage, config_file) as (store, _):
            store.revoke_admin_key(admin_key_id)
        _emit(as_json, {"revoked": admin_key_id}, f"revoked admin key {admin_key_id}")

    return admin_keys

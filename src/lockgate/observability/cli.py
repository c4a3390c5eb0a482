"""``lockgate usage``, ``lockgate requests`` and ``lockgate audit``: the analytics API's
queries and the audit chain check, straight against the store (no running gateway needed).

A readable table by default, ``--json`` or ``--csv`` for machines. Records still in a running
gateway's queue appear within its flush interval (a second by default).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click
import orjson

from lockgate.store import DEFAULT_URL, Store, StoreError
from lockgate.store.audit_repo import AuditFilters, AuditRepo
from lockgate.store.usage_query import Filters, RequestQuery, UsageQuery, UsageReader

F = TypeVar("F", bound=Callable[..., Any])
TABLE_WIDTH = 40  # longest cell shown in a table


def analytics_commands() -> list[click.Command]:
    return [_usage(), _requests(), _audit()]


def _common(f: F) -> F:
    for option in reversed(
        [
            click.option("--from", "from_", help="Start: ISO 8601 time or date, or epoch seconds."),
            click.option("--to", help="End (exclusive) [default: now]."),
            click.option("--tenant", help="Only this tenant."),
            click.option("--app", help="Only this app (its id)."),
            click.option("--key", help="Only this API key (its id)."),
            click.option("--model", help="Only this model."),
            click.option("--api", help="Only calls of this API product."),
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
            click.option("--csv", "as_csv", is_flag=True, help="Print CSV."),
            click.option(
                "--storage", help=f"Store URL [default: $LOCKGATE_STORAGE or {DEFAULT_URL}]."
            ),
            click.option(
                "--config",
                "config_file",
                type=click.Path(exists=True, dir_okay=False),
                help="Take the storage URL from this config file.",
            ),
        ]
    ):
        f = option(f)
    return f


@contextmanager
def _store(storage: str | None, config_file: str | None) -> Iterator[Store]:
    if config_file is not None and storage is None:
        from lockgate.config.loader import ConfigError, load_config_file

        try:
            storage = load_config_file(config_file).storage
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    url = storage or os.environ.get("LOCKGATE_STORAGE") or DEFAULT_URL
    try:
        store = Store(url)
    except StoreError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        store.migrate()
        yield store
    except StoreError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        store.close()


def _time(value: str | None, name: str) -> datetime | None:
    from lockgate.admin.analytics import parse_time
    from lockgate.errors import InvalidRequest

    try:
        return parse_time(value, name)
    except InvalidRequest as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{name}") from None


def _emit(rows: Sequence[dict[str, Any]], as_json: bool, as_csv: bool, cursor: str | None) -> None:
    if as_json:
        doc = {"rows": list(rows), "next_cursor": cursor}
        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    elif as_csv:
        from lockgate.admin.analytics import to_csv

        click.echo(to_csv(list(rows)), nl=False)
    else:
        click.echo(table(rows) if rows else "(no rows)")
        if cursor:
            click.echo(f"more: --cursor {cursor}", err=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"
    else:
        text = str(value)
    return text if len(text) <= TABLE_WIDTH else text[: TABLE_WIDTH - 1] + "…"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    cols = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    numeric = [all(_numeric(r.get(c)) for r in rows) for c in cols]

    def fmt(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([fmt(cols), fmt(["-" * w for w in widths]), *(fmt(r) for r in cells)])


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _usage() -> click.Command:
    @click.command("usage", help="Requests, tokens and cost (USD) over a time range, grouped.")
    @_common
    @click.option(
        "--group-by",
        default="tenant,model",
        show_default=True,
        help="Comma-separated: tenant, app, key, model, day, hour, api.",
    )
    @click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
    @click.option("--cursor", help="Continue from a previous page.")
    def usage(
        from_: str | None,
        to: str | None,
        tenant: str | None,
        app: str | None,
        key: str | None,
        model: str | None,
        api: str | None,
        as_json: bool,
        as_csv: bool,
        storage: str | None,
        config_file: str | None,
        group_by: str,
        limit: int,
        cursor: str | None,
    ) -> None:
        from lockgate.admin.analytics import parse_group_by
        from lockgate.errors import InvalidRequest

        try:
            groups = parse_group_by(group_by)
        except InvalidRequest as exc:
            raise click.BadParameter(exc.message, param_hint="--group-by") from None
        end = _time(to, "to") or datetime.now(UTC)
        start = _time(from_, "from") or end - timedelta(days=30)
        query = UsageQuery(
            start, end, groups, Filters(tenant, app, key, model, api), limit, int(cursor or 0)
        )
        with _store(storage, config_file) as store:
            page = UsageReader(store.engine).usage(query)
        _emit(page.rows, as_json, as_csv, page.next_cursor)

    return usage


REQUEST_COLUMNS = (
    "time", "id", "tenant", "app", "model", "served_model", "status", "decided_by",
    "input_tokens", "output_tokens", "cost", "latency_ms", "ttft_ms",
)  # fmt: skip


def _requests() -> click.Command:
    @click.command("requests", help="The request log, newest first: one row per call.")
    @_common
    @click.option("--status", help="A status (429), a class (4xx, 5xx) or 'error'.")
    @click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
    @click.option("--cursor", help="Continue from a previous page.")
    def requests(
        from_: str | None,
        to: str | None,
        tenant: str | None,
        app: str | None,
        key: str | None,
        model: str | None,
        api: str | None,
        as_json: bool,
        as_csv: bool,
        storage: str | None,
        config_file: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> None:
        query = RequestQuery(
            _time(from_, "from"),
            _time(to, "to"),
            Filters(tenant, app, key, model, api),
            status,
            limit,
            cursor,
        )
        with _store(storage, config_file) as store:
            page = UsageReader(store.engine).requests(query)
        if as_json or as_csv or not page.rows:
            _emit(page.rows, as_json, as_csv, page.next_cursor)
        else:
            click.echo(table(page.rows, REQUEST_COLUMNS))
            if page.next_cursor:
                click.echo(f"more: --cursor {page.next_cursor}", err=True)

    return requests


def _audit() -> click.Group:
    @click.group("audit", help="The audit log: admin actions and policy denials.")
    def audit() -> None:
        pass

    @audit.command("verify", help="Check the hash chain; report the first edited, inserted or "
                   "deleted row (exit 1).")  # fmt: skip
    @click.option("--storage", help=f"Store URL [default: $LOCKGATE_STORAGE or {DEFAULT_URL}].")
    @click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def verify(storage: str | None, config_file: str | None, as_json: bool) -> None:
        with _store(storage, config_file) as store:
            verdict = AuditRepo(store.engine).verify()
        if as_json:
            click.echo(orjson.dumps(verdict, option=orjson.OPT_INDENT_2).decode())
        elif verdict.ok:
            click.echo(
                f"audit log intact: {verdict.rows} rows, head {verdict.head_seq} "
                f"{verdict.head_hash}"
            )
        else:
            click.echo(
                f"audit log BROKEN at row {verdict.seq}: {verdict.kind} ({verdict.detail})",
                err=True,
            )
        if not verdict.ok:
            raise SystemExit(1)

    @audit.command("list", help="Audit entries, newest first.")
    @click.option("--storage", help=f"Store URL [default: $LOCKGATE_STORAGE or {DEFAULT_URL}].")
    @click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--tenant")
    @click.option("--actor", help="An admin key id or a policy name.")
    @click.option("--action")
    @click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def list_(
        storage: str | None,
        config_file: str | None,
        tenant: str | None,
        actor: str | None,
        action: str | None,
        limit: int,
        as_json: bool,
    ) -> None:
        filters = AuditFilters(tenant=tenant, actor=actor, action=action, limit=limit)
        with _store(storage, config_file) as store:
            rows, _ = AuditRepo(store.engine).list(filters)
        if as_json:
            _emit(rows, True, False, None)
        elif rows:
            cols = ("seq", "time", "actor_type", "actor", "tenant", "action", "target", "status")
            click.echo(table(rows, cols))
        else:
            click.echo("(no rows)")

    return audit

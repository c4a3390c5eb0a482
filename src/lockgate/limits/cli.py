"""``lockgate limits show``: what a running gateway counts against each limit of a subject.

Counters live in the gateway (in memory) or in its Redis, so the command asks the gateway's
admin API (``GET /admin/v1/limits``) rather than the store.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import click
import orjson

DEFAULT_URL = "http://127.0.0.1:8080"


def _admin_key(given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("LOCKGATE_ADMIN_KEY")
    if env:
        return env
    saved = Path(".lockgate/admin-key")
    if saved.is_file():
        return saved.read_text().strip()
    raise click.UsageError("no admin key: pass --admin-key or set LOCKGATE_ADMIN_KEY")


def fetch_limits(url: str, admin_key: str, query: dict[str, str]) -> dict[str, Any]:
    target = f"{url.rstrip('/')}/admin/v1/limits?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(target, headers={"authorization": f"Bearer {admin_key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data: dict[str, Any] = orjson.loads(response.read())
            return data
    except urllib.error.HTTPError as exc:
        try:
            message = orjson.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise click.ClickException(f"the gateway answered {exc.code}: {message}") from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach the gateway at {url}: {exc.reason}") from None


def _amount(row: dict[str, Any], key: str) -> str:
    value = row[key]
    if value is None:
        return "-"
    return f"${value:,.4f}" if row["unit"] == "USD" else f"{value:,.0f}"


def render(data: dict[str, Any]) -> str:
    lines = [
        f"{'LIMIT':<28} {'PER':<7} {'SCOPE':<14} {'USED':>14} {'ALLOWED':>14} {'RESETS IN':>10}"
    ]
    for row in data["rows"]:
        name = row["limit"] + (f" [{row['model']}]" if row["model"] else "")
        resets = "-" if row["resets_in"] is None else f"{row['resets_in']:.0f}s"
        scope = row["scope"] if row["subject"] is None else f"{row['scope']}"
        lines.append(
            f"{name:<28} {row['per']:<7} {scope:<14} {_amount(row, 'used'):>14} "
            f"{_amount(row, 'allowed'):>14} {resets:>10}"
        )
    if not data["rows"]:
        lines.append("(no limits apply)")
    for q in data.get("queues", []):
        lines.append(
            f"queue {q['model']}: {q['in_flight']}/{q['max_in_flight']} in flight, "
            f"{q['queued']} waiting"
        )
    return "\n".join(lines)


def limits_command() -> click.Group:
    @click.group(name="limits")
    def limits() -> None:
        """Limits, quotas and budgets in use (asks a running gateway)."""

    @limits.command(name="show")
    @click.option("--tenant", help="Tenant name.")
    @click.option("--app", help="App id (its plan and per-app counters).")
    @click.option("--key", "key_id", help="Key id (its app's plan and per-key counters).")
    @click.option(
        "--url",
        default=lambda: os.environ.get("LOCKGATE_URL", DEFAULT_URL),
        show_default="$LOCKGATE_URL or " + DEFAULT_URL,
        help="The gateway's base URL.",
    )
    @click.option(
        "--admin-key", help="Admin key [default: $LOCKGATE_ADMIN_KEY or .lockgate/admin-key]."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    def show(
        tenant: str | None,
        app: str | None,
        key_id: str | None,
        url: str,
        admin_key: str | None,
        as_json: bool,
    ) -> None:
        """Current use against every limit that applies, and when each resets."""
        query = {k: v for k, v in (("tenant", tenant), ("app", app), ("key", key_id)) if v}
        if not query:
            raise click.UsageError("name a subject: --tenant, --app or --key")
        data = fetch_limits(url, _admin_key(admin_key), query)
        click.echo(
            orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() if as_json else render(data)
        )

    return limits

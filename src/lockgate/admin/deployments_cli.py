"""``lockgate deployments``: a running gateway's deployments, from ``GET /admin/v1/deployments``.

Breaker state lives in the gateway (and in Redis), not in the store, so this command asks a
running gateway. The admin key comes from ``--admin-key``, ``$LOCKGATE_ADMIN_KEY`` or the
``.lockgate/admin-key`` file ``make run`` writes.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click
import orjson

DEFAULT_URL = "http://127.0.0.1:8080"
KEY_FILE = Path(".lockgate") / "admin-key"


def default_url() -> str:
    return os.environ.get("LOCKGATE_URL", DEFAULT_URL)


def admin_key(given: str | None) -> str:
    key = given or os.environ.get("LOCKGATE_ADMIN_KEY")
    if not key and KEY_FILE.is_file():
        key = KEY_FILE.read_text().strip()
    if not key:
        raise click.UsageError(
            "no admin key: pass --admin-key, set LOCKGATE_ADMIN_KEY, or run in the directory "
            "holding .lockgate/admin-key"
        )
    return key


def get_json(url: str, path: str, key: str, timeout: float = 10.0) -> Any:
    """``GET <url>/admin/v1<path>``; a ClickException says what went wrong."""
    request = urllib.request.Request(
        url.rstrip("/") + "/admin/v1" + path, headers={"authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as err:
        try:
            message = orjson.loads(err.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = err.reason
        raise click.ClickException(f"the gateway answered {err.code}: {message}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise click.ClickException(f"cannot reach the gateway at {url}: {reason}") from None


COLUMNS = ("MODEL", "DEPLOYMENT", "STATE", "HEALTH", "IN-FLIGHT", "LATENCY", "ERRORS", "REQS")


def _state(row: dict[str, Any]) -> str:
    state = row["breaker"] or "-"
    if row.get("breaker_opens_in_s"):
        state += f" ({row['breaker_opens_in_s']:g}s)"
    if not row["available"]:
        state += " *"
    return state


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    latency = row["ttft_ms"] if row["latency_ms"] is None else row["latency_ms"]
    rate = row["error_rate"]
    return (
        row["model"],
        row["deployment"],
        _state(row),
        row["health"],
        str(row["in_flight"]),
        "-" if latency is None else f"{latency:.0f}ms",
        "-" if rate is None else f"{rate:.0%}",
        str(row["requests"]),
    )


def table(rows: list[dict[str, Any]]) -> list[str]:
    cells = [COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]


def deployments_command() -> click.Command:
    @click.command(
        "deployments",
        help=(
            "Show a running gateway's deployments: circuit-breaker state, health, requests in "
            "flight, latency and error rate (the last 60 s). '*' marks a deployment that "
            "cannot serve now."
        ),
    )
    @click.option(
        "--url",
        default=default_url,
        show_default=f"$LOCKGATE_URL or {DEFAULT_URL}",
        help="The gateway's base URL.",
    )
    @click.option(
        "--admin-key",
        "key",
        help="Admin key [default: $LOCKGATE_ADMIN_KEY or .lockgate/admin-key].",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the API's JSON rows.")
    def deployments(url: str, key: str | None, as_json: bool) -> None:
        rows: list[dict[str, Any]] = get_json(url, "/deployments", admin_key(key))["data"]
        if as_json:
            click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
            return
        for line in table(rows):
            click.echo(line.rstrip())

    return deployments

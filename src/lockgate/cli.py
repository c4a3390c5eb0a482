"""The ``lockgate`` command line. Thin: parses arguments, then calls into the package."""

from __future__ import annotations

import sys

import click

from lockgate import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lockgate")
def main() -> None:
    """Lockgate: an AI gateway that enforces resource policies on every model call."""


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Config file (YAML). Without it: the embedded default.",
)
@click.option("--host", default=None, help="Listen address (default: server.host, 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Listen port (default: server.port, 8080).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes; more than one needs 'state: redis://...'.",
)
@click.option(
    "--server",
    type=click.Choice(["lean", "uvicorn"]),
    default="lean",
    show_default=True,
    help="HTTP server: Lockgate's own lean server, or uvicorn.",
)
def serve(
    config_path: str | None, host: str | None, port: int | None, workers: int, server: str
) -> None:
    """Run the gateway."""
    from lockgate.server import serve as run

    run(config_path, host, port, workers, server)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--no-env",
    is_flag=True,
    help="Check the structure only: ${env:NAME} references need not be set (e.g. in CI).",
)
def validate(file: str, no_env: bool) -> None:
    """Validate a config file; print each problem with its YAML path and line."""
    from lockgate.config.loader import validate_file

    problems = validate_file(file, require_env=not no_env)
    if not problems:
        click.echo(f"{file}: valid")
        return
    for problem in problems:
        click.echo(f"{file}: {problem}", err=True)
    click.echo(f"{file}: {len(problems)} problem(s)", err=True)
    sys.exit(1)


def _register() -> None:
    from lockgate.admin.cli import identity_commands
    from lockgate.admin.deployments_cli import deployments_command
    from lockgate.apis.cli import product_commands
    from lockgate.limits.cli import limits_command
    from lockgate.mock.cli import mock_upstream_command
    from lockgate.observability.cli import analytics_commands

    main.add_command(mock_upstream_command(), "mock-upstream")
    main.add_command(limits_command())
    main.add_command(deployments_command(), "deployments")
    for command in [*identity_commands(), *product_commands()]:
        main.add_command(command)
    for command in analytics_commands():
        main.add_command(command)


_register()

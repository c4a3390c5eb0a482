from unittest import mock

import click
from click.testing import CliRunner

from lockgate.mock.cli import mock_upstream_command
from lockgate.mock.engine import MockBehaviour


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(mock_upstream_command(), ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--latency", "--ttft", "--tokens-per-s", "--fail-rate"):
        assert option in result.output
    assert "--fail-status" in result.output and "[[mock:status=503]]" in result.output


def test_options_become_behaviour() -> None:
    with mock.patch("lockgate.mock.server.run_mock_upstream") as run:
        result = CliRunner().invoke(
            mock_upstream_command(),
            [
                *("--port", "9100", "--latency", "5", "--ttft", "20", "--tokens-per-s", "50"),
                *("--fail-rate", "0.25", "--fail-status", "503", "--no-record"),
            ],
        )
    assert result.exit_code == 0, result.output
    run.assert_called_once_with(
        "127.0.0.1",
        9100,
        MockBehaviour(latency_ms=5, ttft_ms=20, tokens_per_s=50, fail_rate=0.25, fail_status=503),
        record=False,
    )


def test_defaults() -> None:
    with mock.patch("lockgate.mock.server.run_mock_upstream") as run:
        result = CliRunner().invoke(mock_upstream_command(), [])
    assert result.exit_code == 0
    run.assert_called_once_with("127.0.0.1", 9000, MockBehaviour(), record=True)


def test_ranges_are_validated() -> None:
    command: click.Command = mock_upstream_command()
    for args in (["--fail-rate", "1.5"], ["--fail-status", "200"], ["--latency", "-1"]):
        result = CliRunner().invoke(command, args)
        assert result.exit_code == 2, args
        assert "Invalid value" in result.output

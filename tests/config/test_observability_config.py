"""observability: usage queue, payload opt-in, request log level, metrics and tracing keys."""

from __future__ import annotations

import pytest

from lockgate.config.loader import ConfigError, load_config_text

BASE = "version: 1\nproviders: {demo: {type: mock}}\n"


def test_defaults_and_full_section() -> None:
    cfg = load_config_text(BASE, env={})
    obs = cfg.observability
    assert (obs.request_log, obs.metrics.enabled, obs.tracing) == ("info", True, None)
    cfg = load_config_text(
        BASE + "observability:\n"
        "  usage: {queue_size: 5000, batch_size: 100, flush_interval: 250ms}\n"
        "  payloads: {tenants: [acme], max_bytes: 4k}\n"
        "  request_log: off\n"
        "  metrics: {require_admin_key: true}\n"
        "  tracing: {endpoint: 'http://127.0.0.1:4318/v1/traces', sample_ratio: 0.5,"
        " headers: {authorization: '${env:TOKEN}'}}\n",
        env={"TOKEN": "Bearer secret"},
    )
    obs = cfg.observability
    assert (obs.usage.queue_size, obs.usage.flush_interval) == (5000, 0.25)
    assert obs.payloads.tenants == ["acme"] and obs.payloads.max_bytes == 4000
    assert obs.request_log == "off"  # YAML's bare `off` is false: read as "off"
    assert obs.tracing is not None and obs.tracing.sample_ratio == 0.5
    assert obs.tracing.headers["authorization"].get_secret_value() == "Bearer secret"
    assert "secret" not in repr(obs.tracing)


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("{tracing: {endpoint: 'grpc://c:4317'}}", "observability.tracing.endpoint"),
        ("{usage: {queue_size: 10}}", "observability.usage.queue_size"),
        ("{request_log: loud}", "observability.request_log"),
        ("{metrics: {port: 9090}}", "observability.metrics.port"),
    ],
)
def test_bad_settings_are_refused(section: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + f"observability: {section}\n", env={})
    assert [p.path for p in info.value.problems] == [path]

"""alerts.webhooks: event names are checked, so a typo cannot silence an alert."""

from __future__ import annotations

import pytest

from lockgate.config.loader import ConfigError, load_config_text

BASE = "version: 1\nproviders: {demo: {type: mock}}\n"


def test_known_events_and_families_load() -> None:
    text = BASE + (
        "alerts:\n  webhooks:\n"
        "    - {url: 'https://h/x', events: [budget.threshold, 'circuit.*'], secret: s}\n"
    )
    cfg = load_config_text(text, env={})
    assert cfg.alerts.webhooks[0].events == ["budget.threshold", "circuit.*"]


@pytest.mark.parametrize(
    ("hook", "path", "words"),
    [
        ("{url: 'https://h/x', events: [budget.treshold]}", "events[0]", "unknown event"),
        ("{url: 'ftp://h/x'}", "url", "http:// or https://"),
    ],
)
def test_bad_webhooks_are_refused(hook: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + f"alerts:\n  webhooks:\n    - {hook}\n", env={})
    [problem] = info.value.problems
    assert problem.path == f"alerts.webhooks[0].{path}" and words in problem.message
    assert problem.line == 5

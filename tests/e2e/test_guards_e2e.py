"""Guards and the cache on real processes: ``lockgate serve`` in front of ``lockgate
mock-upstream``, driven by the official SDKs; what reached the upstream is read from the
mock's own record (``/_mock/stats``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from harness import Env, gateway_config, make_key, start_gateway, start_mock

EXTRA = """\
  m-cached: {deployments: [{provider: oai, model: gpt-x}], cache: {mode: exact, ttl: 10m}}
"""
POLICIES = """\
policies:
  - name: pii-eu
    match: {tenants: [acme]}
    guards:
      - {type: pii, on: [input, output], action: redact}
      - {type: secrets, on: [input], action: block}
      - {type: deny, on: [input, output], patterns: ['(?i)project\\s+falcon'], action: block}
"""
SECRET = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("guards")
    mock = start_mock(tmp)
    text = gateway_config(mock.base, tmp / "gw.db", extra_models=EXTRA) + POLICIES
    gateway, _ = start_gateway(tmp, text)
    try:
        yield Env(mock, gateway, make_key(gateway.base, "acme", "bot"), tmp)
    finally:
        gateway.stop()
        mock.stop()


def test_a_blocked_prompt_never_reaches_the_mock_upstream(env: Env) -> None:
    client = openai.OpenAI(base_url=env.base + "/v1", api_key=env.key, max_retries=0)
    before = env.mock_stats()["requests"]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="m-openai", messages=[{"role": "user", "content": f"my key is {SECRET}"}]
        )
    assert info.value.code == "content_policy_violation" and SECRET not in str(info.value)
    claude = anthropic.Anthropic(base_url=env.base, api_key=env.key, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as blocked:
        claude.messages.create(
            model="m-anthropic",
            max_tokens=20,
            messages=[{"role": "user", "content": "what is Project Falcon?"}],
        )
    assert "guard 'deny'" in str(blocked.value) and "Falcon" not in str(blocked.value)
    assert env.mock_stats()["requests"] == before


def test_redacted_prompt_upstream_and_cached_answer(env: Env) -> None:
    client = openai.OpenAI(base_url=env.base + "/v1", api_key=env.key, max_retries=0)
    messages = [{"role": "user", "content": "I am jane@example.com, ssn 123-45-6789"}]
    first = client.chat.completions.with_raw_response.create(model="m-cached", messages=messages)
    assert first.headers["x-lockgate-cache"] == "miss"
    sent = str(env.mock_stats()["last_request"]["json"])
    assert "jane@example.com" not in sent and "[REDACTED:EMAIL]" in sent
    assert "123-45-6789" not in sent and "[REDACTED:SSN]" in sent
    requests = env.mock_stats()["requests"]
    for _ in range(20):  # the answer is stored just after the first response went out
        again = client.chat.completions.with_raw_response.create(
            model="m-cached", messages=messages
        )
        if again.headers["x-lockgate-cache"] == "hit":
            break
    assert again.headers["x-lockgate-cache"] == "hit"
    assert again.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert env.mock_stats()["requests"] <= requests + 1
    stream = client.chat.completions.create(model="m-cached", messages=messages, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == first.parse().choices[0].message.content

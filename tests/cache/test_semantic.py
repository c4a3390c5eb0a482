"""The semantic tier: a paraphrase of a cached question is a hit, a question with a word
swapped is not, nor the same question in another conversation or another tenant."""

from __future__ import annotations

from typing import Any

import pytest

CONFIG: dict[str, Any] = {
    "providers": {"demo": {"type": "mock"}},
    "models": {
        "chat": {
            "deployments": [{"provider": "demo", "model": "x"}],
            "cache": {"mode": "semantic", "ttl": "1h", "scope": "tenant"},
        }
    },
}


def body(question: str, system: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": question}]}
    if system:
        out["messages"].insert(0, {"role": "system", "content": system})
    return out


async def ask(gw: Any, key: str, payload: dict[str, Any]) -> str:
    r = await gw.client.post(
        "/v1/chat/completions", json=payload, headers={"authorization": f"Bearer {key}"}
    )
    await gw.gw.finalizer.drain()
    assert r.status_code == 200
    return str(r.headers["x-lockgate-cache"])


@pytest.mark.usefixtures("ml_models")
async def test_paraphrases_hit_and_look_alikes_do_not(inproc: Any) -> None:
    async with inproc(CONFIG) as gw:
        key = await gw.key("acme")
        assert await ask(gw, key, body("How many days are in a leap year?")) == "miss"
        assert await ask(gw, key, body("A leap year has how many days?")) == "hit"
        assert await ask(gw, key, body("What time does the store open on Sundays?")) == "miss"
        # 0.94 cosine, but one word swapped for another: a different question
        assert await ask(gw, key, body("What time does the store close on Sundays?")) == "miss"
        # the same question in another conversation (another system prompt) is not a hit
        other = body("A leap year has how many days?", system="Answer in French.")
        assert await ask(gw, key, other) == "miss"
        assert (
            await ask(gw, await gw.key("globex"), body("A leap year has how many days?")) == "miss"
        )


@pytest.mark.usefixtures("ml_models")
async def test_a_question_too_long_to_embed_falls_back_to_exact_matching(inproc: Any) -> None:
    long = "Please summarise: " + "the committee met and discussed the budget. " * 60
    async with inproc(CONFIG) as gw:
        key = await gw.key()
        assert await ask(gw, key, body(long)) == "miss"
        assert await ask(gw, key, body(long)) == "hit"
        assert await ask(gw, key, body(long + " Thanks.")) == "miss"

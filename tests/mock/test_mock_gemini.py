"""Gemini routes (no official SDK types installed: shapes are checked field by field)."""

import math
from typing import Any

import httpx
import orjson
from mock_helpers import GEMINI_AUTH, sse_events

BASE = "/v1beta/models/gemini-2.0-flash"
TOOLS = [{"functionDeclarations": [{"name": "search", "parameters": {"type": "object"}}]}]


def request(**extra: Any) -> dict[str, Any]:
    return {
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "What is the weather in Paris today?"}]}],
        **extra,
    }


def check_response(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) <= {"candidates", "usageMetadata", "modelVersion", "responseId"}
    (candidate,) = body["candidates"]
    assert candidate["content"]["role"] == "model" and candidate["index"] == 0
    assert isinstance(candidate["content"]["parts"], list)
    return dict(candidate)


async def test_generate_content(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{BASE}:generateContent", headers=GEMINI_AUTH, json=request())
    body = r.json()
    candidate = check_response(body)
    assert candidate["content"]["parts"] == [
        {"text": "Mock reply to: What is the weather in Paris today?"}
    ]
    assert candidate["finishReason"] == "STOP" and body["modelVersion"] == "gemini-2.0-flash"
    usage = body["usageMetadata"]
    assert usage["candidatesTokenCount"] == 10
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 10
    r = await client.post(f"{BASE}:countTokens", headers=GEMINI_AUTH, json=request())
    assert r.json() == {"totalTokens": usage["promptTokenCount"]}
    wrapped = {"generateContentRequest": request()}
    r = await client.post(f"{BASE}:countTokens", headers=GEMINI_AUTH, json=wrapped)
    assert r.json() == {"totalTokens": usage["promptTokenCount"]}


async def test_max_output_tokens(client: httpx.AsyncClient) -> None:
    body = request(generationConfig={"maxOutputTokens": 1})
    r = await client.post(f"{BASE}:generateContent", headers=GEMINI_AUTH, json=body)
    candidate = check_response(r.json())
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert candidate["content"]["parts"] == [{"text": "Mock"}]


async def test_function_call_then_response(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{BASE}:generateContent", headers=GEMINI_AUTH, json=request(tools=TOOLS))
    candidate = check_response(r.json())
    (part,) = candidate["content"]["parts"]
    call = part["functionCall"]
    assert call == {"name": "search", "args": {"query": "What is the weather in Paris today?"}}
    follow = request(tools=TOOLS)
    follow["contents"] += [
        {"role": "model", "parts": [part]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "search", "response": {"t": 21}}}],
        },
    ]
    r = await client.post(f"{BASE}:generateContent", headers=GEMINI_AUTH, json=follow)
    assert check_response(r.json())["content"]["parts"] == [{"text": 'Tool result: {"t":21}'}]


async def test_tool_config(client: httpx.AsyncClient) -> None:
    tools = [{"functionDeclarations": [{"name": "search"}, {"name": "lookup"}]}]
    forced = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}}
    body = request(tools=tools, toolConfig=forced)
    r = await client.post(f"{BASE}:generateContent", headers=GEMINI_AUTH, json=body)
    assert check_response(r.json())["content"]["parts"][0]["functionCall"]["name"] == "lookup"
    body = request(tools=tools, toolConfig={"functionCallingConfig": {"mode": "NONE"}})
    r = await client.post(f"{BASE}:generateContent", headers=GEMINI_AUTH, json=body)
    assert "text" in check_response(r.json())["content"]["parts"][0]


async def test_stream_sse(client: httpx.AsyncClient) -> None:
    path = f"{BASE}:streamGenerateContent?alt=sse"
    r = await client.post(path, headers=GEMINI_AUTH, json=request())
    assert r.headers["content-type"] == "text/event-stream"
    chunks = [orjson.loads(d) for _, d in sse_events(r.text)]
    candidates = [check_response(c) for c in chunks]
    text = "".join(p["text"] for c in candidates for p in c["content"]["parts"])
    assert text == "Mock reply to: What is the weather in Paris today?"
    assert candidates[-1]["finishReason"] == "STOP"
    assert all("finishReason" not in c for c in candidates[:-1])
    assert "usageMetadata" in chunks[-1] and all("usageMetadata" not in c for c in chunks[:-1])


async def test_stream_json_array_and_function_call(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{BASE}:streamGenerateContent", headers=GEMINI_AUTH, json=request())
    assert r.headers["content-type"] == "application/json"
    chunks = orjson.loads(r.content)
    assert isinstance(chunks, list) and len(chunks) == 10
    path = f"{BASE}:streamGenerateContent?alt=sse"
    r = await client.post(path, headers=GEMINI_AUTH, json=request(tools=TOOLS))
    (chunk,) = [orjson.loads(d) for _, d in sse_events(r.text)]
    candidate = check_response(chunk)
    assert candidate["content"]["parts"][0]["functionCall"]["name"] == "search"
    assert candidate["finishReason"] == "STOP"


async def test_embeddings(client: httpx.AsyncClient) -> None:
    content = {"parts": [{"text": "hello"}]}
    r = await client.post(
        "/v1beta/models/text-embedding-004:embedContent",
        headers=GEMINI_AUTH,
        json={"content": content, "outputDimensionality": 16},
    )
    values = r.json()["embedding"]["values"]
    assert len(values) == 16 and math.isclose(sum(v * v for v in values), 1.0)
    batch = {"requests": [{"model": "models/text-embedding-004", "content": content}] * 2}
    r = await client.post("/v1beta/models/text-embedding-004:batchEmbedContents?key=k", json=batch)
    embeddings = r.json()["embeddings"]
    assert len(embeddings) == 2 and len(embeddings[0]["values"]) == 768
    r = await client.post(
        "/v1beta/models/e:embedContent", headers=GEMINI_AUTH, json={"content": "bad"}
    )
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_key_required(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{BASE}:generateContent", json=request())
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == 403 and error["status"] == "PERMISSION_DENIED" and error["message"]
    r = await client.post(f"{BASE}:generateContent?key=abc", json=request())
    assert r.status_code == 200


async def test_unknown_method_and_bad_body(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{BASE}:frobnicate", headers=GEMINI_AUTH, json=request())
    assert r.status_code == 404
    r = await client.post(f"{BASE}:generateContent", headers=GEMINI_AUTH, json={"contents": []})
    assert r.status_code == 400 and r.json()["error"]["code"] == 400

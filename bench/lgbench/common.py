"""Settings shared by the whole harness: paths, pins, cores, SPEC targets, canned bodies."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "bench"
SCRATCH = BENCH / ".scratch"
VENV_BIN = ROOT / ".venv" / "bin"
LITELLM_DIR = SCRATCH / "litellm"
PORTKEY_DIR = SCRATCH / "portkey"
LITELLM_SPEC = "litellm[proxy]==1.106.2"  # pinned after the first install; see RESULTS.md
PORTKEY_SPEC = "@portkey-ai/gateway@1.15.2"
CORE_LOAD = "0"
CORE_PROXY = "1"
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FOREIGN_CPU_FLAG = 15.0  # % of one core used by processes not started here: run "disturbed"

# SPEC section 6 targets.
SPEC_RPS = 6000.0
SPEC_P50_ADDED_MS = 0.3
SPEC_P99_ADDED_MS = 1.0
SPEC_TTFT_MS = 1.0

CANNED_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-bench0001",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    "system_fingerprint": None,
}
POLICY_NOTE = (
    "Policies on the Lockgate path (SPEC section 6's set): key authentication (a key created"
    " through the admin API, sent as Bearer), plan model access, and the plan's requests, tokens"
    " and cost limits (`plans.bench` in `lockgate.bench.yaml.tmpl`: every request reserves its"
    " prompt tokens counted with the tokenizer plus max_tokens and their cost, and settles to the"
    " upstream's usage after the response). Limits are set high enough never to refuse during a"
    " run. State backend: see the command (`--state`, default memory). Usage logging is on the"
    " path as configured by default: a usage record per call written in batches to the SQLite"
    " store (with its rollups) from a thread of the gateway process, and one JSON request line"
    " per call on the `lockgate.requests` logger."
)
CONTENT_RE = re.compile(rb'"content"\s*:\s*"[^"]')


def chat_body(model: str, *, stream: bool = False) -> str:
    doc: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Say hi."}]}
    if stream:
        doc["stream"] = True
    return json.dumps(doc, separators=(",", ":"))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

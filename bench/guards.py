"""Guard and cache measurements for bench/RESULTS.md: the semantic cache's precision and hit
rate by threshold, the prompt-injection guard's precision and recall, the cost per KB of each
guard, the per-chunk cost of stream scanning, and the vector index at 100k entries.

    .venv/bin/python bench/guards.py            # all sections, markdown on stdout
    .venv/bin/python bench/guards.py --only semantic,injection

Labelled sets: bench/data/paraphrases.jsonl (pairs: label 1 = same question), and
bench/data/injections.jsonl (label 1 = injection; kind direct | indirect | jailbreak | benign).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lockgate.cache.lexical import content_words, swapped
from lockgate.guards.detect import Detector, detector, scan
from lockgate.guards.injection import heuristic_score
from lockgate.guards.pii import pii_detectors
from lockgate.guards.secrets import secret_detectors
from lockgate.guards.stream import StreamScanner
from lockgate.ml.hub import load_models

DATA = Path(__file__).parent / "data"


def jsonl(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


def semantic() -> None:
    embedder, _ = load_models()
    pairs = jsonl("paraphrases.jsonl")
    a = embedder.embed([str(p["a"]) for p in pairs])
    b = embedder.embed([str(p["b"]) for p in pairs])
    sims = (a * b).sum(axis=1)
    labels = np.array([p["label"] for p in pairs])
    vetoed = np.array(
        [swapped(content_words(str(p["a"])), content_words(str(p["b"]))) for p in pairs]
    )
    pos = int(labels.sum())
    print(
        f"### Semantic cache: {len(pairs)} labelled pairs ({pos} paraphrases, {len(pairs) - pos} different questions)\n"
    )
    print(
        "| threshold | cosine only: precision | hit rate | false hits | with the lexical veto (the cache): precision | hit rate | false hits |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for t in (0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98):
        cells = []
        for hit in (sims >= t, (sims >= t) & ~vetoed):
            tp = int((hit & (labels == 1)).sum())
            fp = int((hit & (labels == 0)).sum())
            precision = tp / (tp + fp) if tp + fp else 1.0
            cells += [f"{precision:.3f}", f"{tp / pos:.3f}", str(fp)]
        print(f"| {t:.2f} | {' | '.join(cells)} |")
    print()


def injection() -> None:
    _, classifier = load_models()
    rows = jsonl("injections.jsonl")
    texts = [str(r["text"]) for r in rows]
    labels = np.array([r["label"] for r in rows])
    kinds = [str(r["kind"]) for r in rows]
    heur = np.array([heuristic_score(t) for t in texts])
    model = np.array(classifier.score(texts))
    both = np.maximum(heur, model)
    n1 = int(labels.sum())
    print(
        f"### Prompt injection: {len(rows)} prompts ({n1} injections: 40 direct, 30 indirect, 30 jailbreaks; {len(rows) - n1} benign, many look-alikes)\n"
    )
    print(
        "| tier | threshold | precision | recall | direct | indirect | jailbreak | benign flagged |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, scores in (("heuristics", heur), ("classifier", model), ("both (guard)", both)):
        for t in (0.5, 0.7, 0.8, 0.9, 0.95):
            if name == "heuristics" and t not in (0.8,):
                continue
            flagged = scores >= t
            tp = int((flagged & (labels == 1)).sum())
            fp = int((flagged & (labels == 0)).sum())
            precision = tp / (tp + fp) if tp + fp else 1.0
            per = []
            for kind in ("direct", "indirect", "jailbreak"):
                idx = [i for i, k in enumerate(kinds) if k == kind]
                per.append(f"{flagged[idx].mean():.2f}")
            print(
                f"| {name} | {t:.2f} | {precision:.3f} | {tp / n1:.3f} | {' | '.join(per)} | {fp} |"
            )
    print()


def _time(fn: Callable[[], object], n: int) -> float:
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n)
    return statistics.median(runs)


def cost() -> None:
    base = (
        "Dear support team, my order 18273 has not arrived yet. You can reach me at "
        "jane.doe@example.com or +1 415-555-2671. I paid with my card ending 1111 on the 3rd "
        "of March and the invoice mentions the warehouse in Springfield. "
    )
    kb = (base * 8)[:1024]
    pii = pii_detectors(None, {}, "US")
    secrets = secret_detectors(None)
    deny: tuple[Detector, ...] = (detector("deny", r"(?i)project\s+falcon"),)
    _, classifier = load_models()
    print("### Cost per KB of prompt (one core, median of 5 runs)\n")
    print("| guard | per KB | per 4 KB |")
    print("|---|---:|---:|")
    for name, fn in (
        ("pii (6 entities)", lambda t: scan(pii, t)),
        ("secrets (14 kinds)", lambda t: scan(secrets, t)),
        ("deny (1 pattern)", lambda t: scan(deny, t)),
        ("prompt_injection heuristics", heuristic_score),
        ("prompt_injection classifier", lambda t: classifier.score([t])),
    ):
        n = 5 if "classifier" in name else 200
        one = _time(lambda fn=fn: fn(kb), n) * 1e3  # type: ignore[misc]
        four = _time(lambda fn=fn: fn(kb * 4), max(1, n // 4)) * 1e3  # type: ignore[misc]
        print(f"| {name} | {one:.3f} ms | {four:.3f} ms |")
    print()
    text = kb * 2
    chunks = [text[i : i + 4] for i in range(0, len(text), 4)]

    def streamed() -> None:
        s = StreamScanner(pii + secrets)
        for c in chunks:
            s.feed(c)
        s.flush()

    per_chunk = _time(streamed, 5) / len(chunks) * 1e6
    print(
        f"Stream scanning (pii + secrets chained in one scanner, 4-character chunks as models stream them): {per_chunk:.1f} µs per chunk, {_time(streamed, 5) * 1e3 / 2:.2f} ms per KB streamed.\n"
    )


def index() -> None:
    from lockgate.cache.vectors import Entry, VectorIndex

    rng = np.random.default_rng(7)
    n = 100_000
    vecs = rng.standard_normal((n, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    idx = VectorIndex(capacity=2 * n)
    t0 = time.perf_counter()
    idx.extend(vecs, [Entry("c", str(i), 1e18, "") for i in range(n)], 0.0)
    build = time.perf_counter() - t0
    single = vecs[:1000] * -1.0
    t0 = time.perf_counter()
    for i in range(len(single)):
        idx.add(single[i], Entry("c", f"s{i}", 1e18, ""), 0.0)
    add_us = (time.perf_counter() - t0) / len(single) * 1e6
    queries = (
        vecs[rng.integers(0, n, 200)] + rng.standard_normal((200, 384)).astype(np.float32) * 0.01
    )
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    t0 = time.perf_counter()
    hits = [idx.search(q, "c", 0.0, 1.0, k=1) for q in queries]
    per = (time.perf_counter() - t0) / len(queries) * 1e6
    truth = np.argmax(queries @ vecs.T, axis=1)  # brute force, outside the timing
    found = sum(h is not None and h[1].key == str(t) for h, t in zip(hits, truth, strict=True))
    print(f"### Vector index at {n:,} entries (HNSW M=32, efSearch=64)\n")
    print(
        f"Built in {build:.1f} s in one batch; one more entry (as the cache adds them) {add_us:.0f} µs; search {per:.0f} µs per query (incl. the Python wrapper), recall@1 vs brute force {found / len(queries):.3f}.\n"
    )


PIPELINE_VARIANTS: dict[str, dict[str, Any]] = {
    "no guards, no cache": {},
    "guards configured for another tenant": {
        "policies": [
            {
                "name": "pii",
                "match": {"tenants": ["someone-else"]},
                "guards": [{"type": "pii", "action": "redact"}, {"type": "secrets"}],
            }
        ]
    },
    "pii redact + secrets block on this tenant (clean prompt)": {
        "policies": [
            {"name": "pii", "guards": [{"type": "pii", "action": "redact"}, {"type": "secrets"}]}
        ]
    },
}


async def _admit_us(extra: dict[str, Any], n: int) -> float:
    import tempfile

    from admission import context  # bench/admission.py: the data plane's way of calling it

    from lockgate.app import Gateway
    from lockgate.config.models import Config
    from lockgate.wire import openai

    with tempfile.TemporaryDirectory() as tmp:
        doc = {
            "version": 1,
            "storage": f"sqlite:///{tmp}/a.db",
            "providers": {"demo": {"type": "mock"}},
            "models": {"bench-chat": {"deployments": [{"provider": "demo", "model": "m"}]}},
            **extra,
        }
        gw = Gateway(Config.model_validate(doc))
        await gw.startup()
        try:
            gw.store.create_tenant("bench")
            key = gw.store.create_key(gw.store.create_app("bench", "bench").id).secret
            await gw.refresher.refresh_now()
            text = "Please summarise the attached meeting notes about the Q3 roadmap. " * 5
            req = openai.decode_chat_request(
                {"model": "bench-chat", "messages": [{"role": "user", "content": text}]}
            )
            runs = []
            for _ in range(5):
                t0 = time.process_time()
                for i in range(n):
                    ctx = context(gw, key, i)
                    await gw.runtime.pipeline.authenticate(ctx)
                    ctx.model, ctx.chat = req.model, req
                    await gw.runtime.pipeline.admit(ctx)
                runs.append((time.process_time() - t0) / n * 1e6)
            return statistics.median(runs)
        finally:
            await gw.shutdown()


def pipeline() -> None:
    import asyncio

    print("### What a request pays in the pipeline (admission CPU, µs per request)\n")
    print("| config | round 1 | round 2 | round 3 | median |")
    print("|---|---:|---:|---:|---:|")
    results: dict[str, list[float]] = {k: [] for k in PIPELINE_VARIANTS}
    for _ in range(3):  # alternate the variants, three rounds
        for name, extra in PIPELINE_VARIANTS.items():
            results[name].append(asyncio.run(_admit_us(extra, 5000)))
    for name, runs in results.items():
        cells = " | ".join(f"{r:.1f}" for r in runs)
        print(f"| {name} | {cells} | {statistics.median(runs):.1f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="semantic,injection,cost,index,pipeline")
    sections = {
        "semantic": semantic,
        "injection": injection,
        "cost": cost,
        "index": index,
        "pipeline": pipeline,
    }
    for name in parser.parse_args().only.split(","):
        sections[name]()


if __name__ == "__main__":
    main()

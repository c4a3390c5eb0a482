"""Microbenchmark: what authentication + authorization cost per request.

    .venv/bin/python bench/auth_bench.py [--n 200000] [--rounds 5]

Runs the AUTHN and AUTHZ phases of a real ``Pipeline`` (built by ``build_policies`` from a
config, as the gateway does) on a prepared ``RequestContext``, without HTTP, body decoding or
an upstream, and reports the median over rounds of the CPU time (``process_time``: on a
shared machine, wall time mostly measures the other processes) per request. Cases:

- ``key``: an API key (HMAC-SHA256 lookup in the in-memory index) + plan model access;
- ``key+rules``: the same with an IP deny list and a CEL ``allow_if`` on attributes and the
  local hour (memoised), as a policy-heavy config would have;
- ``jwt (cached)``: an RS256 JWT already verified once (the usual case: clients reuse tokens);
- ``jwt RS256/ES256/EdDSA (first use)``: a token never seen before: a signature check;
- ``hash only``: the two hashes alone, plain SHA-256 (before) and HMAC-SHA256 (now).

The coroutines complete without suspending, so they are driven by ``send(None)``: the event
loop's own cost is the same with or without these policies and is left out.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from jwt_helpers import AUDIENCE, ISSUER, Keys, token
from lockgate.config.models import Config
from lockgate.identity.index import KeyIndex
from lockgate.pipeline.context import RequestContext
from lockgate.runtime import Runtime
from lockgate.services import Services
from lockgate.store.keyhash import KeyHasher
from lockgate.store.records import App, IdentitySnapshot, KeyEntry, Tenant
from lockgate.upstream import UpstreamClient

SECRET = "lg-" + "k" * 43
T0 = __import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").UTC)
HASHER = KeyHasher(b"bench-server-secret-0123456789ab")


def index() -> KeyIndex:
    tenant = Tenant("t1", "acme", "bench", (), {"department": "finance", "tz": "Europe/Berlin"},
                    T0, T0)  # fmt: skip
    app = App("app_1", "acme", "t1", "bot", None, (), {}, T0, T0)
    key = KeyEntry("key_1", "app_1", SECRET[:10], HASHER.hash(SECRET), None)
    return KeyIndex.from_snapshot(IdentitySnapshot(1, (tenant,), (app,), (key,)), hasher=HASHER)


def config(extra: dict[str, Any]) -> Config:
    return Config.model_validate(
        {
            "version": 1,
            "providers": {"demo": {"type": "mock"}},
            "models": {"bench-chat": {"deployments": [{"provider": "demo", "model": "x"}]}},
            "plans": {"bench": {"models": ["bench-chat"]}},
            **extra,
        }
    )


RULES = {
    "policies": [
        {"name": "blocked", "deny_ips": ["203.0.113.0/24", "2001:db8::/32"]},
        {
            "name": "finance-hours",
            "allow_if": 'principal.attributes.department == "finance" '
            "&& request.time.hour >= 0 && request.time.hour < 24",
        },
    ]
}


def drive(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("a policy suspended; this benchmark measures the synchronous path")


def case(runtime: Runtime, credential: str, phase: int = 20) -> Callable[[], None]:
    headers = [(b"authorization", b"Bearer " + credential.encode())]
    policies = [p for p in runtime.pipeline.policies if p.phase <= phase]  # AUTHN, AUTHZ

    def one() -> None:
        ctx = RequestContext(
            request_id="r",
            route="chat",
            ingress="openai",
            headers=headers,
            client_ip="198.51.100.7",
            runtime=runtime,
            started=0.0,
            received_at=1_800_000_000.0,
            model="bench-chat",
        )
        for policy in policies:
            drive(policy.on_request(ctx))  # type: ignore[arg-type]

    return one


def measure(fn: Callable[[], None], n: int, rounds: int) -> float:
    fn()
    gc.collect()
    gc.freeze()  # as the gateway does after start-up (app.tune_collector)
    per = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(n):
            fn()
        per.append((time.process_time() - start) / n * 1e6)
    return statistics.median(per)


def measure_each(calls: list[Callable[[], None]]) -> float:
    """Each call once (a token seen for the first time): mean µs per call."""
    start = time.process_time()
    for call in calls:
        call()
    return (time.process_time() - start) / len(calls) * 1e6


def fresh_tokens(keys: Keys, alg: str) -> Callable[[], str]:
    counter = iter(range(10**9))
    return lambda: token(keys, alg, exp=2**31 - 1, iat=None, jti=str(next(counter)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    keys = Keys.make()
    jwt_cfg = {"auth": {"jwt": [{"issuer": ISSUER, "audience": AUDIENCE, "jwks": keys.public()}]}}
    idx = index()
    services = Services(keys=lambda: idx)
    client = UpstreamClient()
    plain = Runtime(config({}), client, services)
    ruled = Runtime(config(RULES), client, services)
    with_jwt = Runtime(config(jwt_cfg), client, services)
    rows = [
        ("(no policy: the context alone)", measure(case(plain, SECRET, 0), args.n, args.rounds)),
        ("key", measure(case(plain, SECRET), args.n, args.rounds)),
        ("key+rules", measure(case(ruled, SECRET), args.n, args.rounds)),
        (
            "jwt RS256 (cached)",
            measure(case(with_jwt, token(keys, exp=2**31 - 1, iat=None)), args.n, args.rounds),
        ),
    ]
    for alg in ("RS256", "ES256", "EdDSA"):
        make = fresh_tokens(keys, alg)
        firsts = [case(with_jwt, make()) for _ in range(max(300, args.n // 200))]
        rows.append((f"jwt {alg} (first use)", measure_each(firsts)))
    secret = SECRET.encode()
    rows.append(("hash only: SHA-256", measure(lambda: hashlib.sha256(secret).hexdigest(),
                                               args.n, args.rounds)))  # fmt: skip
    rows.append(("hash only: HMAC-SHA256", measure(lambda: HASHER.hash(SECRET),
                                                   args.n, args.rounds)))  # fmt: skip
    print("| case | µs per request (median) |")
    print("|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.2f} |")


if __name__ == "__main__":
    main()

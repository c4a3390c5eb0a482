"""In-process counters: buckets, calendar periods, all-or-nothing admission, settlement."""

from __future__ import annotations

from counters_cases import COST_DAY, REQUESTS, TOKENS, check

from lockgate.limits.counters import NEVER, Check
from lockgate.limits.memory import MemoryCounters

P = "lg:"


def test_a_fresh_bucket_admits_limit_plus_burst_then_refills_continuously() -> None:
    c = MemoryCounters()
    req = check(REQUESTS, 1, P)
    admitted = [c.admit_now([req], 0.0).admitted for _ in range(12)]
    assert admitted == [True] * 10 + [False] * 2
    refused = c.admit_now([req], 0.0)
    assert refused.outcomes[0].wait == 1 / 8  # one request refills in 1/8 s
    assert c.admit_now([req], 0.125).admitted and not c.admit_now([req], 0.125).admitted


def test_a_refused_request_consumes_none_of_the_others() -> None:
    c = MemoryCounters()
    req, tok = check(REQUESTS, 1, P), check(TOKENS, 100, P)
    assert c.admit_now([req, tok], 0.0).admitted
    d = c.admit_now([req, tok], 0.0)  # tokens refuse (20 left)
    assert not d.admitted and d.outcomes[0].wait == 0 and d.outcomes[1].wait == 40.0
    # the requests bucket was not touched by the refused call: 9 left
    assert [c.admit_now([req], 0.0).admitted for _ in range(10)] == [True] * 9 + [False]


def test_larger_than_the_whole_limit_is_never() -> None:
    c = MemoryCounters()
    d = c.admit_now([check(TOKENS, 121, P)], 0.0)
    assert not d.admitted and d.outcomes[0].wait == NEVER


def test_settlement_refunds_and_charges_extra() -> None:
    c = MemoryCounters()
    tok = check(TOKENS, 100, P)
    assert c.admit_now([tok], 0.0).admitted
    c.settle([tok], [30.0], 0.0, "r1")  # used 30 of the 100 reserved: 90 left
    assert c.admit_now([check(TOKENS, 90, P)], 0.0).admitted
    tok2 = check(TOKENS, 10, P)
    assert c.admit_now([tok2], 60.0).admitted  # +120 refilled, capped at 120: 110 left
    c.settle([tok2], [200.0], 60.0, "r2")  # the provider used far more: the bucket owes
    d = c.admit_now([check(TOKENS, 1, P)], 60.0)
    assert not d.admitted and d.outcomes[0].wait == (1 + 80) / 2


def test_calendar_quota_resets_at_the_period_end_and_alerts_once_per_threshold() -> None:
    fired: list[tuple[float, float]] = []
    c = MemoryCounters(on_alert=lambda chk, th, used: fired.append((th, used)))
    cost = check(COST_DAY, 600, P)
    assert c.admit_now([cost], 100.0).admitted
    d = c.admit_now([check(COST_DAY, 600, P)], 100.0)
    assert not d.admitted and d.outcomes[0].wait == 86_300.0  # until the day ends
    c.settle([cost], [550.0], 200.0, "r1")
    assert fired == [(0.5, 550.0)]
    again = check(COST_DAY, 300, P)
    assert c.admit_now([again], 300.0).admitted
    c.settle([again], [300.0], 300.0, "r2")
    assert fired == [(0.5, 550.0), (0.8, 850.0)]  # 0.5 does not fire twice


def test_peek_reads_without_changing() -> None:
    c = MemoryCounters()
    tok = check(TOKENS, 50, P)
    c.admit_now([tok], 0.0)
    import asyncio

    [o] = asyncio.run(c.peek([tok], 0.0))
    assert o.remaining == 70.0 and o.reset == 25.0
    assert c.admit_now([check(TOKENS, 70, P)], 0.0).admitted


def test_idle_counters_are_swept() -> None:
    c = MemoryCounters()
    for i in range(5000):
        c.admit_now([Check(REQUESTS, f"lg:{{ip:{i}}}:x", "ip", 1.0, 0.0)], float(i) / 100)
    assert len(c) < 5000  # full buckets of earlier IPs were forgotten

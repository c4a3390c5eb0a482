"""Rendering RESULTS.md from the gathered figures."""

from __future__ import annotations

import math
import statistics

from .common import (
    CORE_LOAD,
    CORE_PROXY,
    FOREIGN_CPU_FLAG,
    POLICY_NOTE,
    SPEC_P50_ADDED_MS,
    SPEC_P99_ADDED_MS,
    SPEC_RPS,
    SPEC_TTFT_MS,
)
from .measure import HeyResult, Run, percentile
from .results import Results


def _med(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return statistics.median(vals) if vals else math.nan


def _fmt(v: float, digits: int = 1) -> str:
    return "—" if math.isnan(v) else f"{v:,.{digits}f}"


def _ratio(v: float, ref: float) -> str:
    if math.isnan(v) or math.isnan(ref) or ref == 0:
        return "—"
    return f"{v / ref:.3g}x"


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "**not met**")


def report(res: Results) -> str:
    a = res.args
    lines = ["# Benchmark results (SPEC section 6)", ""]
    lines += [f"Command: `{res.command}`", ""]
    m = res.machine
    lines += [
        f"Machine: {m['nproc']} cores, `{m['cpu']}`, kernel `{m['kernel']}`; date {m['date']};"
        f" wall time {res.elapsed_s / 60:.1f} min.",
        "",
        "Versions: " + "; ".join(f"{k} `{v}`" for k, v in res.versions.items()) + ".",
        "",
        f"Layout: upstream nginx (1 worker), wrk/hey and the TTFT client on core {CORE_LOAD}; the "
        f"proxy under test alone on core {CORE_PROXY}. {a.rounds} rounds, targets rotating order "
        "every round; figures are medians over valid, undisturbed rounds (see the marks).",
        "",
        POLICY_NOTE,
        "",
    ]
    for t in res.targets:
        if t.error:
            lines += [f"- **{t.name} not measured**: `{t.error.splitlines()[0][:300]}`"]
    lines += ["", "## Throughput (wrk -t1 -c32, small non-streaming chat completion)", ""]
    lines += _throughput_table(res)
    lines += ["", "## Latency at ~500 req/s (hey -c 10 -q 50 -z 8s)", ""]
    lines += _latency_table(res)
    lines += ["", "## Latency of single requests at 500 req/s (hey -c 1 -q 500 -z 8s)", ""]
    lines += _serial_table(res)
    lines += ["", "## Streaming time-to-first-token overhead (Lockgate vs mock direct)", ""]
    lines += _ttft_table(res)
    lines += ["", "## Memory (VmRSS of the proxy process tree)", ""]
    lines += _memory_table(res)
    return "\n".join(lines) + "\n"


def _pick(runs: list[Run]) -> tuple[float, str]:
    """Median over valid undisturbed runs; over all valid runs (marked *) if none is clean."""
    clean = [r.value for r in runs if r.valid and not r.disturbed]
    if clean:
        return _med(clean), ""
    return _med([r.value for r in runs if r.valid]), "*"


def _throughput_table(res: Results) -> list[str]:
    ref, _ = _pick(res.throughput.get("lockgate", []))
    out = [
        "| target | req/s (median) | x Lockgate | runs (req/s) | foreign CPU % per run |",
        "|---|---:|---:|---|---|",
    ]
    for name, runs in res.throughput.items():
        v, mark = _pick(runs)
        each = ", ".join(
            _fmt(r.value, 0) + ("✗" if not r.valid else "~" if r.disturbed else "") for r in runs
        )
        cpu = ", ".join(f"{r.foreign_cpu:.0f}" for r in runs)
        out.append(f"| {name} | {_fmt(v, 0)}{mark} | {_ratio(v, ref)} | {each} | {cpu} |")
    ok = None if math.isnan(ref) else ref >= SPEC_RPS
    out += [
        "",
        f"SPEC target: Lockgate ≥ {SPEC_RPS:,.0f} req/s on one core — {_verdict(ok)}.",
        "",
        "✗ invalid run (non-2xx responses or socket errors), excluded; ~ disturbed run (processes"
        f" not started by the harness used ≥ {FOREIGN_CPU_FLAG:.0f}% of a core meanwhile),"
        " excluded when the target has undisturbed runs; * median over disturbed runs only.",
    ]
    notes = [
        f"{name} r{i + 1}: {r.note}"
        for name, runs in res.throughput.items()
        for i, r in enumerate(runs)
        if r.note
    ]
    if notes:
        out += ["", "Run notes: " + "; ".join(notes) + "."]
    return out


def _added(runs: list[HeyResult], direct: list[HeyResult]) -> tuple[float, float, str]:
    """Added p50/p99 per round against the direct run of the same round, median over rounds."""
    pairs = [(h, d) for h, d in zip(runs, direct, strict=False) if h.errors == 0]
    clean = [(h, d) for h, d in pairs if not h.disturbed and not d.disturbed]
    use, mark = (clean, "") if clean else (pairs, "*")
    a50 = _med([h.p50_ms - d.p50_ms for h, d in use])
    a99 = _med([h.p99_ms - d.p99_ms for h, d in use])
    return a50, a99, mark


def _hey_rows(data: dict[str, list[HeyResult]]) -> tuple[list[str], dict[str, tuple[float, float]]]:
    """The table of one hey mode and each target's added (p50, p99) against nginx-direct."""
    direct = data.get("nginx-direct", [])
    out = [
        "| target | p50 ms | p99 ms | added p50 ms | added p99 ms | achieved req/s"
        " | errors | foreign CPU % per run |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    added: dict[str, tuple[float, float]] = {}
    for name, runs in data.items():
        clean = [h for h in runs if not h.disturbed] or runs
        p50 = _med([h.p50_ms for h in clean])
        p99 = _med([h.p99_ms for h in clean])
        a50, a99, mark = _added(runs, direct)
        added[name] = (a50, a99)
        rate = _med([h.rate for h in runs])
        errs = sum(h.errors for h in runs)
        cpu = ", ".join(f"{h.foreign_cpu:.0f}" for h in runs)
        is_direct = name == "nginx-direct"
        add50 = "—" if is_direct else _fmt(a50, 2) + mark
        add99 = "—" if is_direct else _fmt(a99, 2) + mark
        out.append(
            f"| {name} | {_fmt(p50, 2)} | {_fmt(p99, 2)} | {add50} | {add99} | {_fmt(rate, 0)}"
            f" | {errs} | {cpu} |"
        )
    return out, added


def _latency_table(res: Results) -> list[str]:
    out, added = _hey_rows(res.latency)
    lg = added.get("lockgate")
    ok50 = None if lg is None or math.isnan(lg[0]) else lg[0] <= SPEC_P50_ADDED_MS
    ok99 = None if lg is None or math.isnan(lg[1]) else lg[1] <= SPEC_P99_ADDED_MS
    out += [
        "",
        f"SPEC targets: added p50 ≤ {SPEC_P50_ADDED_MS} ms — {_verdict(ok50)}; added p99 ≤"
        f" {SPEC_P99_ADDED_MS} ms — {_verdict(ok99)}.",
        "",
        "Added = gateway percentile - nginx-direct percentile of the same round, median over the"
        " rounds in which neither run was disturbed (* = only disturbed rounds available). hey"
        " reports each latency with 0.1 ms resolution (`%4.4f` seconds). An achieved rate well"
        " under 500 req/s means the target saturated: its latency is queueing, not overhead."
        " hey starts the tickers of its 10 workers together, so requests arrive in bursts of 10"
        " every 20 ms: the median request waits behind about half of its burst, and the added"
        " latency is mostly that queueing (about 5 x the gateway's CPU time per request).",
    ]
    return out


def _serial_table(res: Results) -> list[str]:
    if not res.serial:
        return ["Not measured in this run."]
    out, _ = _hey_rows(res.serial)
    out += [
        "",
        "One hey worker at 500 req/s: evenly spaced requests, one at a time, so each added"
        " figure is one request's own path through the proxy (two extra loopback hops"
        " included), without queueing behind other requests. Not a SPEC figure; it separates"
        " per-request overhead from the burst queueing of the table above. A target slower"
        " than 2 ms per request cannot keep the rate (achieved req/s says so).",
    ]
    return out


def _ttft_table(res: Results) -> list[str]:
    if not res.ttft:
        return [f"Not measured: {res.ttft_error or 'Lockgate not running'}"]
    rows = [
        "| round | direct p50 ms | Lockgate p50 ms | overhead p50 ms | direct p99 ms"
        " | Lockgate p99 ms | overhead p99 ms | failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    o50s: list[float] = []
    o99s: list[float] = []
    for i, r in enumerate(res.ttft):
        d50, g50 = percentile(r["direct"], 0.5), percentile(r["lockgate"], 0.5)
        d99, g99 = percentile(r["direct"], 0.99), percentile(r["lockgate"], 0.99)
        o50s.append(g50 - d50)
        o99s.append(g99 - d99)
        rows.append(
            f"| {i + 1} | {d50:.3f} | {g50:.3f} | {g50 - d50:.3f} | {d99:.3f} | {g99:.3f}"
            f" | {g99 - d99:.3f} | {r['failures']} |"
        )
    o50, o99 = _med(o50s), _med(o99s)
    ok = None if math.isnan(o50) else o50 <= SPEC_TTFT_MS
    rows += [
        f"| **median** | | | **{o50:.3f}** | | | **{o99:.3f}** | |",
        "",
        f"{res.args.ttft_n} sequential streaming requests per side per round (after 20 warm-up),"
        " alternating direct/Lockgate on one keep-alive connection each; TTFT = request sent →"
        " first SSE event with non-empty `content` received. SPEC target: overhead ≤"
        f" {SPEC_TTFT_MS} ms (median) — {_verdict(ok)}.",
    ]
    return rows


def _memory_table(res: Results) -> list[str]:
    out: list[str] = []
    for name, samples in res.rss.items():
        out.append(
            f"- {name}: "
            + ", ".join(f"{label} {kb / 1024:.1f} MiB" for label, kb in samples)
            + (
                f" (growth {(samples[-1][1] - samples[0][1]) / 1024:+.1f} MiB)"
                if len(samples) > 1
                else ""
            )
        )
    if res.soak:
        step = max(100_000, res.args.soak // 20)
        out += ["", f"Soak (`--soak {res.args.soak}`), Lockgate RSS every ~{step:,} requests:", ""]
        out += ["| requests | RSS MiB |", "|---:|---:|"]
        out += [f"| {n:,} | {kb / 1024:.1f} |" for n, kb in res.soak]
        if len(res.soak) > 2:
            first, last = res.soak[1][1], res.soak[-1][1]
            half = res.soak[-1][0] / 2
            mid = next(kb for n, kb in res.soak if n >= half)
            out += [
                "",
                f"Growth after the first {res.soak[1][0]:,} requests: {(last - first) / 1024:+.1f}"
                f" MiB; over the second half of the soak: {(last - mid) / 1024:+.1f} MiB.",
            ]
        if res.soak_note:
            out += ["", res.soak_note]
    else:
        out += ["", "The 1,000,000-request soak (`--soak 1000000`) was not run in this run."]
    return out

#!/usr/bin/env python3
"""Reproduce the SPEC section 6 measurement: Lockgate beside nginx, LiteLLM and Portkey.

Layout (2 cores): the upstream (one nginx worker, or ``lockgate mock-upstream`` for streaming),
the load generators (wrk, hey, the raw-socket TTFT client = this process) on core 0; the
proxy under test on core 1. Every target is measured in every round, the order rotating per
round, so a disturbance hits one run rather than one target. See bench/README.md.

Stdlib + httpx only. Everything listens on 127.0.0.1 and every process started here is killed
(process group) on exit, including Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
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
    "Policies on the Lockgate path: key authentication (a key created through the admin API,"
    " sent as Bearer) and plan model access (`plans.bench` lists the models). SPEC section 6"
    " asks for requests+tokens+cost limits and usage logging as well; `lockgate.bench.yaml.tmpl`"
    " configures none because they were not built when this harness was written — add them there"
    " once they exist. Until then these figures are for a lighter policy set than the SPEC's."
)
CONTENT_RE = re.compile(rb'"content"\s*:\s*"[^"]')


def chat_body(model: str, *, stream: bool = False) -> str:
    doc: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Say hi."}]}
    if stream:
        doc["stream"] = True
    return json.dumps(doc, separators=(",", ":"))


# --- processes ------------------------------------------------------------------------------


class Procs:
    """Every process the harness starts, each in its own session so its group can be killed."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.running: list[subprocess.Popen[bytes]] = []
        self.sessions: set[int] = set()
        self._logs: list[IO[bytes]] = []

    def start(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        capture: bool = False,
    ) -> subprocess.Popen[bytes]:
        out: IO[bytes] | int
        if capture:
            out = subprocess.PIPE
        else:
            log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop_all
            self._logs.append(log)
            out = log
        proc = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append(proc)
        self.sessions.add(proc.pid)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
            proc.wait(timeout=5)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            self.stop(proc)
        for log in self._logs:
            log.close()

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_captured(procs: Procs, args: list[str], timeout: float) -> tuple[int, str, float]:
    """Run a load generator to completion; return exit code, output and its CPU seconds."""
    proc = procs.start("load", args, capture=True)
    timer = threading.Timer(timeout, lambda: procs.stop(proc, grace=1.0))
    timer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        timer.cancel()
        if proc.returncode is None:  # interrupted: kill it now, it is in its own session
            procs.stop(proc, grace=1.0)
        elif proc in procs.running:
            procs.running.remove(proc)
    return proc.returncode, out, usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url}: not ready after {timeout:.0f}s")


def tool(name: str) -> str:
    path = shutil.which(name, path=SBIN_PATH)
    if path is None:
        raise RuntimeError(f"{name} not found")
    return path


# --- CPU accounting (noise detection) -------------------------------------------------------


def _busy_jiffies() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    values = [int(v) for v in fields]
    return sum(values) - values[3] - values[4]  # minus idle and iowait


def _session_jiffies(sessions: set[int]) -> int:
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        if int(rest[3]) in sessions:  # field 6: session id
            total += int(rest[11]) + int(rest[12])
    return total


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class CpuWatch:
    """CPU used during a run by processes this harness did not start, in % of one core."""

    def __init__(self, procs: Procs) -> None:
        self.procs = procs

    def __enter__(self) -> CpuWatch:
        self.t0 = time.monotonic()
        self.busy0 = _busy_jiffies()
        self.ours0 = _session_jiffies(self.procs.sessions)
        self.self0 = _self_cpu()
        self.child_cpu = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = max(time.monotonic() - self.t0, 1e-3)
        busy = (_busy_jiffies() - self.busy0) / CLK_TCK
        ours = (_session_jiffies(self.procs.sessions) - self.ours0) / CLK_TCK
        ours += self.child_cpu + (_self_cpu() - self.self0)
        self.foreign_pct = max(0.0, (busy - ours) / elapsed * 100.0)


def wait_quiet(procs: Procs, limit_s: float) -> float:
    """Wait (at most limit_s) for a second in which other processes use < FOREIGN_CPU_FLAG %."""
    pct = 0.0
    for _ in range(max(1, int(limit_s))):
        with CpuWatch(procs) as watch:
            time.sleep(1.0)
        pct = watch.foreign_pct
        if pct < FOREIGN_CPU_FLAG:
            break
    return pct


# --- raw HTTP/1.1 client (TTFT and unloaded round trips) ------------------------------------


class RawConn:
    """A keep-alive HTTP/1.1 connection with just enough parsing for these two responses."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed mid-response")
        self.buf += data

    def _take_line(self) -> bytes:
        for _ in range(10_000):
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line, self.buf = self.buf[:idx], self.buf[idx + 2 :]
                return line
            self._fill()
        raise ConnectionError("line too long")

    def _take(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self.buf:
                self._fill()
            piece, self.buf = self.buf[:n], self.buf[n:]
            n -= len(piece)
            yield piece

    def request(self, path: str, body: str, headers: dict[str, str]) -> tuple[int, float, float]:
        """POST; return status, seconds to the first content token, seconds to the end."""
        sock = self._connect()
        payload = body.encode()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        head += "Content-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        t0 = time.perf_counter()
        sock.sendall(head.encode() + payload)
        status = int(self._take_line().split()[1])
        hdrs: dict[str, str] = {}
        for _ in range(200):
            line = self._take_line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            hdrs[name.strip().lower()] = value.strip().lower()
        first = math.nan
        seen = b""
        for piece in self._body(hdrs):
            if math.isnan(first):
                seen += piece
                if CONTENT_RE.search(seen):
                    first = time.perf_counter() - t0
        end = time.perf_counter() - t0
        if hdrs.get("connection") == "close":
            self.close()
        return status, first, end

    def _body(self, hdrs: dict[str, str]) -> Iterator[bytes]:
        if "chunked" in hdrs.get("transfer-encoding", ""):
            for _ in range(1_000_000):
                size = int(self._take_line().split(b";")[0], 16)
                if size == 0:
                    for _ in range(100):  # trailers, then the blank line
                        if not self._take_line():
                            return
                    return
                yield from self._take(size)
                self._take_line()
        else:
            yield from self._take(int(hdrs.get("content-length", "0")))


# --- targets --------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    is_gateway: bool = True
    error: str | None = None  # set when the target cannot be measured
    path: str = "/v1/chat/completions"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def verify(self) -> None:
        try:
            r = httpx.post(
                self.url,
                content=chat_body(self.model),
                headers={"content-type": "application/json", **self.headers},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            self.error = f"request failed: {exc!r}"
            return
        if r.status_code != 200 or "choices" not in r.text:
            self.error = f"HTTP {r.status_code}: {r.text[:300]}"
        else:
            self.error = None


def render(template: str, **values: object) -> str:
    text = (BENCH / template).read_text()
    return string.Template(text).substitute({k: str(v) for k, v in values.items()})


def start_nginx(procs: Procs, tmp: Path, name: str, core: str, upstream: int | None) -> Target:
    prefix = tmp / name
    prefix.mkdir()
    port = free_port()
    if upstream is None:
        upstream_block = ""
        body = f"            return 200 '{json.dumps(CANNED_COMPLETION, separators=(',', ':'))}';"
    else:
        upstream_block = f"    upstream direct {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n"
        body = (
            "            proxy_pass http://direct;\n"
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";'
        )
    conf = prefix / "nginx.conf"
    conf.write_text(
        render(
            "nginx.conf.tmpl",
            prefix=prefix,
            port=port,
            upstream_block=upstream_block,
            location_body=body,
        )
    )
    args = ["taskset", "-c", core, tool("nginx"), "-p", str(prefix), "-e", str(prefix / "e.log")]
    proc = procs.start(name, [*args, "-c", str(conf)])
    wait_http(f"http://127.0.0.1:{port}/", proc, 15)
    return Target(name, port, "m", proc=proc, is_gateway=upstream is not None)


def start_mock(procs: Procs) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    args = ["taskset", "-c", CORE_LOAD, str(VENV_BIN / "lockgate"), "mock-upstream"]
    proc = procs.start("mock", [*args, "--port", str(port), "--no-record"])
    wait_http(f"http://127.0.0.1:{port}/_mock/stats", proc, 30)
    return port, proc


def start_lockgate(procs: Procs, tmp: Path, upstream: int, mock: int) -> Target:
    admin_key = "lga-bench-" + secrets.token_hex(20)
    conf = tmp / "lockgate.bench.yaml"
    conf.write_text(
        render(
            "lockgate.bench.yaml.tmpl",
            db_path=tmp / "lockgate.db",
            upstream_port=upstream,
            mock_port=mock,
        )
    )
    port = free_port()
    args = ["taskset", "-c", CORE_PROXY, str(VENV_BIN / "lockgate"), "serve", "--config", str(conf)]
    env = {"LOCKGATE_ADMIN_KEY": admin_key, "PYTHONUNBUFFERED": "1"}
    proc = procs.start("lockgate", [*args, "--port", str(port)], env=env, cwd=tmp)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, 60)
    auth = {"authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/admin/v1", headers=auth) as admin:
        r = admin.post("/tenants", json={"name": "bench"})
        r.raise_for_status()
        r = admin.post("/tenants/bench/apps", json={"name": "bench", "plan": "bench"})
        r.raise_for_status()
        r = admin.post(f"/apps/{r.json()['id']}/keys", json={})
        r.raise_for_status()
        key = str(r.json()["key"])
    return Target("lockgate", port, "bench-chat", {"Authorization": f"Bearer {key}"}, proc=proc)


def start_litellm(procs: Procs, tmp: Path, upstream: int) -> Target:
    master = "sk-bench-" + secrets.token_hex(20)
    conf = tmp / "litellm.yaml"
    conf.write_text(render("litellm.config.tmpl", upstream_port=upstream, master_key=master))
    port = free_port()
    exe = str(LITELLM_DIR / "bin" / "litellm")
    args = ["taskset", "-c", CORE_PROXY, exe, "--config", str(conf), "--port", str(port)]
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network fetch at start-up
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "NO_DOCS": "True",
    }
    proc = procs.start("litellm", [*args, "--num_workers", "1"], env=env, cwd=tmp)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, 180)
    return Target("litellm", port, "chat-a", {"Authorization": f"Bearer {master}"}, proc=proc)


def start_portkey(procs: Procs, upstream: int) -> Target:
    port = free_port()
    script = PORTKEY_DIR / "node_modules/@portkey-ai/gateway/build/start-server.js"
    # this version reads only "--port=P" (a bare "--port P" is ignored: it listens on 8787)
    args = ["taskset", "-c", CORE_PROXY, tool("node"), str(script), f"--port={port}", "--headless"]
    proc = procs.start("portkey", args, cwd=PORTKEY_DIR)
    wait_http(f"http://127.0.0.1:{port}/", proc, 60)
    headers = {
        "Authorization": "Bearer x",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{upstream}/v1",
    }
    return Target("portkey", port, "m", headers, proc=proc)


# --- tools and versions ---------------------------------------------------------------------


def ensure_tools(skip_peers: bool) -> None:
    missing = [t for t in ("nginx", "wrk", "hey") if shutil.which(t, path=SBIN_PATH) is None]
    if missing:
        print(f"installing {' '.join(missing)} from Debian", flush=True)
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(["apt-get", "install", "-y", *missing], check=True)
    if skip_peers:
        return
    SCRATCH.mkdir(exist_ok=True)
    if not (LITELLM_DIR / "bin" / "litellm").exists():
        print(f"installing {LITELLM_SPEC} into {LITELLM_DIR} (about 4 minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_DIR)], check=True)
        pip = str(LITELLM_DIR / "bin" / "pip")
        subprocess.run([pip, "install", "-q", LITELLM_SPEC], check=True)
    if not (PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway").exists():
        print(f"installing {PORTKEY_SPEC} into {PORTKEY_DIR}", flush=True)
        PORTKEY_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([tool("npm"), "install", PORTKEY_SPEC], cwd=PORTKEY_DIR, check=True)


def _cmd_out(args: list[str], cwd: Path | None = None) -> str:
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else ""


def versions(skip_peers: bool) -> dict[str, str]:
    git = _cmd_out(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT)
    dirty = _cmd_out(["git", "status", "--porcelain", "--", "src"], cwd=ROOT)
    out = {
        "lockgate": _cmd_out([str(VENV_BIN / "lockgate"), "--version"])
        + f" (git {git}{', uncommitted changes in src/' if dirty else ''})",
        "python (lockgate)": _cmd_out([str(VENV_BIN / "python"), "--version"]),
        "nginx": _cmd_out([tool("nginx"), "-v"]),
        "wrk": _cmd_out(["dpkg-query", "-W", "-f", "${Version}", "wrk"]),
        "hey": _cmd_out(["dpkg-query", "-W", "-f", "${Version}", "hey"]),
    }
    if not skip_peers:
        out["litellm"] = _cmd_out(
            [
                str(LITELLM_DIR / "bin" / "python"),
                "-c",
                "import importlib.metadata as m; print(m.version('litellm'))",
            ]
        )
        pkg = PORTKEY_DIR / "node_modules/@portkey-ai/gateway/package.json"
        out["portkey gateway"] = json.loads(pkg.read_text())["version"] if pkg.exists() else "?"
        out["node"] = _cmd_out([tool("node"), "--version"])
    return out


def machine() -> dict[str, str]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Run:
    value: float
    valid: bool
    foreign_cpu: float
    note: str = ""

    @property
    def disturbed(self) -> bool:
        return self.foreign_cpu >= FOREIGN_CPU_FLAG


def rss_kb(pid: int) -> int:
    """VmRSS of a process and all its descendants, in kB."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            ppid = int(raw[raw.rfind(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    for _ in range(10_000):
        if not todo:
            break
        p = todo.pop()
        todo.extend(children.get(p, []))
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def wrk_env(t: Target) -> dict[str, str]:
    return {
        "BENCH_BODY": chat_body(t.model),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in t.headers.items()),
    }


def run_wrk(procs: Procs, t: Target, duration: float, quiet: float) -> tuple[Run, int]:
    os.environ.update(wrk_env(t))  # inherited by wrk: post.lua reads them
    args = ["taskset", "-c", CORE_LOAD, tool("wrk"), "-t1", "-c32", f"-d{duration:.0f}s"]
    args += ["-s", str(BENCH / "post.lua"), t.url]
    if quiet > 0:
        wait_quiet(procs, quiet)
    with CpuWatch(procs) as watch:
        code, out, cpu = run_captured(procs, args, duration + 60)
        watch.child_cpu = cpu
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    notes = []
    valid = code == 0 and m is not None and n is not None and int(n.group(1)) > 0
    if bad:
        valid = False
        notes.append(f"{bad.group(1)} non-2xx")
    if sock:
        errs = [int(x) for x in sock.groups()]
        if any(errs[:3]):
            valid = False
        notes.append("socket errors " + "/".join(sock.groups()) + " (connect/read/write/timeout)")
    if not valid and not notes:
        notes.append(out.strip()[-300:])
    rps = float(m.group(1)) if m else 0.0
    run = Run(rps, valid, watch.foreign_pct, "; ".join(notes))
    return run, int(n.group(1)) if n else 0


@dataclass
class HeyResult:
    p50_ms: float
    p99_ms: float
    rate: float
    errors: int
    foreign_cpu: float

    @property
    def disturbed(self) -> bool:
        return self.foreign_cpu >= FOREIGN_CPU_FLAG


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def run_hey(procs: Procs, t: Target, seconds: int, quiet: float) -> HeyResult:
    args = ["taskset", "-c", CORE_LOAD, tool("hey"), "-z", f"{seconds}s", "-c", "10", "-q", "50"]
    args += ["-m", "POST", "-T", "application/json", "-o", "csv"]
    for k, v in t.headers.items():
        args += ["-H", f"{k}: {v}"]
    args += ["-d", chat_body(t.model), t.url]
    if quiet > 0:
        wait_quiet(procs, quiet)
    with CpuWatch(procs) as watch:
        _, out, cpu = run_captured(procs, args, seconds + 60)
        watch.child_cpu = cpu
    times: list[float] = []
    errors = 0
    for line in out.splitlines()[1:]:
        cols = line.split(",")
        if len(cols) < 7:
            continue
        try:
            latency, status = float(cols[0]), int(cols[6])
        except ValueError:
            continue
        if status == 200:
            times.append(latency * 1000.0)
        else:
            errors += 1
    if not times:
        errors += 1
    return HeyResult(
        percentile(times, 0.5),
        percentile(times, 0.99),
        len(times) / seconds,
        errors,
        watch.foreign_pct,
    )


def ttft_round(direct: RawConn, gw: RawConn, gw_headers: dict[str, str], n: int) -> dict[str, Any]:
    """Alternate N streaming requests direct / through Lockgate; TTFT in ms for each side."""
    direct_body = chat_body("m", stream=True)
    gw_body = chat_body("bench-stream", stream=True)
    mock_auth = {"Authorization": "Bearer x"}
    res: dict[str, list[float]] = {"direct": [], "lockgate": []}
    failures = 0
    for i in range(n + 20):  # 20 warm-up pairs
        for side, conn, body, hdrs in (
            ("direct", direct, direct_body, mock_auth),
            ("lockgate", gw, gw_body, gw_headers),
        ):
            try:
                status, first, _ = conn.request("/v1/chat/completions", body, hdrs)
            except (OSError, ConnectionError, ValueError):
                conn.close()
                failures += 1
                continue
            if status != 200 or math.isnan(first):
                failures += 1
            elif i >= 20:
                res[side].append(first * 1000.0)
    return {"direct": res["direct"], "lockgate": res["lockgate"], "failures": failures}


# --- orchestration --------------------------------------------------------------------------


@dataclass
class Results:
    args: argparse.Namespace
    command: str
    machine: dict[str, str]
    versions: dict[str, str]
    targets: list[Target]
    throughput: dict[str, list[Run]] = field(default_factory=dict)
    latency: dict[str, list[HeyResult]] = field(default_factory=dict)
    ttft: list[dict[str, Any]] = field(default_factory=list)
    ttft_error: str | None = None
    rss: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    soak: list[tuple[int, int]] = field(default_factory=list)
    soak_note: str = ""
    elapsed_s: float = 0.0


def rotate(items: list[Target], k: int) -> list[Target]:
    k %= max(len(items), 1)
    return items[k:] + items[:k]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def measure_throughput(procs: Procs, res: Results, live: list[Target]) -> None:
    a = res.args
    for t in live:
        if t.proc is not None and t.is_gateway:
            res.rss.setdefault(t.name, []).append(("before throughput", rss_kb(t.proc.pid)))
    for rnd in range(a.rounds):
        for t in rotate(live, rnd):
            run, _ = run_wrk(procs, t, a.duration, a.quiet_wait)
            res.throughput.setdefault(t.name, []).append(run)
            flag = "" if run.valid else f" INVALID ({run.note})"
            log(
                f"throughput r{rnd + 1} {t.name:13s} {run.value:9.1f} req/s"
                f"  foreign cpu {run.foreign_cpu:4.0f}%{flag}"
            )
        for t in live:
            if t.proc is not None and t.is_gateway:
                res.rss[t.name].append((f"after round {rnd + 1}", rss_kb(t.proc.pid)))


def measure_latency(procs: Procs, res: Results, live: list[Target]) -> None:
    for rnd in range(res.args.rounds):
        for t in rotate(live, rnd):
            h = run_hey(procs, t, 8, res.args.quiet_wait)
            res.latency.setdefault(t.name, []).append(h)
            log(
                f"latency    r{rnd + 1} {t.name:13s} p50 {h.p50_ms:7.2f} ms  p99 {h.p99_ms:7.2f} ms"
                f"  {h.rate:5.0f} req/s  errors {h.errors}  foreign cpu {h.foreign_cpu:4.0f}%"
            )


def measure_ttft(res: Results, mock_port: int, lg: Target) -> None:
    direct, gw = RawConn(mock_port), RawConn(lg.port)
    try:
        for rnd in range(res.args.rounds):
            r = ttft_round(direct, gw, lg.headers, res.args.ttft_n)
            res.ttft.append(r)
            d, g = r["direct"], r["lockgate"]
            if d and g:
                log(
                    f"ttft       r{rnd + 1} direct p50 {percentile(d, 0.5):.3f} ms, lockgate p50"
                    f" {percentile(g, 0.5):.3f} ms, failures {r['failures']}"
                )
            else:
                log(f"ttft       r{rnd + 1} no data (failures {r['failures']})")
    finally:
        direct.close()
        gw.close()


def measure_soak(procs: Procs, res: Results, lg: Target) -> None:
    total_goal = res.args.soak
    runs = res.throughput.get("lockgate", [])
    rate = statistics.median([r.value for r in runs]) if runs else 1000.0
    assert lg.proc is not None
    res.soak.append((0, rss_kb(lg.proc.pid)))
    sent = 0
    for _ in range(total_goal // 100_000 * 3 + 5):
        if sent >= total_goal:
            break
        chunk = min(100_000, total_goal - sent)
        seconds = max(2.0, math.ceil(chunk / max(rate, 1.0)))
        run, n = run_wrk(procs, lg, seconds, 0.0)
        if not run.valid:
            res.soak_note = f"stopped: invalid run after {sent} requests ({run.note})"
            break
        sent += n
        rate = max(run.value, 1.0)
        res.soak.append((sent, rss_kb(lg.proc.pid)))
        log(f"soak       {sent:9d} requests  RSS {res.soak[-1][1] / 1024:.1f} MiB")


def run_all(procs: Procs, res: Results, tmp: Path) -> None:
    a = res.args
    wanted = set(a.targets.split(","))
    direct = start_nginx(procs, tmp, "nginx-direct", CORE_LOAD, None)
    direct.is_gateway = False
    targets = [direct]
    if "nginx-proxy" in wanted:
        targets.append(start_nginx(procs, tmp, "nginx-proxy", CORE_PROXY, direct.port))
    mock_port, _ = start_mock(procs)
    lg: Target | None = None
    if "lockgate" in wanted:
        try:
            lg = start_lockgate(procs, tmp, direct.port, mock_port)
        except (RuntimeError, httpx.HTTPError) as exc:
            err = f"did not start: {exc}\n{procs.log_tail('lockgate')}"
            lg = Target("lockgate", 0, "bench-chat", error=err)
        targets.append(lg)
    if not a.skip_peers:
        starters: list[tuple[str, Callable[[], Target]]] = [
            ("litellm", lambda: start_litellm(procs, tmp, direct.port)),
            ("portkey", lambda: start_portkey(procs, direct.port)),
        ]
        for name, start in starters:
            if name not in wanted:
                continue
            log(f"starting {name}")
            try:
                targets.append(start())
            except (RuntimeError, OSError) as exc:
                err = f"did not start: {exc}\n{procs.log_tail(name)}"
                targets.append(Target(name, 0, "m", error=err))
    res.targets = targets
    for t in targets:
        if t.error is None:
            t.verify()
        log(f"{t.name}: {'ok' if t.error is None else 'NOT MEASURED: ' + t.error}")
    live = [t for t in targets if t.error is None]
    measure_throughput(procs, res, live)
    measure_latency(procs, res, live)
    if lg is not None and lg.error is None:
        measure_ttft(res, mock_port, lg)
        if a.soak:
            measure_soak(procs, res, lg)
    elif lg is not None:
        res.ttft_error = lg.error


# --- report ---------------------------------------------------------------------------------


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


def _latency_table(res: Results) -> list[str]:
    direct = res.latency.get("nginx-direct", [])
    out = [
        "| target | p50 ms | p99 ms | added p50 ms | added p99 ms | achieved req/s"
        " | errors | foreign CPU % per run |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    added: dict[str, tuple[float, float]] = {}
    for name, runs in res.latency.items():
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
        " under 500 req/s means the target saturated: its latency is queueing, not overhead.",
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
        out += ["", f"Soak (`--soak {res.args.soak}`), Lockgate RSS every ~100k requests:", ""]
        out += ["| requests | RSS MiB |", "|---:|---:|"]
        out += [f"| {n:,} | {kb / 1024:.1f} |" for n, kb in res.soak]
        if len(res.soak) > 2:
            first, last = res.soak[1][1], res.soak[-1][1]
            out += ["", f"Growth after the first 100k: {(last - first) / 1024:+.1f} MiB."]
        if res.soak_note:
            out += ["", res.soak_note]
    else:
        out += ["", "The 1,000,000-request soak (`--soak 1000000`) was not run in this run."]
    return out


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (default 3)")
    p.add_argument("--duration", type=float, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--skip-peers", action="store_true", help="only nginx and Lockgate")
    p.add_argument(
        "--targets",
        default="nginx-proxy,lockgate,litellm,portkey",
        help="comma list among nginx-proxy,lockgate,litellm,portkey (nginx-direct always runs)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=20,
        help="before each run wait up to S seconds for other processes to idle (default 20)",
    )
    p.add_argument("--ttft-n", type=int, default=200, help="streaming requests per side/round")
    p.add_argument("--soak", type=int, default=0, help="also send N requests, RSS every 100k")
    p.add_argument("--results", type=Path, default=BENCH / "RESULTS.md", help="report path")
    p.add_argument("--json", type=Path, default=None, help="also dump raw figures as JSON")
    return p.parse_args(argv)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    started = time.monotonic()
    ensure_tools(args.skip_peers)
    os.sched_setaffinity(0, {int(CORE_LOAD)})  # the TTFT client shares the load core
    command = shlex.join([".venv/bin/python", "bench/run.py", *argv])
    res = Results(args, command, machine(), versions(args.skip_peers), [])
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmpdir:
        tmp = Path(tmpdir)
        procs = Procs(SCRATCH if SCRATCH.exists() else tmp)
        try:
            run_all(procs, res, tmp)
        except KeyboardInterrupt:
            log("interrupted; stopping everything")
            return 130
        finally:
            procs.stop_all()
    res.elapsed_s = time.monotonic() - started
    text = report(res)
    args.results.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(_raw(res), indent=1, default=str))
    print(text)
    log(f"wrote {args.results}")
    return 0


def _raw(res: Results) -> dict[str, Any]:
    return {
        "command": res.command,
        "machine": res.machine,
        "versions": res.versions,
        "throughput": {k: [vars(r) for r in v] for k, v in res.throughput.items()},
        "latency": {k: [vars(h) for h in v] for k, v in res.latency.items()},
        "ttft": res.ttft,
        "rss": res.rss,
        "soak": res.soak,
        "errors": {t.name: t.error for t in res.targets if t.error},
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

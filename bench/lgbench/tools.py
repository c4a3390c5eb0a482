"""Installing and locating nginx, wrk, hey and the peers; versions and machine facts."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from .common import (
    LITELLM_DIR,
    LITELLM_SPEC,
    PORTKEY_DIR,
    PORTKEY_SPEC,
    ROOT,
    SBIN_PATH,
    SCRATCH,
    VENV_BIN,
)


def tool(name: str) -> str:
    path = shutil.which(name, path=SBIN_PATH)
    if path is None:
        raise RuntimeError(f"{name} not found")
    return path


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

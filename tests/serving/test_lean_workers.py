"""``lockgate.serving.run`` with several worker processes, driven as a real process tree."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).parent
RUN = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')\n"
    "from lockgate.serving import run\n"
    "run({factory!r}, host='127.0.0.1', port=0, workers={workers}, graceful_timeout=3)\n"
)


class Tree:
    """``run(...)`` in a child Python, with its log lines collected as they come."""

    def __init__(self, factory: str, workers: int = 2) -> None:
        self.workers = workers
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUN.format(factory=factory, workers=workers)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as under a terminal
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, text: str, count: int = 1) -> list[str]:
        """The log lines containing ``text``, once there are ``count`` of them."""
        found = [line for line in self.log if text in line]
        while len(found) < count:
            line = self.lines.get(timeout=20)  # queue.Empty fails the test
            self.log.append(line)
            if text in line:
                found.append(line)
        return found

    def finish(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(20)

    def port(self) -> int:
        """The shared port, once every worker listens on it."""
        listening = self.wait_for("Listening on http://127.0.0.1:", count=self.workers)
        return int(listening[0].rsplit(":", 1)[1])


def get(port: int, query: str = "") -> int:
    # A fresh connection per request: the kernel hands each to whichever worker accepts.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/?{query}", timeout=10) as reply:
        return int(reply.read())


def test_two_workers_share_the_port_and_stop_on_sigterm() -> None:
    tree = Tree("lean_worker_app:pid_app")
    try:
        port = tree.port()
        parent = tree.wait_for("Started parent process")[0]
        assert str(tree.proc.pid) in parent
        seen: set[int] = set()
        for _ in range(500):  # stops at the first sight of both workers
            seen.add(get(port))
            if len(seen) == 2:
                break
        assert len(seen) == 2 and tree.proc.pid not in seen
        tree.proc.send_signal(signal.SIGTERM)
        assert tree.proc.wait(20) == 0
        tree.wait_for("Stopping parent process")
        for pid in seen:  # reaped by the parent, not left behind
            assert not Path(f"/proc/{pid}").exists()
    finally:
        tree.finish()


def test_ctrl_c_to_the_process_group_lets_in_flight_requests_finish() -> None:
    """Workers get the terminal's SIGINT and the parent's SIGTERM: still only a graceful stop."""
    tree = Tree("lean_worker_app:pid_app")
    try:
        port = tree.port()
        answers: list[int | Exception] = []

        def slow_request() -> None:
            try:
                answers.append(get(port, "slow"))
            except Exception as exc:  # seen by the assertion below, not lost in the thread
                answers.append(exc)

        client = threading.Thread(target=slow_request)
        client.start()
        tree.wait_for("request in flight")
        os.killpg(tree.proc.pid, signal.SIGINT)
        client.join(20)
        assert len(answers) == 1 and isinstance(answers[0], int), answers
        assert tree.proc.wait(20) == 0
    finally:
        tree.finish()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_stop_when_the_parent_is_killed() -> None:
    """SIGKILL leaves the parent no chance to forward anything: the kernel tells the workers."""
    tree = Tree("lean_worker_app:pid_app")
    seen: set[int] = set()
    try:
        port = tree.port()
        for _ in range(500):
            seen.add(get(port))
            if len(seen) == 2:
                break
        assert len(seen) == 2
        tree.proc.kill()
        tree.proc.wait(20)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in seen if _alive(pid)], "workers outlived their parent"
    finally:
        for pid in seen:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        tree.finish()


def _alive(pid: int) -> bool:
    """Running, not merely a zombie awaiting its new parent's reaping."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_one_worker_serves_the_factory_app_in_process() -> None:
    tree = Tree("lean_worker_app:pid_app", workers=1)
    try:
        assert get(tree.port()) == tree.proc.pid
        tree.proc.send_signal(signal.SIGTERM)
        assert tree.proc.wait(20) == 0
        assert not [line for line in tree.log if "parent process" in line]
    finally:
        tree.finish()


def test_parent_exits_non_zero_when_every_worker_dies() -> None:
    tree = Tree("lean_worker_app:broken_app")
    try:
        assert tree.proc.wait(30) == 1
        tree.wait_for("not restarted", count=2)
        tree.wait_for("Every worker process exited")
    finally:
        tree.finish()


@pytest.mark.parametrize("spec", ["no_colon", ":app", "module:"])
def test_malformed_factory_is_refused_before_any_worker_starts(spec: str) -> None:
    from lockgate.serving import run

    with pytest.raises(ValueError, match="module:callable"):
        run(spec, host="127.0.0.1", port=0, workers=2, graceful_timeout=1)

"""``evo-relay demo`` as a user runs it: a real process, its banner, its curl lines, Ctrl-C.

The process runs its own embedded Postgres in a temporary data dir, twice on the same dir:
the second start must work after the first one was stopped with SIGINT.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support import clean_env

pytestmark = pytest.mark.timeout(120)

READY_LINE = "evo-relay demo is running"


class DemoProcess:
    def __init__(self, data_dir: Path, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "demo", "--data-dir", str(data_dir), *flags],
            cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []

    def banner(self, within: float = 60) -> str:
        """Read stdout until the banner is complete (its last line names /_sim/scan)."""
        assert self.proc.stdout is not None
        # A blocking readline has no deadline of its own: at the deadline the demo is stopped as
        # Ctrl-C stops it, and its stdout ends.
        watchdog = threading.Timer(within, self.proc.send_signal, [signal.SIGINT])
        watchdog.start()
        try:
            for line in iter(self.proc.stdout.readline, ""):
                self.lines.append(line)
                if "/_sim/scan/a-vendas" in line:
                    return "".join(self.lines)
            self.proc.wait(timeout=60)
        finally:
            watchdog.cancel()
        raise AssertionError(f"no banner; output so far: {''.join(self.lines)}; {self.stderr()}")

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out + err

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state"
    shutil.rmtree(tmp_path / "state", ignore_errors=True)


def _exports(banner: str) -> dict[str, str]:
    return dict(re.findall(r"export (TOKEN_\w+)=(\S+)", banner))


def test_banner_curl_lines_work_and_ctrl_c_stops_cleanly_twice(data_dir: Path) -> None:
    for run in (1, 2):
        demo = DemoProcess(data_dir, "--port", "0", "--sim-port", "0", "--qr-interval", "1")
        try:
            banner = demo.banner()
            assert re.search(r"panel \(tenant A\):\s+http://127\.0\.0\.1:\d+/#token=\S+", banner)
            tokens = _exports(banner)
            assert set(tokens) == {"TOKEN_A", "TOKEN_B", "TOKEN_SUPER"}
            curls = re.findall(r"^\s*(curl .*/api/instance-management/.*)$", banner, re.M)
            routes = [re.findall(r"/api/instance-management/(\w+)/", c) for c in curls]
            assert routes == [["websocket"], ["websocket"], ["restart"], ["logout"], ["delete"]]
            for curl in curls:
                done = subprocess.run(
                    ["bash", "-c", curl + " -w '\\n%{http_code}'"], env={**os.environ, **tokens},
                    capture_output=True, text=True, timeout=30,
                )  # fmt: skip
                body, _, code = done.stdout.rpartition("\n")
                assert code == "200", f"run {run}: {curl} -> {code} {body}"
                assert '"success":true' in body.replace(" ", ""), body
        finally:
            code, output = demo.interrupt() if demo.proc.poll() is None else (-1, demo.stderr())
            demo.kill()
        assert code == 0, f"run {run} exited {code}: {output}"
        assert "demo stopped." in output

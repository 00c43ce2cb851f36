"""Flame graphs: py-spy records a Python server under test for as long as a scenario runs it.

``py-spy record --pid <pid> --nonblocking --format speedscope`` (open the file at
https://www.speedscope.app, or read :func:`top_frames`) writes
``<results>/<date>/profiles/<tag>.speedscope.json``. ``--nonblocking`` never pauses the server,
so the figures measured at the same time keep their meaning; py-spy's own CPU is its process's,
not the server's. Attaching needs ptrace rights over the server (root, or
``kernel.yama.ptrace_scope=0``): when py-spy cannot attach, the recording's entry carries the
error and the results table says so (never a silent gap).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

RATE = 50
"""Samples per second: enough for a flame graph of a minute, light on a 2-core machine."""
ATTACH = 0.5
"""py-spy exits at once when it cannot attach; alive after this long, it is recording."""
FLUSH = 30.0


def pyspy() -> str | None:
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


@contextlib.asynccontextmanager
async def record(pid: int, folder: Path, tag: str) -> AsyncIterator[dict[str, Any]]:
    """Record ``pid`` for the block; yields its entry: ``{tag, file}`` or ``{tag, error}``."""
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once per server start)
    out = folder / f"{tag}.speedscope.json"
    entry: dict[str, Any] = {"tag": tag, "file": f"profiles/{out.name}"}
    exe = pyspy()
    if exe is None:
        entry = {"tag": tag, "error": "py-spy is not installed (make install)"}
        yield entry
        return
    out.unlink(missing_ok=True)
    argv = [exe, "record", "--pid", str(pid), "--nonblocking", "--rate", str(RATE),
            "--format", "speedscope", "--output", str(out)]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        await asyncio.wait_for(proc.wait(), ATTACH)
    except TimeoutError:
        pass  # still running: attached
    else:
        err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
        entry.pop("file")
        entry["error"] = f"py-spy could not attach to pid {pid}: {_first_line(err)}"
        yield entry
        return
    try:
        yield entry
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes the file and exits
        try:
            _, err_bytes = await asyncio.wait_for(proc.communicate(), FLUSH)
        except TimeoutError:
            proc.kill()
            err_bytes = b"timed out writing"
        if not out.exists():
            entry.pop("file", None)
            said = _first_line(err_bytes.decode(errors="replace"))
            entry["error"] = f"py-spy wrote no file: {said}"
        else:
            entry["top_self"] = top_frames(out)


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "Stack backtrace" not in line]
    return lines[0].strip() if lines else "no message"


def top_frames(path: Path, count: int = 8) -> list[tuple[str, float]]:
    """The frames with the most samples on top of the stack (self time), with their share."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    frames = doc.get("shared", {}).get("frames", [])
    own: Counter[int] = Counter()
    total = 0.0
    for profile in doc.get("profiles", []):
        for stack, weight in zip(profile.get("samples", []), profile.get("weights", []),
                                 strict=False):  # fmt: skip
            if stack:
                own[stack[-1]] += weight
                total += weight
    if not total:
        return []
    out = []
    for index, weight in own.most_common(count):
        frame = frames[index] if index < len(frames) else {}
        where = Path(str(frame.get("file", "?"))).name
        out.append((f"{frame.get('name', '?')} ({where}:{frame.get('line', '?')})",
                    round(weight / total, 3)))  # fmt: skip
    return out

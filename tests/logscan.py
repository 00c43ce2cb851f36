"""A scan of every log record the suite produces: no token, API key or secret, not even a piece.

``LogScan`` is a handler on the root logger for the whole session (the root level is DEBUG
meanwhile, so records every level would produce are all seen). Each record's message, its
arguments and any traceback are checked for

- a JWT or a piece of one: ``eyJ`` followed by 10 or more base64url characters (every JWT
  starts with the base64 of ``{"``), and
- any window of ``WINDOW`` characters of a registered secret (the tests' JWT secret and API
  keys, and every token the ``token`` fixture mints).

A test during which such a record appears fails in its teardown, naming the logger and the
first characters of the record. Subprocesses (``serve``, ``check``) are scanned by
``assert_clean`` on their output.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Final

JWT_PIECE: Final = re.compile(r"eyJ[A-Za-z0-9_-]{10,}")
WINDOW: Final = 12


class LogScan(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._secrets: set[str] = set()
        self._pieces: set[str] = set()
        self._found: list[str] = []
        self._guard = threading.Lock()

    def register(self, *secrets: str) -> None:
        with self._guard:
            for secret in secrets:
                if secret and secret not in self._secrets:
                    self._secrets.add(secret)
                    self._pieces.update(
                        secret[i : i + WINDOW] for i in range(max(1, len(secret) - WINDOW + 1))
                    )

    def leak_in(self, text: str) -> str | None:
        if JWT_PIECE.search(text):
            return "a JWT piece"
        windows = {text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1)}
        with self._guard:
            if not self._pieces.isdisjoint(windows):
                return "a piece of a registered secret"
        return None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: scan what there is
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        what = self.leak_in(text)
        if what is not None:
            with self._guard:
                self._found.append(f"{what} in a {record.levelname} record of {record.name}: "
                                   f"{text[:60]!r}…")  # fmt: skip

    def take(self) -> list[str]:
        with self._guard:
            found, self._found = self._found, []
        return found


SCAN = LogScan()


def assert_clean(output: str) -> None:
    """For a subprocess's output: no JWT piece, no registered secret."""
    what = SCAN.leak_in(output)
    assert what is None, f"{what} in process output: {output[:2000]}"

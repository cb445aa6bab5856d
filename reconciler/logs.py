"""Structured logs: one JSON object per line on stderr, with secrets kept out.

`setup` sends every logger of the process there (fabric-intent's own are `fabric_intent.*`).

Log calls pass facts as `extra={"device": ..., "changes": ...}`; those become fields of the line.
A field whose name suggests a secret (password, token, secret, key material, authorization) is
written as `"***"`, whatever the caller passed; credentials are never formatted into messages.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER = "fabric_intent"
_SECRET = re.compile(r"pass(word)?|secret|token|authori[sz]ation|private|credential|bearer", re.IGNORECASE)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with the value of every secret-looking name replaced by `***`."""
    return {k: ("***" if _SECRET.search(k) else v) for k, v in fields.items()}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(redact({k: v for k, v in vars(record).items() if k not in _STANDARD}))
        if record.exc_info and record.exc_info[0] is not None:
            line["error_type"] = record.exc_info[0].__name__
            line["error"] = str(record.exc_info[1])
        return json.dumps(line, default=str, separators=(",", ":"))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the record (it may be replaced after setup)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup(level: str = "INFO") -> None:
    """Every logger of the process to stderr as JSON lines (idempotent).

    The Kubernetes client and urllib3 log at WARNING and above only: below that they write
    request and response details, which have no place in the service's log.
    """
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    for noisy in ("kubernetes", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get(name: str) -> logging.Logger:
    """The logger `fabric_intent.<name>`."""
    return logging.getLogger(f"{LOGGER}.{name}")

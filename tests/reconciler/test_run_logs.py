"""Structured logs: one JSON object a line, facts as fields, secret-looking fields never written."""

from __future__ import annotations

import json
import logging

import pytest

from reconciler.logs import JsonFormatter, redact, setup


def _line(message: str, exc: BaseException | None = None, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("fabric_intent.loop", logging.WARNING, __file__, 1, message, None,
                               (type(exc), exc, None) if exc else None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))  # type: ignore[no-any-return]


def test_a_line_is_json_with_the_extra_fields() -> None:
    line = _line("device failed; retrying later", device="leaf-a1", retry_in_s=2.0)
    assert line["msg"] == "device failed; retrying later" and line["level"] == "warning"
    assert (line["device"], line["retry_in_s"], line["logger"]) == ("leaf-a1", 2.0, "fabric_intent.loop")
    assert str(line["ts"]).endswith("+00:00")


def test_secret_looking_fields_are_redacted() -> None:
    line = _line("connecting", password="hunter2", bgp_password="s3cret", api_token="abc", Authorization="Bearer x",
                 device="leaf-a1")
    assert "hunter2" not in json.dumps(line) and "s3cret" not in json.dumps(line) and "abc" not in json.dumps(line)
    assert line["password"] == line["bgp_password"] == line["api_token"] == line["Authorization"] == "***"
    assert redact({"username": "fabric"}) == {"username": "fabric"}


def test_an_exception_gives_its_type_and_message() -> None:
    line = _line("reconcile failed", exc=ValueError("bad value"))
    assert (line["error_type"], line["error"]) == ("ValueError", "bad value")


def test_setup_makes_every_logger_write_json_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        setup("INFO")
        setup("INFO")  # idempotent: one line per record
        logging.getLogger("fabric_intent.kube").warning("watch broken", extra={"kind": "Node"})
        logging.getLogger("kubernetes.client.rest").info("response body: {...}")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        root.handlers[:], root.level = handlers, level
    assert [(line["logger"], line["msg"], line["kind"]) for line in lines] == [
        ("fabric_intent.kube", "watch broken", "Node")]

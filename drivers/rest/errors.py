"""Controller errors and the reading of a controller's own error text out of its response."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from intent.errors import DriverError

__all__ = ["ControllerBusyError", "ControllerError", "scrub", "vendor_error_text"]

SCRUBBED = "<scrubbed>"
_MAX_TEXT = 300


class ControllerError(DriverError):
    """The controller answered with an error status; carries the status and the controller's own text."""

    def __init__(self, message: str, *, status: int | None = None, vendor_text: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.vendor_text = vendor_text
        self.retryable = status is not None and status >= 500


class ControllerBusyError(ControllerError):
    """The controller is throttling or overloaded (429/503) and stayed so through every retry."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, vendor_text: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, vendor_text=vendor_text, retry_after=retry_after)
        self.retryable = True


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by a marker."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, SCRUBBED)
    return text


def vendor_error_text(response: httpx.Response) -> str:
    """The controller's own error message: ACI imdata error, NSX error_message, Apstra errors, or the text."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _plain_text(response.text)
    for reader in (_aci_text, _nsx_text, _apstra_text):
        text = reader(body)
        if text:
            return text[:_MAX_TEXT]
    return _plain_text(response.text)


def _aci_text(body: Any) -> str:
    imdata = body.get("imdata") if isinstance(body, dict) else None
    if not isinstance(imdata, list):
        return ""
    texts = [_aci_one(item) for item in imdata if isinstance(item, dict) and "error" in item]
    return "; ".join(t for t in texts if t)


def _aci_one(item: dict[str, Any]) -> str:
    attributes = item["error"].get("attributes", {}) if isinstance(item["error"], dict) else {}
    return f"APIC error {attributes.get('code', '?')}: {attributes.get('text', '')}".strip()


def _nsx_text(body: Any) -> str:
    if not isinstance(body, dict) or "error_message" not in body:
        return ""
    text = f"NSX error {body.get('error_code', '?')}: {body['error_message']}"
    related = [r.get("error_message", "") for r in body.get("related_errors") or [] if isinstance(r, dict)]
    return "; ".join([text, *(r for r in related if r)])


def _apstra_text(body: Any) -> str:
    if not isinstance(body, dict) or "errors" not in body:
        return ""
    errors = body["errors"]
    if isinstance(errors, str):
        return errors
    return json.dumps(errors, sort_keys=True, separators=(",", ":"))


def _plain_text(text: str) -> str:
    """First words of a non-JSON body (an HTML error page, say), tags removed."""
    words = re.sub(r"<[^>]*>", " ", text).split()
    return " ".join(words)[:_MAX_TEXT]

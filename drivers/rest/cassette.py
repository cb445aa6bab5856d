"""Cassettes: ordered request/response exchanges with a controller, as a JSON file, secrets scrubbed.

`RecordingTransport` wraps the transport of a live `RestClient` and keeps every exchange;
`Cassette.write` stores them. Passwords, tokens, cookies and the auth headers are replaced by
`<scrubbed>`, and so is any known secret value found elsewhere. The same `scrub_request` is used
when a cassette is replayed, so a live request and its recording compare equal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
from pydantic import BaseModel, ConfigDict, Field

from drivers.rest.errors import SCRUBBED, scrub

__all__ = ["Cassette", "Exchange", "RecordedRequest", "RecordedResponse", "RecordingTransport",
           "recorded_request", "recorded_response", "scrub_request"]

FORMAT = "fabric-intent-cassette/1"
SECRET_HEADERS = frozenset({"authorization", "x-xsrf-token", "authtoken", "apic-cookie", "x-auth-token"})
COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
REQUEST_HEADERS = frozenset({"content-type", "cookie", "if-match"}) | SECRET_HEADERS
RESPONSE_HEADERS = frozenset({"content-type", "retry-after", "set-cookie", "location", "server"}) | SECRET_HEADERS
SECRET_KEYS = frozenset({"pwd", "password", "j_password", "token", "refresh_token", "access_token", "api_key",
                         "secret", "passphrase", "sessionid", "session_id"})
TransportErrorName = Literal["ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout",
                             "ReadError", "WriteError", "RemoteProtocolError"]


class RecordedRequest(BaseModel):
    """One request as sent: method, path, query, the headers that matter, and its body."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    method: str
    path: str
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    body: Any = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    content: str | None = None


class RecordedResponse(BaseModel):
    """One response: status, the headers that matter, and a JSON body or a text body."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    status: int
    headers: dict[str, str] = {}
    body: Any = Field(default=None, alias="json")
    content: str | None = None

    def to_httpx(self) -> httpx.Response:
        headers = dict(self.headers)
        if self.body is not None:
            payload = json.dumps(self.body).encode()
            headers.setdefault("content-type", "application/json")
            return httpx.Response(self.status, headers=headers, content=payload)
        return httpx.Response(self.status, headers=headers, content=(self.content or "").encode())


class Exchange(BaseModel):
    """A request and either its response or the transport failure that ended it."""

    model_config = ConfigDict(extra="forbid")

    request: RecordedRequest
    response: RecordedResponse | None = None
    transport_error: TransportErrorName | None = None
    transport_error_text: str | None = None
    note: str | None = None


class Cassette(BaseModel):
    """An ordered recording of one scenario with one controller."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    format: Literal["fabric-intent-cassette/1"] = "fabric-intent-cassette/1"
    controller: str
    description: str = ""
    exchanges: list[Exchange] = []

    @classmethod
    def load(cls, path: Path) -> Cassette:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def dumps(self) -> str:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=False)
        return json.dumps(data, indent=1) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dumps(), encoding="utf-8")


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to `inner` and keeps each exchange, scrubbed of secrets, in order."""

    def __init__(self, inner: httpx.BaseTransport, secrets: Callable[[], Iterable[str]] = tuple) -> None:
        self.inner = inner
        self.secrets = secrets
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError as exc:
            self.exchanges.append(Exchange(request=recorded_request(request, self._secrets()),
                                           transport_error=_error_name(exc),
                                           transport_error_text=scrub(str(exc), self._secrets())))
            raise
        response.read()
        self.exchanges.append(Exchange(request=recorded_request(request, self._secrets()),
                                       response=recorded_response(response, self._secrets())))
        return response

    def close(self) -> None:
        self.inner.close()

    def cassette(self, controller: str, description: str) -> Cassette:
        return Cassette(controller=controller, description=description, exchanges=list(self.exchanges))

    def _secrets(self) -> tuple[str, ...]:
        return tuple(self.secrets())


def recorded_request(request: httpx.Request, secrets: Iterable[str] = ()) -> RecordedRequest:
    """A request as a cassette stores it (and as replay compares it)."""
    return scrub_request(RecordedRequest.model_validate({
        "method": request.method, "path": request.url.path, "query": dict(parse_qsl(request.url.query.decode())),
        "headers": _kept(request.headers, REQUEST_HEADERS), **_body_fields(request.content, request.headers)}), secrets)


def recorded_response(response: httpx.Response, secrets: Iterable[str] = ()) -> RecordedResponse:
    fields = _body_fields(response.content, response.headers)
    fields.pop("form", None)
    body = _scrub_value(fields.get("json"), tuple(secrets))
    content = scrub(fields["content"], secrets) if fields.get("content") else None
    return RecordedResponse.model_validate({
        "status": response.status_code, "headers": _scrub_headers(_kept(response.headers, RESPONSE_HEADERS)),
        "json": body, "content": content})


def scrub_request(request: RecordedRequest, secrets: Iterable[str] = ()) -> RecordedRequest:
    """The request with secret headers, cookie values, secret body fields and known secret values scrubbed."""
    known = tuple(secrets)
    form = {k: SCRUBBED if k.lower() in SECRET_KEYS else scrub(v, known) for k, v in (request.form or {}).items()}
    return request.model_copy(update={
        "headers": _scrub_headers(request.headers), "body": _scrub_value(request.body, known),
        "form": form if request.form is not None else None,
        "content": scrub(request.content, known) if request.content else request.content})


def _kept(headers: httpx.Headers, names: frozenset[str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name in names}


def _scrub_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: _scrub_header(name.lower(), value) for name, value in headers.items()}


def _scrub_header(name: str, value: str) -> str:
    if name in SECRET_HEADERS:
        return SCRUBBED
    if name in COOKIE_HEADERS:
        return _scrub_cookies(value, first_only=name == "set-cookie")
    return value


def _scrub_cookies(value: str, *, first_only: bool) -> str:
    """`a=1; b=2` -> `a=<scrubbed>; b=<scrubbed>`; for Set-Cookie only the first pair is a cookie value."""
    parts = [p.strip() for p in value.split(";")]
    out = []
    for index, part in enumerate(parts):
        name, sep, _ = part.partition("=")
        is_value = sep and (index == 0 or not first_only)
        out.append(f"{name}={SCRUBBED}" if is_value else part)
    return "; ".join(out)


def _scrub_value(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: SCRUBBED if k.lower() in SECRET_KEYS and v else _scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(item, secrets) for item in value]
    if isinstance(value, str):
        return scrub(value, secrets)
    return value


def _body_fields(content: bytes, headers: httpx.Headers) -> dict[str, Any]:
    """A body as `json`, `form` or `content`."""
    if not content:
        return {}
    kind = headers.get("content-type", "")
    text = content.decode("utf-8", errors="replace")
    if "application/x-www-form-urlencoded" in kind:
        return {"form": dict(parse_qsl(text, keep_blank_values=True))}
    try:
        return {"json": json.loads(text)}
    except json.JSONDecodeError:
        return {"content": text}


def _error_name(exc: httpx.TransportError) -> TransportErrorName:
    name = type(exc).__name__
    known: tuple[TransportErrorName, ...] = ("ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout",
                                             "PoolTimeout", "ReadError", "WriteError", "RemoteProtocolError")
    for candidate in known:
        if candidate == name:
            return candidate
    return "ReadError"

"""The shared HTTP layer every REST controller driver uses: one `RestClient` per controller.

It verifies TLS by default, logs in lazily and once more when the session expired, paces requests
to a per-controller budget, retries throttled or failed requests with jittered exponential backoff
(a `Retry-After` header wins), follows pages, and maps every failure onto the error tree with the
controller's own error text. Secret values (`Auth.secrets()`) never reach a log line or an error.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Container, Iterator, Mapping
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from drivers.rest.errors import ControllerBusyError, ControllerError, scrub, vendor_error_text
from intent.errors import DeviceUnreachableError, DriverError

__all__ = ["Auth", "ControllerBusyError", "ControllerError", "NextPage", "RestClient", "RestSettings", "retry_after",
           "status_error"]

log = logging.getLogger("fabric_intent.drivers.rest")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
BUSY_STATUSES = frozenset({429, 503})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 10_000

# Given the last page and the parameters that fetched it, the parameters of the next page, or None.
NextPage = Callable[[httpx.Response, Mapping[str, str]], Mapping[str, str] | None]


class RestSettings(BaseModel):
    """Connection settings of one controller, from the inventory (`drivers.<name>` or switch options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(pattern=r"^https?://[^/\s]+(/\S*)?$")
    verify: bool | str = True  # True, or a CA bundle path; False turns verification off (logged)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=4, ge=0, le=20)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_cap: float = Field(default=30.0, ge=0)
    max_requests_per_second: float | None = Field(default=None, gt=0)
    page_size: int = Field(default=500, ge=1, le=100_000)


class Auth(Protocol):
    """How one controller authenticates.

    `RestClient` calls `login` before the first request, again when `refresh_due()` (cookies kept,
    so the auth may renew its session), and once after `is_expired(response)` (cookies cleared first).
    """

    def login(self, client: httpx.Client) -> None: ...

    def is_expired(self, response: httpx.Response) -> bool: ...

    def refresh_due(self) -> bool: ...

    def secrets(self) -> tuple[str, ...]: ...


class RestClient:
    """Requests to one controller, with login, pacing, retries and error mapping."""

    def __init__(self, controller: str, settings: RestSettings, auth: Auth, *,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random) -> None:
        self.controller = controller
        self.settings = settings
        self.auth = auth
        self._sleep, self._clock, self._jitter = sleep, clock, jitter
        self._logged_in = False
        self._next_slot = 0.0
        if settings.verify is False:
            log.warning("%s: TLS certificate verification is OFF for %s (explicit setting verify: false)",
                        controller, settings.base_url)
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self.http = httpx.Client(base_url=settings.base_url, verify=settings.verify, timeout=timeout,
                                 transport=transport, follow_redirects=False)

    def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None, json: Any = None,
                ok: Container[int] = (200, 201, 202, 204), idempotent: bool | None = None,
                content: str | bytes | None = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """Send one request; returns a response whose status is in `ok`, or raises from the error tree."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        self._ensure_login()
        response = self._send_with_retries(method, path, params, json, content, headers, idempotent)
        if response.status_code not in ok and self.auth.is_expired(response):
            log.info("%s: session expired (HTTP %s); logging in again", self.controller, response.status_code)
            self.http.cookies.clear()
            self._login()
            response = self._send_with_retries(method, path, params, json, content, headers, idempotent)
        if response.status_code not in ok:
            raise self._status_error(method, path, response)
        return response

    def login(self) -> None:
        """Log in now (otherwise done lazily by the first request)."""
        self._login()

    def paginate(self, path: str, params: Mapping[str, str], next_page: NextPage) -> Iterator[httpx.Response]:
        """GET `path` page by page: `next_page` gives the parameters of the next page, or None at the end."""
        current: Mapping[str, str] | None = params
        for _ in range(MAX_PAGES):
            if current is None:
                return
            response = self.request("GET", path, params=current)
            yield response
            current = next_page(response, current)
        raise ControllerError(f"{self.controller}: GET {path} returned more than {MAX_PAGES} pages; stopped")

    def close(self) -> None:
        self.http.close()

    # -- login ---------------------------------------------------------------------------------
    def _ensure_login(self) -> None:
        if not self._logged_in or self.auth.refresh_due():
            self._login()

    def _login(self) -> None:
        try:
            self.auth.login(self.http)
        except httpx.HTTPError as exc:
            raise self._transport_error("login", "", exc) from exc
        self._logged_in = True

    # -- one request with retries --------------------------------------------------------------
    def _send_with_retries(self, method: str, path: str, params: Mapping[str, str] | None, json: Any,
                           content: str | bytes | None, headers: Mapping[str, str] | None,
                           idempotent: bool) -> httpx.Response:
        attempt = 0
        while True:
            self._pace()
            try:
                response = self.http.request(method, path, params=params, json=json, content=content,
                                             headers=headers)
            except httpx.TransportError as exc:
                if attempt >= self.settings.retries or not _may_resend(exc, idempotent):
                    raise self._transport_error(method, path, exc) from exc
                delay = self._backoff(attempt, None)
                log.info("%s: %s %s failed (%s); retry %d in %.1fs", self.controller, method, path,
                         type(exc).__name__, attempt + 1, delay)
            else:
                if not _should_retry(response, idempotent) or attempt >= self.settings.retries:
                    return response
                delay = self._backoff(attempt, retry_after(response))
                log.info("%s: %s %s answered %s; retry %d in %.1fs", self.controller, method, path,
                         response.status_code, attempt + 1, delay)
            self._sleep(delay)
            attempt += 1

    def _pace(self) -> None:
        """Keep to the request budget: at most `max_requests_per_second`, evenly spaced."""
        rate = self.settings.max_requests_per_second
        if rate is None:
            return
        now = self._clock()
        if self._next_slot > now:
            self._sleep(self._next_slot - now)
            now = self._next_slot
        self._next_slot = now + 1.0 / rate

    def _backoff(self, attempt: int, server_delay: float | None) -> float:
        """Retry-After when given (capped), else full-jitter exponential backoff."""
        cap = self.settings.backoff_cap
        if server_delay is not None:
            return min(server_delay, cap)
        return min(cap, self.settings.backoff_base * 2**attempt) * self._jitter()

    # -- error mapping ---------------------------------------------------------------------------
    def _status_error(self, method: str, path: str, response: httpx.Response) -> DriverError:
        return status_error(self.controller, f"{method} {path}", response, self.auth.secrets(),
                            retries=self.settings.retries)

    def _transport_error(self, method: str, path: str, exc: httpx.HTTPError) -> DriverError:
        detail = scrub(str(exc) or type(exc).__name__, self.auth.secrets())
        what = f"{method} {path}".strip()
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be completed"
        return DeviceUnreachableError(f"{self.controller}: {what} {kind} ({type(exc).__name__}: {detail}); "
                                      f"controller {self.settings.base_url}")


def status_error(controller: str, what: str, response: httpx.Response, secrets: tuple[str, ...], *,
                 retries: int = 0) -> ControllerError:
    """The error for an error response: busy (429/503) or a controller error, with the controller's own text."""
    status = response.status_code
    text = scrub(vendor_error_text(response), secrets)
    suffix = f": {text}" if text else ""
    if status in BUSY_STATUSES:
        tries = f" after {retries} retries" if retries else ""
        return ControllerBusyError(f"{controller}: {what} refused with HTTP {status}{tries}{suffix}",
                                   status=status, vendor_text=text, retry_after=retry_after(response))
    return ControllerError(f"{controller}: {what} failed with HTTP {status}{suffix}", status=status, vendor_text=text)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _should_retry(response: httpx.Response, idempotent: bool) -> bool:
    """429/503 mean the request was refused before it was worked on; other 5xx only for idempotent requests."""
    status = response.status_code
    return status in BUSY_STATUSES or (idempotent and status in RETRY_STATUSES)


def _may_resend(exc: httpx.TransportError, idempotent: bool) -> bool:
    """A request that never left (connect failed) may always be resent; others only when idempotent."""
    return idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)

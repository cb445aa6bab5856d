"""The shared HTTP layer: login, retries, backoff, budget, paging and error mapping, over httpx.MockTransport."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import httpx
import pytest

from drivers.rest.http import ControllerBusyError, ControllerError, RestClient, RestSettings, retry_after
from intent.errors import DeviceUnreachableError, DriverError

SECRET = "s3cr3t-pa55"
Handler = Callable[[httpx.Request], httpx.Response]


class TokenAuth:
    """Logs in by GET /login; a 401 means the token expired."""

    def __init__(self, refresh: bool = False) -> None:
        self.logins = 0
        self.refresh = refresh

    def login(self, client: httpx.Client) -> None:
        self.logins += 1
        client.headers["X-Token"] = f"token-{self.logins}"

    def is_expired(self, response: httpx.Response) -> bool:
        return response.status_code == 401

    def refresh_due(self) -> bool:
        return self.refresh

    def secrets(self) -> tuple[str, ...]:
        return (SECRET,)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def client(handler: Handler, auth: TokenAuth | None = None, clock: Clock | None = None, **settings: object
           ) -> tuple[RestClient, TokenAuth, Clock]:
    auth, clock = auth or TokenAuth(), clock or Clock()
    rest = RestClient("ctl-1", RestSettings.model_validate({"base_url": "https://ctl.example.net", **settings}), auth,
                      transport=httpx.MockTransport(handler), sleep=clock.sleep, clock=lambda: clock.now,
                      jitter=lambda: 0.5)
    return rest, auth, clock


def answers(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item
    return handler, seen


def test_retries_a_503_after_the_retry_after_the_controller_gives() -> None:
    handler, seen = answers(httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1}))
    rest, _, clock = client(handler)
    assert rest.request("GET", "/things").json() == {"ok": 1}
    assert len(seen) == 2 and clock.sleeps == [7.0]


def test_backoff_is_exponential_jittered_and_capped() -> None:
    handler, seen = answers(*[httpx.Response(502) for _ in range(4)], httpx.Response(200))
    rest, _, clock = client(handler, backoff_base=1.0, backoff_cap=3.0)
    rest.request("GET", "/things")
    assert clock.sleeps == [0.5, 1.0, 1.5, 1.5]  # min(cap, base * 2**n) * jitter(0.5)


def test_429_through_every_retry_is_a_busy_error_with_retry_after_and_the_vendor_text() -> None:
    body = {"httpStatus": "TOO_MANY_REQUESTS", "error_code": 102, "error_message": "Client has exceeded the rate"}
    handler, seen = answers(*[httpx.Response(429, json=body, headers={"Retry-After": "2"}) for _ in range(3)])
    rest, _, clock = client(handler, retries=2)
    with pytest.raises(ControllerBusyError) as caught:
        rest.request("GET", "/policy/api/v1/infra")
    assert len(seen) == 3 and clock.sleeps == [2.0, 2.0]
    error = caught.value
    assert (error.status, error.retry_after, error.retryable) == (429, 2.0, True)
    assert str(error) == ("ctl-1: GET /policy/api/v1/infra refused with HTTP 429 after 2 retries: "
                          "NSX error 102: Client has exceeded the rate")


def test_a_post_is_not_resent_after_a_502_or_a_read_timeout() -> None:
    handler, seen = answers(httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>"))
    rest, _, _ = client(handler)
    with pytest.raises(ControllerError, match=r"POST /api/mo/uni.json failed with HTTP 502: 502 Bad Gateway"):
        rest.request("POST", "/api/mo/uni.json", json={})
    assert len(seen) == 1
    handler, seen = answers(httpx.ReadTimeout("timed out"))
    rest, _, _ = client(handler)
    with pytest.raises(DeviceUnreachableError, match="POST /x timed out") as caught:
        rest.request("POST", "/x", json={})
    assert len(seen) == 1 and caught.value.retryable


def test_a_failed_connect_is_retried_even_for_a_post_then_reported_unreachable() -> None:
    handler, seen = answers(*[httpx.ConnectError("connection refused") for _ in range(3)])
    rest, _, clock = client(handler, retries=2)
    with pytest.raises(DeviceUnreachableError, match=r"ctl-1: POST /x could not be completed \(ConnectError"):
        rest.request("POST", "/x", json={})
    assert len(seen) == 3 and len(clock.sleeps) == 2


def test_an_expired_session_logs_in_again_once() -> None:
    handler, seen = answers(httpx.Response(200), httpx.Response(401), httpx.Response(200, json=[1]))
    rest, auth, _ = client(handler)
    rest.request("GET", "/a")
    assert rest.request("GET", "/b").json() == [1]
    assert auth.logins == 2
    assert [r.headers["X-Token"] for r in seen] == ["token-1", "token-1", "token-2"]
    handler, seen = answers(httpx.Response(401), httpx.Response(401, json={"errors": "bad token"}))
    rest, auth, _ = client(handler)
    with pytest.raises(ControllerError, match="GET /c failed with HTTP 401: bad token"):
        rest.request("GET", "/c")
    assert auth.logins == 2 and len(seen) == 2


def test_a_due_refresh_logs_in_before_the_request() -> None:
    handler, _ = answers(httpx.Response(200), httpx.Response(200))
    rest, auth, _ = client(handler, auth=TokenAuth(refresh=True))
    rest.request("GET", "/a")
    rest.request("GET", "/b")
    assert auth.logins == 2


def test_the_request_budget_spaces_requests_evenly() -> None:
    handler, _ = answers(*[httpx.Response(200) for _ in range(4)])
    rest, _, clock = client(handler, max_requests_per_second=10)
    for _ in range(4):
        rest.request("GET", "/a")
    assert clock.sleeps == [0.1, 0.1, 0.1]


def test_paginate_follows_pages_until_told_to_stop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"items": [page], "last": page == 2})

    def next_page(response: httpx.Response, params: Mapping[str, str]) -> Mapping[str, str] | None:
        return None if response.json()["last"] else {**params, "page": str(int(params["page"]) + 1)}
    rest, _, _ = client(handler)
    pages = [r.json()["items"] for r in rest.paginate("/list", {"page": "0"}, next_page)]
    assert pages == [[0], [1], [2]]


def test_secrets_never_reach_an_error_or_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    body = {"imdata": [{"error": {"attributes": {"code": "801", "text": f"bad value {SECRET} for pwd"}}}]}
    handler, _ = answers(httpx.Response(503), httpx.Response(400, json=body))
    rest, _, _ = client(handler)
    with caplog.at_level(logging.DEBUG, logger="fabric_intent"), pytest.raises(ControllerError) as caught:
        rest.request("GET", "/x")
    assert str(caught.value) == "ctl-1: GET /x failed with HTTP 400: APIC error 801: bad value <scrubbed> for pwd"
    assert caught.value.vendor_text == "APIC error 801: bad value <scrubbed> for pwd"
    assert SECRET not in caplog.text and "retry 1" in caplog.text


def test_turning_tls_verification_off_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = answers()
    with caplog.at_level(logging.WARNING, logger="fabric_intent"):
        client(handler)
        assert caplog.text == ""
        client(handler, verify=False)
    assert "ctl-1: TLS certificate verification is OFF" in caplog.text
    assert RestSettings(base_url="https://a.example.net", verify="/etc/ssl/ca.pem").verify == "/etc/ssl/ca.pem"


def test_settings_refuse_a_bad_url_or_an_unknown_key() -> None:
    with pytest.raises(ValueError, match="base_url"):
        RestSettings(base_url="apic.example.net")
    with pytest.raises(ValueError, match="verfy"):
        RestSettings.model_validate({"base_url": "https://a.example.net", "verfy": False})


def test_a_login_that_fails_in_transport_is_unreachable_not_a_crash() -> None:
    class BrokenAuth(TokenAuth):
        def login(self, client: httpx.Client) -> None:
            client.get("/login")
    handler, _ = answers(httpx.ConnectError("no route to host"))
    rest, _, _ = client(handler, auth=BrokenAuth())
    with pytest.raises(DeviceUnreachableError, match="ctl-1: login could not be completed") as caught:
        rest.request("GET", "/x")
    assert isinstance(caught.value, DriverError)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after(httpx.Response(429, headers={"Retry-After": "12"})) == 12.0
    assert retry_after(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_after(httpx.Response(429)) is None

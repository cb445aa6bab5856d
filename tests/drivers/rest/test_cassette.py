"""Cassettes: recording scrubs every secret, files round-trip, replay is strict about order and content."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from replay import Replay, ReplayMismatch

from drivers.rest.cassette import Cassette, Exchange, RecordedRequest, RecordedResponse, RecordingTransport

TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRva2VuIn0.c2VjcmV0"


def _server(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/aaaLogin.json":
        body = {"totalCount": "1", "imdata": [{"aaaLogin": {"attributes": {"token": TOKEN, "userName": "admin"}}}]}
        return httpx.Response(200, json=body, headers={"set-cookie": f"APIC-cookie={TOKEN}; path=/; HttpOnly"})
    if request.url.path == "/api/session/create":
        headers = {"x-xsrf-token": "8bf06253-c246", "set-cookie": "JSESSIONID=57021338; Path=/"}
        return httpx.Response(200, headers=headers)
    if request.url.path == "/echo":
        return httpx.Response(500, text=f"debug: session {TOKEN} failed")
    raise httpx.ConnectError("connection refused", request=request)


def _record() -> RecordingTransport:
    recorder = RecordingTransport(httpx.MockTransport(_server), secrets=lambda: (TOKEN,))
    with httpx.Client(base_url="https://ctl.example.net", transport=recorder) as client:
        client.post("/api/aaaLogin.json", json={"aaaUser": {"attributes": {"name": "admin", "pwd": "hunter2"}}})
        client.post("/api/session/create", data={"j_username": "admin", "j_password": "hunter2"})
        client.get("/echo", params={"page": "0"}, headers={"Cookie": f"APIC-cookie={TOKEN}", "AuthToken": TOKEN,
                                                            "Authorization": "Basic YWRtaW46aHVudGVyMg=="})
        with pytest.raises(httpx.ConnectError):
            client.get("/down")
    return recorder


def test_recording_scrubs_passwords_tokens_cookies_and_auth_headers(tmp_path: Path) -> None:
    cassette = _record().cassette("aci", "scrub test")
    text = cassette.dumps()
    for secret in ("hunter2", TOKEN, "57021338", "8bf06253", "YWRtaW46aHVudGVyMg"):
        assert secret not in text
    login, session, echo, down = cassette.exchanges
    assert login.request.body == {"aaaUser": {"attributes": {"name": "admin", "pwd": "<scrubbed>"}}}
    assert login.response is not None
    assert login.response.headers["set-cookie"] == "APIC-cookie=<scrubbed>; path=/; HttpOnly"
    assert login.response.body["imdata"][0]["aaaLogin"]["attributes"] == {"token": "<scrubbed>", "userName": "admin"}
    assert session.request.form == {"j_username": "admin", "j_password": "<scrubbed>"}
    assert session.response is not None and session.response.headers["x-xsrf-token"] == "<scrubbed>"
    assert echo.request.query == {"page": "0"}
    assert {k: echo.request.headers[k] for k in ("cookie", "authtoken", "authorization")} == {
        "cookie": "APIC-cookie=<scrubbed>", "authtoken": "<scrubbed>", "authorization": "<scrubbed>"}
    assert echo.response is not None and echo.response.content == "debug: session <scrubbed> failed"
    assert (down.transport_error, down.response) == ("ConnectError", None)
    cassette.write(tmp_path / "c.json")
    assert Cassette.load(tmp_path / "c.json") == cassette
    assert json.loads((tmp_path / "c.json").read_text())["format"] == "fabric-intent-cassette/1"


def _cassette() -> Cassette:
    return Cassette(controller="aci", exchanges=[
        Exchange(request=RecordedRequest.model_validate({"method": "POST", "path": "/api/mo/uni.json",
                                                         "json": {"fvTenant": {"attributes": {"name": "a"}}}}),
                 response=RecordedResponse.model_validate({"status": 200, "json": {"totalCount": "0", "imdata": []}})),
        Exchange(request=RecordedRequest(method="GET", path="/api/class/fvTenant.json", query={"page": "0"}),
                 response=RecordedResponse(status=503, headers={"retry-after": "1"})),
        Exchange(request=RecordedRequest(method="GET", path="/api/class/fvTenant.json", query={"page": "0"}),
                 transport_error="ReadTimeout", transport_error_text="timed out"),
    ])


def test_replay_answers_in_order_and_checks_each_request() -> None:
    with Replay(_cassette()) as replay, httpx.Client(base_url="https://apic", transport=replay.transport) as client:
        assert client.post("/api/mo/uni.json", json={"fvTenant": {"attributes": {"name": "a"}}}).json() == {
            "totalCount": "0", "imdata": []}
        first = client.get("/api/class/fvTenant.json", params={"page": "0"})
        assert (first.status_code, first.headers["retry-after"]) == (503, "1")
        with pytest.raises(httpx.ReadTimeout, match="timed out"):
            client.get("/api/class/fvTenant.json", params={"page": "0"})


def test_replay_refuses_a_different_body() -> None:
    with pytest.raises(AssertionError, match="not called"):  # on exit: the GET routes were never reached
        with Replay(_cassette()) as replay, httpx.Client(base_url="https://apic", transport=replay.transport) as c:
            with pytest.raises(ReplayMismatch, match="exchange 1 of 3"):
                c.post("/api/mo/uni.json", json={"fvTenant": {"attributes": {"name": "b"}}})


def test_replay_refuses_a_request_the_cassette_does_not_hold() -> None:
    with pytest.raises(AssertionError, match="not called"):
        with Replay(_cassette()) as replay, httpx.Client(base_url="https://apic", transport=replay.transport) as c:
            with pytest.raises(AssertionError, match="not mocked"):
                c.get("/api/mo/uni/tn-x.json")


def test_replay_fails_when_exchanges_are_left_unused() -> None:
    replay = Replay(_cassette())
    with pytest.raises(ReplayMismatch, match="1 recorded exchange"), replay:
        with httpx.Client(base_url="https://apic", transport=replay.transport) as c:
            c.post("/api/mo/uni.json", json={"fvTenant": {"attributes": {"name": "a"}}})
            c.get("/api/class/fvTenant.json", params={"page": "0"})  # every route called once, one exchange left
    assert replay.position == 2 and isinstance(replay.router, respx.MockRouter)


def test_every_shipped_cassette_is_valid_and_holds_no_secret() -> None:
    root = Path(__file__).resolve().parent.parent / "data" / "cassettes"
    files = sorted(root.glob("*/*.json"))
    assert len(files) >= 12
    for file in files:
        cassette = Cassette.load(file)
        assert cassette.exchanges and cassette.description, file.name
        text = file.read_text()
        assert "fake-apic-password" not in text and "hunter2" not in text, file.name
        for exchange in cassette.exchanges:
            for name in ("cookie", "authtoken", "authorization", "x-xsrf-token"):
                value = exchange.request.headers.get(name)
                assert value is None or value.endswith("<scrubbed>"), (file.name, name, value)

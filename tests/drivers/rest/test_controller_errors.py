"""How every fake-controller REST driver meets a failing controller: a precise error from the tree, with the
controller's own text and never the password; throttling honoured; one new login for an expired session."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from controllers import CONTROLLERS, NAMES
from fake_apstra import apstra_error
from fake_nsx import nsx_error

from drivers.rest.errors import ControllerBusyError, ControllerError
from intent.errors import DeviceUnreachableError

TIER0S = "/policy/api/v1/infra/tier-0s"
BP = "/api/blueprints/leaf-1"


@pytest.mark.parametrize("name", NAMES)
def test_an_expired_session_logs_in_again_once(tmp_path: Path, name: str) -> None:
    controller = CONTROLLERS[name]
    fake = controller.fake()
    driver = controller.driver(tmp_path, fake)
    first = driver.observe()
    fake.expire_sessions()
    assert driver.observe() == first
    assert [r[1] for r in fake.requests].count(controller.fake_class.LOGIN) == 2


@pytest.mark.parametrize(("name", "message"), [
    pytest.param("nsx", "leaf-1: POST /api/session/create (login) failed with HTTP 403: NSX error 403: The "
                        "credentials were incorrect or the account specified has been locked.", id="nsx"),
    pytest.param("apstra", "leaf-1: POST /api/aaa/login failed with HTTP 401: Invalid credentials", id="apstra"),
])
def test_wrong_credentials_give_the_controller_text_and_never_the_password(tmp_path: Path, name: str,
                                                                          message: str) -> None:
    controller = CONTROLLERS[name]
    driver = controller.driver(tmp_path, controller.fake())
    (tmp_path / f"{name}-password").write_text("wrong-password-123\n")
    with pytest.raises(ControllerError) as info:
        driver.observe()
    assert str(info.value) == message
    assert "wrong-password-123" not in str(info.value)


@pytest.mark.parametrize(("name", "path", "throttled", "wait"), [
    pytest.param("nsx", TIER0S, httpx.Response(429, headers={"Retry-After": "7"}, json={
        "httpStatus": "TOO_MANY_REQUESTS", "error_code": 102, "module_name": "common-services",
        "error_message": "Client 'admin' exceeded request rate of 100 per second."}), 7.0, id="nsx"),
    pytest.param("apstra", f"{BP}/security-zones", httpx.Response(
        429, headers={"Retry-After": "3"}, json={"errors": "Too many requests"}), 3.0, id="apstra"),
])
def test_429_waits_as_long_as_retry_after_says(tmp_path: Path, name: str, path: str, throttled: httpx.Response,
                                              wait: float) -> None:
    controller = CONTROLLERS[name]
    fake, sleeps = controller.fake(), []
    fake.fail_next("GET", path, throttled)
    assert len(controller.driver(tmp_path, fake, sleeps).observe().objects) == 4
    assert wait in sleeps


@pytest.mark.parametrize(("name", "path", "busy", "message"), [
    pytest.param("nsx", TIER0S, nsx_error(503, 503, "Service Unavailable: the API concurrency limit of 40 was "
                                                    "reached.", "common-services"),
                 "leaf-1: GET /policy/api/v1/infra/tier-0s refused with HTTP 503 after 4 retries: NSX error 503: "
                 "Service Unavailable: the API concurrency limit of 40 was reached.", id="nsx"),
    pytest.param("apstra", f"{BP}/routing-policies", apstra_error(503, "Service unavailable"),
                 "leaf-1: GET /api/blueprints/leaf-1/routing-policies refused with HTTP 503 after 4 retries: "
                 "Service unavailable", id="apstra"),
])
def test_503_through_every_retry_is_a_busy_error(tmp_path: Path, name: str, path: str, busy: httpx.Response,
                                                 message: str) -> None:
    controller = CONTROLLERS[name]
    fake = controller.fake()
    fake.fail_next("GET", path, busy, times=5)
    with pytest.raises(ControllerBusyError) as info:
        controller.driver(tmp_path, fake, []).observe()
    assert info.value.retryable
    assert str(info.value) == message


@pytest.mark.parametrize(("name", "path", "timeout", "message"), [
    pytest.param("nsx", TIER0S, httpx.ReadTimeout, "leaf-1: GET /policy/api/v1/infra/tier-0s timed out (ReadTimeout: "
                                                   "timed out); controller https://nsx.example.net", id="nsx"),
    pytest.param("apstra", BP, httpx.ConnectTimeout, "leaf-1: GET /api/blueprints/leaf-1 timed out (ConnectTimeout: "
                                                     "timed out); controller https://apstra.example.net", id="apstra"),
])
def test_a_timeout_is_unreachable_and_retryable(tmp_path: Path, name: str, path: str,
                                                timeout: type[httpx.TimeoutException], message: str) -> None:
    controller = CONTROLLERS[name]
    fake = controller.fake()

    def slow(request: httpx.Request) -> httpx.Response:
        raise timeout("timed out", request=request)
    fake.faults += [("GET", path, slow)] * 5
    with pytest.raises(DeviceUnreachableError) as info:
        controller.driver(tmp_path, fake, []).observe()
    assert info.value.retryable
    assert str(info.value) == message

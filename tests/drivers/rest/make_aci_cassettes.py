"""Re-record the aci cassettes (tests/drivers/data/cassettes/aci/) against the fake APIC.

    python tests/drivers/rest/make_aci_cassettes.py

Each scenario runs the driver on the contract inventory through `RecordingTransport`, as
`fabric-intent record` does against a live APIC, with faults injected in front of the fake. Run it
after changing which requests the driver sends, then review the diff of the cassettes.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
from aci_support import policy_objects, policy_state, with_policy  # noqa: E402
from driver_harness import DATA, desired  # noqa: E402
from fake_apic import FakeApic, error_body  # noqa: E402

from drivers.rest.aci import AciDriver  # noqa: E402
from drivers.rest.cassette import RecordingTransport  # noqa: E402
from intent.inventory import parse_inventory  # noqa: E402
from reconciler.record import driver_secrets  # noqa: E402

OUT = HERE.parent / "data" / "cassettes" / "aci"
Fault = Callable[[httpx.Request], httpx.Response | None]
HTML_404 = ("<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>"
            "\r\n<hr><center>Cisco APIC</center>\r\n</body>\r\n</html>\r\n")


@dataclass
class Session:
    """One recording: drivers built on demand, all sharing the recorder and a settable clock."""

    root: Path
    recorder: RecordingTransport
    settings: dict[str, Any] = field(default_factory=dict)
    now: list[float] = field(default_factory=lambda: [1000.0])
    policy: bool = False  # leaf-1 enforces NetworkPolicy
    drivers: list[AciDriver] = field(default_factory=list)

    def driver(self) -> AciDriver:
        data = yaml.safe_load((self.root / "fabric.yaml").read_text())
        data["drivers"]["aci"].update(self.settings)
        data = with_policy(data) if self.policy else data
        inventory = parse_inventory(data, "fabric.yaml")
        driver = AciDriver(inventory.switch("leaf-1"), inventory, self.root, transport=self.recorder,
                           sleep=lambda _: None, clock=lambda: self.now[0])
        self.drivers.append(driver)
        return driver


class Faulty(httpx.BaseTransport):
    def __init__(self, apic: FakeApic, fault: Fault | None) -> None:
        self.apic, self.fault = apic, fault

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.fault(request) if self.fault else None
        return answer if answer is not None else self.apic.handle(request)


def _is_mo(request: httpx.Request, method: str) -> bool:
    return request.method == method and request.url.path.startswith("/api/mo/")


def nth(method: str, numbers: set[int], answer: Callable[[httpx.Request, FakeApic], httpx.Response | None]
        ) -> Callable[[FakeApic], Fault]:
    """A fault on the given ordinal requests of `method` to /api/mo/."""
    def factory(apic: FakeApic) -> Fault:
        count = [0]

        def fault(request: httpx.Request) -> httpx.Response | None:
            if _is_mo(request, method):
                count[0] += 1
                if count[0] in numbers:
                    return answer(request, apic)
            return None
        return fault
    return factory


def every_get(answer: Callable[[httpx.Request, FakeApic], httpx.Response]) -> Callable[[FakeApic], Fault]:
    def factory(apic: FakeApic) -> Fault:
        return lambda request: answer(request, apic) if _is_mo(request, "GET") else None
    return factory


def raise_(exc: type[httpx.TransportError], text: str, apply_first: bool = False
           ) -> Callable[[httpx.Request, FakeApic], httpx.Response | None]:
    def answer(request: httpx.Request, apic: FakeApic) -> httpx.Response | None:
        if apply_first:
            apic.handle(request)
        raise exc(text, request=request)
    return answer


def expire(request: httpx.Request, apic: FakeApic) -> None:
    apic.expire_tokens()


def observe(session: Session) -> None:
    session.driver().observe()


def apply(session: Session) -> None:
    driver = session.driver()
    driver.apply(driver.plan(desired("leaf-1"), driver.observe()))


def plan_apply_replan(session: Session) -> None:
    apply(session)
    fresh = session.driver()
    replan = fresh.plan(desired("leaf-1"), fresh.observe())
    assert replan.changes == ()
    fresh.apply(replan)


def policy_plan_apply_replan(session: Session) -> None:
    wanted = desired("leaf-1") + policy_objects()
    driver = session.driver()
    driver.apply(driver.plan(wanted, driver.observe()))
    fresh = session.driver()
    replan = fresh.plan(wanted, fresh.observe())
    assert replan.changes == ()
    fresh.apply(replan)


def policy_refused(session: Session) -> None:
    wanted = desired("leaf-1") + policy_objects()
    driver = session.driver()
    result = driver.apply(driver.plan(wanted, driver.observe()))
    assert result.failed, result
    session.driver().observe()  # the state afterwards, for the test to compare


def refused_contract(request: httpx.Request, apic: FakeApic) -> httpx.Response | None:
    if b'"vzBrCP"' not in request.content:
        return None
    return httpx.Response(400, json=error_body(
        "801", "property scope of uni/tn-k8s/brc-FI-R-5e83935998 failed validation for value 'context'"))


def refresh(session: Session) -> None:
    driver = session.driver()
    driver.observe()
    session.now[0] += 301
    driver.observe()


def busy(request: httpx.Request, apic: FakeApic) -> httpx.Response:
    return httpx.Response(503, json=error_body("503", "Unable to process the query, result dataset is too big"))


def refused(request: httpx.Request, apic: FakeApic) -> httpx.Response:
    return httpx.Response(400, json=error_body(
        "801", "property maxPfx of uni/tn-k8s/bgpPfxP-FI-maxpfx.leaf-1.192.168.1.11 failed validation for value '0'"))


def refused_120(request: httpx.Request, apic: FakeApic) -> httpx.Response:
    return httpx.Response(400, json=error_body(
        "120", "unknown property value 0, name maxPfx, class bgpPeerPfxPol [(Dn0)] Dn0=, "))


SCENARIOS: dict[str, tuple[str, Callable[[Session], None], Callable[[FakeApic], Fault] | None, dict[str, Any]]] = {
    "plan-apply-replan": (
        "leaf-1: login, observe, plan, apply as one subtree POST, read back; a new session plans again (no changes) "
        "and applies the empty plan (no write)", plan_apply_replan, None, {}),
    "relogin-403": (
        "leaf-1 observe: the token expires after login (403 'Token was invalid'); the driver logs in again once and "
        "goes on", observe, nth("GET", {1}, lambda r, a: expire(r, a)), {}),
    "login-401": ("leaf-1 observe with a wrong password: aaaLogin answers 401", observe, None, {}),
    "refresh": (
        "leaf-1 observes twice, 301 s apart: past half of refreshTimeoutSeconds (600) the driver renews the token "
        "with aaaRefresh first", refresh, None, {}),
    "apply-refused-400": (
        "leaf-1 apply: the APIC refuses the subtree POST with HTTP 400 and its error body; nothing changes",
        apply, nth("POST", {1}, refused), {}),
    "not-found-404": (
        "leaf-1 observe while the APIC restarts: its web server answers 404 with an HTML page", observe,
        every_get(lambda r, a: httpx.Response(404, text=HTML_404, headers={"content-type": "text/html",
                                                                           "server": "Cisco APIC"})), {}),
    "throttled-429": (
        "leaf-1 observe: the first read is throttled with 429 and Retry-After: 3; the driver waits 3 s and goes on",
        observe, nth("GET", {1}, lambda r, a: httpx.Response(429, headers={"retry-after": "3"},
                                                             json=error_body("429", "Too many requests"))), {}),
    "busy-503": (
        "leaf-1 observe: every read answers 503; after 4 retries the driver gives up with the APIC's text",
        observe, every_get(busy), {}),
    "read-timeout": (
        "leaf-1 observe: the first read times out; a read is idempotent, so it is sent again", observe,
        nth("GET", {1}, raise_(httpx.ReadTimeout, "timed out")), {}),
    "reset-before-commit": (
        "leaf-1 apply: the connection is reset while the POST is sent, the APIC did not take it; the driver reads "
        "back and reports nothing changed", apply,
        nth("POST", {1}, raise_(httpx.ReadError, "[Errno 104] Connection reset by peer")), {}),
    "reset-after-commit": (
        "leaf-1 apply: the APIC takes the POST but the connection drops before the answer; the driver reads back, "
        "finds the new state and reports the change applied", apply,
        nth("POST", {1}, raise_(httpx.RemoteProtocolError, "Server disconnected without sending a response.",
                                apply_first=True)), {}),
    "paged-observe": (
        "leaf-1 observe with page-size 4: every read is followed page by page (page is 0-based, totalCount counts "
        "all matches)", observe, None, {"page_size": 4}),
    "stepwise-undo": (
        "leaf-1 apply in steps of 2 changes (max_changes_per_post: 2): the APIC refuses step 3 of 4 with HTTP 400; "
        "the driver undoes step 2, then step 1, and reports nothing changed", apply,
        nth("POST", {3}, refused_120), {"max_changes_per_post": 2}),
    "policy-plan-apply-replan": (
        "leaf-1 enforcing NetworkPolicy: observe (external EPGs, contracts, filters), plan, apply as one subtree "
        "POST with the routes, read back; a new session plans again (no changes) and sends no write",
        policy_plan_apply_replan, None, {}),
    "policy-refused-400": (
        "leaf-1 enforcing NetworkPolicy: the APIC refuses the subtree POST holding the contracts with HTTP 400; "
        "nothing changes, as a new session's observe shows", policy_refused, nth("POST", {1}, refused_contract), {}),
}
POLICY_SCENARIOS = {"policy-plan-apply-replan", "policy-refused-400"}


def record(name: str, root: Path) -> int:
    description, run, fault, settings = SCENARIOS[name]
    (root / "apic-password").write_text("wrong-password\n" if name == "login-401" else "fake-apic-password\n")
    apic = FakeApic()
    apic.load(json.loads((DATA / "aci" / "apic-state.json").read_text())["imdata"])
    if name in POLICY_SCENARIOS:
        apic.load(policy_state())
    session = Session(root, RecordingTransport(Faulty(apic, fault(apic) if fault else None)), settings,
                      policy=name in POLICY_SCENARIOS)
    session.recorder.secrets = lambda: driver_secrets(session.drivers[-1] if session.drivers else None)
    try:
        run(session)
    except Exception as exc:  # the error scenarios end in an error; the cassette is what matters
        print(f"{name}: {type(exc).__name__}: {exc}")
    cassette = session.recorder.cassette("aci", description)
    text = cassette.dumps()
    assert "fake-apic-password" not in text and not any(token in text for token in apic.tokens), name
    cassette.write(OUT / f"{name}.json")
    return len(cassette.exchanges)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(DATA / "aci" / "fabric.yaml", root / "fabric.yaml")
        for name in SCENARIOS:
            print(f"{name}: {record(name, root)} exchange(s)")


if __name__ == "__main__":
    main()

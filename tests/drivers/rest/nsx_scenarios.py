"""The NSX scenarios the cassettes hold, run against any transport (the fake manager when recording).

Record again after changing the driver or the fake: `python tests/drivers/rest/nsx_scenarios.py`
(writes tests/drivers/data/cassettes/nsx/*.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from controller_scenarios import DATA, Scenario, fixture_driver, observe, plan, plan_and_apply, plan_and_try, record
from pydantic import TypeAdapter

from drivers.rest.nsx import NsxDriver
from intent.model import DeviceObject, Realized
from intent.plan import DevicePlan

__all__ = ["make_driver", "observe", "plan", "plan_and_apply", "plan_and_apply_policy", "plan_and_try",
           "policy_objects"]

PASSWORD = "fake-nsx-Passw0rd"


def make_driver(root: Path, device: str, transport: httpx.BaseTransport) -> NsxDriver:
    """An nsx driver for `device` of the contract inventory, its password file in `root`."""
    return fixture_driver(NsxDriver, root, device, transport, PASSWORD,
                          page_size=2)  # small pages, so the cassettes show cursor paging


def policy_objects() -> list[DeviceObject]:
    """Address groups and policy rules for leaf-2 (data/nsx/policy-desired.json)."""
    document = json.loads((DATA.parent / "nsx" / "policy-desired.json").read_text(encoding="utf-8"))
    return list(TypeAdapter(list[Realized]).validate_python(document["objects"]))


def plan_and_apply_policy(driver: NsxDriver) -> DevicePlan:
    made = plan(driver, policy_objects())
    driver.apply(made).raise_on_error()
    return made


def _nsx_error(status: int, code: int, message: str, module: str = "Policy", **headers: str) -> httpx.Response:
    text = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 429: "TOO_MANY_REQUESTS"}[status]
    return httpx.Response(status, headers=headers, json={"httpStatus": text, "error_code": code,
                                                         "module_name": module, "error_message": message})


TIER0S, INFRA = "/policy/api/v1/infra/tier-0s", "/policy/api/v1/infra"
SCENARIOS: dict[str, Scenario] = {
    "plan-leaf-1": ("leaf-1: session login, cursor-paged reads of the Tier-0 and its VRF gateways, then a plan",
                    None, plan),
    "apply-leaf-1": ("leaf-1: plan, then apply: re-read (stale check), one hierarchical PATCH, realization "
                     "polling, re-read for the new revision", None, plan_and_apply),
    "apply-policy-leaf-2": ("leaf-2: a route plus NetworkPolicy: groups and a new security policy with its rules "
                            "in the same hierarchical PATCH", None, plan_and_apply_policy),
    "relogin-401": ("leaf-1: the session has expired: 401 on a read, a new session, the read again", (
        "GET", TIER0S, _nsx_error(401, 403, "The credentials were incorrect or the account specified has been "
                                            "locked.", "common-services")), observe),
    "throttled-429": ("leaf-1: the rate limit: 429 with Retry-After, then the read again", (
        "GET", TIER0S, _nsx_error(429, 102, "Client 'admin' exceeded request rate of 100 per second.",
                                  "common-services", **{"Retry-After": "2"})), observe),
    "patch-refused-400": ("leaf-1: NSX refuses the hierarchical PATCH (a referenced object): nothing applied", (
        "PATCH", INFRA, _nsx_error(400, 500030, "The object path=[/infra/tier-0s/leaf-1/prefix-lists/FI-NODE-n1] "
                                                "cannot be deleted as either it has children or it is being "
                                                "referenced by other objects.")), plan_and_try),
}


def record_all(root: Path, folder: Path | None = None) -> None:
    from fake_nsx import FakeNsxManager

    record("nsx", SCENARIOS, lambda: FakeNsxManager.load(DATA / "nsx" / "nsx-manager.json"), make_driver, root, folder)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        record_all(Path(scratch))

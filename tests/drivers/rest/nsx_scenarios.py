"""The NSX scenarios the cassettes hold, run against any transport (the fake manager when recording).

Record again after changing the driver or the fake: `python tests/drivers/rest/nsx_scenarios.py`
(writes tests/drivers/data/cassettes/nsx/*.json).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml
from pydantic import TypeAdapter

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from driver_harness import DATA, desired  # noqa: E402

from drivers.base import ApplyResult  # noqa: E402
from drivers.rest.cassette import RecordingTransport  # noqa: E402
from drivers.rest.nsx import NsxDriver  # noqa: E402
from intent.inventory import parse_inventory  # noqa: E402
from intent.model import DeviceObject, Realized  # noqa: E402
from intent.plan import DevicePlan  # noqa: E402

CASSETTES = HERE.parent / "data" / "cassettes" / "nsx"
PASSWORD = "nsx-secret-Passw0rd"


def make_driver(root: Path, device: str, transport: httpx.BaseTransport) -> NsxDriver:
    """An nsx driver for `device` of the contract inventory, its password file in `root`."""
    shutil.copy(DATA / "nsx" / "fabric.yaml", root / "fabric.yaml")
    (root / "nsx-password").write_text(PASSWORD + "\n")
    document = yaml.safe_load((root / "fabric.yaml").read_text())
    document["drivers"]["nsx"]["page_size"] = 2  # small pages, so the cassettes show cursor paging
    inventory = parse_inventory(document, "fabric.yaml")
    return NsxDriver(inventory.switch(device), inventory, root, transport=transport, sleep=lambda _s: None)


def policy_objects() -> list[DeviceObject]:
    """Address groups and policy rules for leaf-2 (data/nsx/policy-desired.json)."""
    document = json.loads((DATA.parent / "nsx" / "policy-desired.json").read_text(encoding="utf-8"))
    return list(TypeAdapter(list[Realized]).validate_python(document["objects"]))


def plan(driver: NsxDriver, extra: list[DeviceObject] | None = None) -> DevicePlan:
    return driver.plan(desired(driver.device) + (extra or []), driver.observe())


def plan_and_apply_policy(driver: NsxDriver) -> DevicePlan:
    made = plan(driver, policy_objects())
    driver.apply(made).raise_on_error()
    return made


def plan_and_apply(driver: NsxDriver) -> DevicePlan:
    made = plan(driver)
    driver.apply(made).raise_on_error()
    return made


def plan_and_try(driver: NsxDriver) -> ApplyResult:
    return driver.apply(plan(driver))


def observe(driver: NsxDriver) -> object:
    return driver.observe()


def _nsx_error(status: int, code: int, message: str, module: str = "Policy", **headers: str) -> httpx.Response:
    text = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 429: "TOO_MANY_REQUESTS"}[status]
    return httpx.Response(status, headers=headers, json={"httpStatus": text, "error_code": code,
                                                         "module_name": module, "error_message": message})


TIER0S, INFRA = "/policy/api/v1/infra/tier-0s", "/policy/api/v1/infra"
Fault = tuple[str, str, httpx.Response] | None
SCENARIOS: dict[str, tuple[str, Fault, Callable[[NsxDriver], object]]] = {
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


def record(root: Path) -> None:
    from fake_nsx import FakeNsxManager

    for name, (description, fault, run) in SCENARIOS.items():
        manager = FakeNsxManager.load(DATA / "nsx" / "nsx-manager.json")
        if fault is not None:
            manager.fail_next(*fault)
        recorder = RecordingTransport(manager.transport, lambda: (PASSWORD,))
        driver = make_driver(root, "leaf-2" if name.endswith("leaf-2") else "leaf-1", recorder)
        run(driver)
        recorder.cassette("nsx", description).write(CASSETTES / f"{name}.json")


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(HERE))
    with tempfile.TemporaryDirectory() as folder:
        record(Path(folder))

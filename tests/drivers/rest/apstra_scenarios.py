"""The Apstra scenarios the cassettes hold, run against any transport (the fake server when recording).

Record again after changing the driver or the fake: `python tests/drivers/rest/apstra_scenarios.py`
(writes tests/drivers/data/cassettes/apstra/*.json).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from driver_harness import DATA, desired  # noqa: E402

from drivers.base import ApplyResult  # noqa: E402
from drivers.rest.apstra import ApstraDriver  # noqa: E402
from drivers.rest.cassette import RecordingTransport  # noqa: E402
from intent.inventory import parse_inventory  # noqa: E402
from intent.plan import DevicePlan  # noqa: E402

CASSETTES = HERE.parent / "data" / "cassettes" / "apstra"
PASSWORD = "apstra-secret-Passw0rd"


def make_driver(root: Path, device: str, transport: httpx.BaseTransport, **options: object) -> ApstraDriver:
    """An apstra driver for `device` (its blueprint) of the contract inventory, its password file in `root`."""
    shutil.copy(DATA / "apstra" / "fabric.yaml", root / "fabric.yaml")
    (root / "apstra-password").write_text(PASSWORD + "\n")
    document = yaml.safe_load((root / "fabric.yaml").read_text())
    document["drivers"]["apstra"].update(options)
    inventory = parse_inventory(document, "fabric.yaml")
    return ApstraDriver(inventory.switch(device), inventory, root, transport=transport, sleep=lambda _s: None)


def plan(driver: ApstraDriver) -> DevicePlan:
    return driver.plan(desired(driver.device), driver.observe())


def plan_and_apply(driver: ApstraDriver) -> DevicePlan:
    made = plan(driver)
    driver.apply(made).raise_on_error()
    return made


def plan_and_try(driver: ApstraDriver) -> ApplyResult:
    return driver.apply(plan(driver))


def observe(driver: ApstraDriver) -> object:
    return driver.observe()


BP = "/api/blueprints/leaf-1"
Fault = tuple[str, str, httpx.Response] | None
SCENARIOS: dict[str, tuple[str, Fault, Callable[[ApstraDriver], object]]] = {
    "plan-leaf-1": ("blueprint leaf-1: login, reads of routing zones, routing policies and connectivity "
                    "templates from staging, then a plan", None, plan),
    "apply-leaf-1": ("blueprint leaf-1: plan, then apply: re-read (stale check), staging writes in plan order, "
                     "build errors, diff-status, deploy with the staging version, task polling, deploy state, re-read",
                     None, plan_and_apply),
    "relogin-401": ("blueprint leaf-1: the token has expired: 401 on a read, a new login, the read again",
                    ("GET", BP, httpx.Response(401, json={"errors": "Invalid or expired token"})), observe),
    "staging-422-undone": ("blueprint leaf-1: a staging write fails validation (422); the earlier writes are "
                           "undone newest first and nothing is deployed", (
                               "POST", f"{BP}/obj-policy-import", httpx.Response(422, json={
                                   "errors": {"policies": {"x": {"security_zone": "No node with id: 'sz-gone'"}}}})),
                           plan_and_try),
}


def record(root: Path) -> None:
    from fake_apstra import FakeApstraServer

    for name, (description, fault, run) in SCENARIOS.items():
        server = FakeApstraServer.load(DATA / "apstra" / "apstra-server.json")
        if fault is not None:
            server.fail_next(*fault)
        recorder = RecordingTransport(server.transport, lambda: (PASSWORD,))
        run(make_driver(root, "leaf-1", recorder))
        recorder.cassette("apstra", description).write(CASSETTES / f"{name}.json")


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(HERE))
    with tempfile.TemporaryDirectory() as folder:
        record(Path(folder))

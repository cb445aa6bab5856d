"""The Apstra scenarios the cassettes hold, run against any transport (the fake server when recording).

Record again after changing the driver or the fake: `python tests/drivers/rest/apstra_scenarios.py`
(writes tests/drivers/data/cassettes/apstra/*.json).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from controller_scenarios import DATA, Scenario, fixture_driver, observe, plan, plan_and_apply, plan_and_try, record

from drivers.rest.apstra import ApstraDriver

__all__ = ["make_driver", "observe", "plan", "plan_and_apply", "plan_and_try"]

PASSWORD = "fake-apstra-Passw0rd"


def make_driver(root: Path, device: str, transport: httpx.BaseTransport, **options: object) -> ApstraDriver:
    """An apstra driver for `device` (its blueprint) of the contract inventory, its password file in `root`."""
    return fixture_driver(ApstraDriver, root, device, transport, PASSWORD, **options)


BP = "/api/blueprints/leaf-1"
SCENARIOS: dict[str, Scenario] = {
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


def record_all(root: Path, folder: Path | None = None) -> None:
    from fake_apstra import FakeApstraServer

    record("apstra", SCENARIOS, lambda: FakeApstraServer.load(DATA / "apstra" / "apstra-server.json"), make_driver,
           root, folder)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        record_all(Path(scratch))

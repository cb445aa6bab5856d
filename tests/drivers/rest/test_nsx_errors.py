"""Every failure of the NSX manager ends in a precise error from the tree, and NSX is left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from driver_harness import DATA, desired
from fake_nsx import FakeNsxManager, nsx_error
from nsx_scenarios import make_driver

from drivers.rest.errors import ControllerError
from drivers.rest.nsx import NsxDriver
from intent.errors import DriverError
from intent.model import BgpPeering

INFRA = "/policy/api/v1/infra"
TIER0S = "/policy/api/v1/infra/tier-0s"


@pytest.fixture
def manager() -> FakeNsxManager:
    return FakeNsxManager.load(DATA / "nsx" / "nsx-manager.json")


def _driver(tmp_path: Path, manager: FakeNsxManager, sleeps: list[float] | None = None) -> NsxDriver:
    driver = make_driver(tmp_path, "leaf-1", manager.transport)
    if sleeps is not None:
        driver._sleep = sleeps.append
    return driver


def _owned(manager: FakeNsxManager) -> dict[str, object]:
    """Owned objects' configuration (metadata such as _revision left out)."""
    return {p: {k: v for k, v in o.items() if not k.startswith("_")} for p, o in manager.under("leaf-1").items()
            if {"scope": "fabric-intent", "tag": "contract"} in (o.get("tags") or [])}


def test_a_refused_patch_carries_nsx_error_body_and_changes_nothing(tmp_path: Path, manager: FakeNsxManager) -> None:
    driver = _driver(tmp_path, manager)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    before = json.dumps(manager.objects, sort_keys=True)
    manager.fail_next("PATCH", INFRA, nsx_error(400, 500030, "The object path=[/infra/tier-0s/leaf-1/prefix-lists/"
                                                             "FI-NODE-n1] cannot be deleted as either it has children "
                                                             "or it is being referenced by other objects."))
    result = driver.apply(plan)
    assert result.error == ("leaf-1: PATCH /policy/api/v1/infra failed with HTTP 400: NSX error 500030: The object "
                            "path=[/infra/tier-0s/leaf-1/prefix-lists/FI-NODE-n1] cannot be deleted as either it has "
                            "children or it is being referenced by other objects.")
    assert result.applied == () and result.not_applied == tuple(c.key for c in plan.changes)
    assert json.dumps(manager.objects, sort_keys=True) == before
    assert [r[0] for r in manager.writes()] == ["PATCH"], "NSX refused the whole body: nothing to undo"


def test_unknown_gateway_is_named(tmp_path: Path, manager: FakeNsxManager) -> None:
    del manager.objects["/infra/tier-0s/leaf-1"]
    with pytest.raises(DriverError, match=r"^leaf-1: NSX has no Tier-0 gateway 'leaf-1' \(option 'gateway'\)$"):
        _driver(tmp_path, manager).observe()


def test_a_404_on_a_read_carries_nsx_text(tmp_path: Path, manager: FakeNsxManager) -> None:
    manager.fail_next("GET", f"{TIER0S}/leaf-1/static-routes",
                      nsx_error(404, 500012, "The path=[/infra/tier-0s/leaf-1] is invalid"))
    with pytest.raises(ControllerError) as info:
        _driver(tmp_path, manager).observe()
    assert str(info.value) == ("leaf-1: GET /policy/api/v1/infra/tier-0s/leaf-1/static-routes failed with HTTP 404: "
                               "NSX error 500012: The path=[/infra/tier-0s/leaf-1] is invalid")
    assert info.value.status == 404 and not info.value.retryable


def test_connection_reset_after_nsx_applied_the_patch_is_undone(tmp_path: Path, manager: FakeNsxManager) -> None:
    driver = _driver(tmp_path, manager)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    owned, hand_made = _owned(manager), manager.under("blue")["/infra/tier-0s/blue/locale-services/default/bgp/"
                                                               "neighbors/storage"]
    manager.reset_next("PATCH", INFRA, after_work=True)
    result = driver.apply(plan)
    assert result.error is not None and result.error.startswith(
        "leaf-1: PATCH /policy/api/v1/infra could not be completed (RemoteProtocolError: peer closed connection")
    assert result.not_applied == tuple(c.key for c in plan.changes) and result.applied == ()
    assert _owned(manager) == owned, "the inverse PATCH put every owned object back as it was"
    assert "/infra/tier-0s/leaf-1-BLUE" not in manager.objects
    assert manager.under("blue")["/infra/tier-0s/blue/locale-services/default/bgp/neighbors/storage"] == hand_made
    assert [r[0] for r in manager.writes()] == ["PATCH", "PATCH"]


def test_connection_reset_before_nsx_worked_on_it_needs_no_undo(tmp_path: Path, manager: FakeNsxManager) -> None:
    driver = _driver(tmp_path, manager)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    before = json.dumps(manager.objects, sort_keys=True)
    manager.reset_next("PATCH", INFRA, after_work=False)
    result = driver.apply(plan)
    assert result.failed and "RemoteProtocolError" in (result.error or "")
    assert json.dumps(manager.objects, sort_keys=True) == before
    assert [r[0] for r in manager.writes()] == ["PATCH"], "NSX held nothing new, so nothing was sent to undo it"


def test_a_realization_error_restores_the_previous_objects(tmp_path: Path, manager: FakeNsxManager) -> None:
    driver = _driver(tmp_path, manager)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    owned = _owned(manager)
    manager.realization = "ERROR"
    result = driver.apply(plan)
    assert result.error == ("leaf-1: NSX accepted the change but /infra/tier-0s/blue failed to realize "
                            "(consolidated status ERROR)")
    assert _owned(manager) == owned


def test_a_password_protected_session_is_refused_before_anything_is_sent(tmp_path: Path,
                                                                        manager: FakeNsxManager) -> None:
    driver = _driver(tmp_path, manager)
    wanted = [o.model_copy(update={"authenticated": True}) if isinstance(o, BgpPeering) else o
              for o in desired("leaf-1")]
    result = driver.apply(driver.plan(wanted, driver.observe()))
    assert result.error == ("leaf-1: bgp neighbor 192.168.1.11 asks for a password; the nsx driver does not set BGP "
                            "passwords (NSX never reads them back, so drift would go unseen)")
    assert manager.writes() == []


def test_when_nsx_cannot_be_read_back_after_a_lost_answer_the_error_says_so(tmp_path: Path,
                                                                            manager: FakeNsxManager) -> None:
    driver = _driver(tmp_path, manager, [])
    plan = driver.plan(desired("leaf-1"), driver.observe())

    def drop_and_fail(request: httpx.Request) -> httpx.Response:
        manager.poisoned = True  # from now on every read fails
        raise httpx.ReadError("connection reset by peer", request=request)
    manager.faults.append(("PATCH", INFRA, drop_and_fail))
    with pytest.raises(DriverError) as info:
        driver.apply(plan)
    assert str(info.value).startswith("leaf-1: the change failed and NSX could not be read back to see whether it "
                                      "took effect (leaf-1: GET /policy/api/v1/infra/tier-0s failed with HTTP 500")
    assert str(info.value).endswith("; observe and plan again")


def test_a_hand_made_security_policy_with_our_id_is_left_alone(tmp_path: Path, manager: FakeNsxManager) -> None:
    path = "/infra/domains/default/security-policies/leaf-1-fabric-intent"
    manager.objects[path] = {"resource_type": "SecurityPolicy", "id": "leaf-1-fabric-intent", "path": path,
                             "category": "Application", "_revision": 2}
    with pytest.raises(DriverError, match="^leaf-1: security policy leaf-1-fabric-intent exists but is not tagged "
                                          "for fabric-intent cluster contract; fabric-intent leaves it alone$"):
        _driver(tmp_path, manager).observe()

"""The driver contract, run against every driver the registry can build (see driver_harness.py).

observe returns owned objects only and a revision; plan is pure; apply then observe equals the
desired state; re-plan after apply is empty; a stale plan is refused; a failed commit leaves the
device unchanged; hand-made configuration is never touched.
"""

from __future__ import annotations

import pytest
from driver_harness import DEVICES, Harness, desired, expected_plan, no_io, owned_before

from drivers import registry
from drivers.base import Driver
from intent.errors import StalePlanError
from intent.model import APPLY_ORDER, DeviceObject
from intent.plan import DevicePlan

REALIZED_KINDS = set(APPLY_ORDER)

pytestmark = pytest.mark.parametrize("device", DEVICES)


def _wanted(driver: Driver, device: str) -> list[DeviceObject]:
    objects = [o for o in desired(device) if o.kind in driver.capabilities.kinds]
    assert objects, f"the contract fixture has nothing {driver.name} can configure on {device}"
    return objects


def _configs(objects: object) -> dict[str, dict[str, object]]:
    return {o.key: o.config() for o in objects}  # type: ignore[attr-defined]


def _plan(driver: Driver, device: str) -> DevicePlan:
    return driver.plan(_wanted(driver, device), driver.observe())


def test_capabilities(harness: Harness, device: str) -> None:
    cls = registry.get(harness.name)
    assert cls.name == harness.name, "a driver's name is its entry-point name"
    caps = cls.capabilities
    assert caps.kinds and set(caps.kinds) <= REALIZED_KINDS
    assert caps.description.strip()
    assert isinstance(caps.transactional, bool) and isinstance(caps.rollback, bool)


def test_building_a_driver_does_no_io(harness: Harness, device: str) -> None:
    with no_io(harness.root) as events:
        driver = harness.driver(device)
    assert events == [], f"the constructor touched the device: {events}"
    assert driver.device == device


def test_observe_returns_owned_objects_only_and_a_revision(harness: Harness, device: str) -> None:
    before = harness.configuration(device)
    driver = harness.driver(device)
    state = driver.observe()
    assert state.device == device
    assert sorted(o.key for o in state.objects) == sorted(owned_before(device))
    assert all(isinstance(o, DeviceObject) and o.device == device for o in state.objects)
    assert all(o.provenance == () for o in state.objects), "a device knows nothing of Kubernetes"
    assert isinstance(state.revision, str) and state.revision
    again = driver.observe()
    assert (again.revision, again.objects) == (state.revision, state.objects), "observe is stable"
    assert harness.configuration(device) == before, "observe changes nothing"


def test_any_change_on_the_device_changes_its_revision(harness: Harness, device: str) -> None:
    driver = harness.driver(device)
    state = driver.observe()
    harness.change_behind_our_back(device)
    later = driver.observe()
    assert later.revision != state.revision
    assert later.objects == state.objects, "a hand-made change is not an owned object"


def test_plan_is_pure(harness: Harness, device: str) -> None:
    driver = harness.driver(device)
    wanted, observed = _wanted(driver, device), driver.observe()
    with no_io(harness.root) as events:
        first = driver.plan(wanted, observed)
    assert events == [], f"plan did I/O: {events}"
    harness.poison()  # were plan to read the device now, it would fail or differ
    assert driver.plan(wanted, observed) == first
    assert first.device == device and first.driver == harness.name
    assert first.revision == observed.revision
    assert first.owned_objects == len(observed.objects)


def test_plan_makes_the_expected_changes_in_order(harness: Harness, device: str) -> None:
    plan = _plan(harness.driver(device), device)
    assert {c.key: c.action for c in plan.changes} == expected_plan(device)
    for change in plan.changes:
        assert change.device == device
        assert change.native and all(isinstance(line, str) and line for line in change.native), change.key
    actions = [c.action for c in plan.changes]
    assert actions == sorted(actions, key=lambda a: a == "delete"), "make before break: deletes come last"
    ranks = [APPLY_ORDER[c.kind] for c in plan.changes if c.action != "delete"]
    assert ranks == sorted(ranks), "creates in dependency order (vrf, prefix-list, bgp, route)"
    ranks = [APPLY_ORDER[c.kind] for c in plan.changes if c.action == "delete"]
    assert ranks == sorted(ranks, reverse=True), "deletes in reverse dependency order"


def test_apply_then_observe_equals_desired(harness: Harness, device: str) -> None:
    driver = harness.driver(device)
    plan = _plan(driver, device)
    result = driver.apply(plan)
    assert not result.failed, result.error
    assert result.applied == tuple(c.key for c in plan.changes)
    assert result.not_applied == ()
    state = driver.observe()
    assert result.revision == state.revision
    assert _configs(state.objects) == _configs(_wanted(driver, device))


def test_replan_after_apply_is_empty(harness: Harness, device: str) -> None:
    driver = harness.driver(device)
    driver.apply(_plan(driver, device)).raise_on_error()
    fresh = harness.driver(device)  # a new process, as the next `fabric-intent plan` would be
    replan = _plan(fresh, device)
    assert replan.changes == ()
    assert replan.owned_objects == len(_wanted(fresh, device))


def test_empty_plan_changes_nothing(harness: Harness, device: str) -> None:
    driver = harness.driver(device)
    driver.apply(_plan(driver, device)).raise_on_error()
    before = harness.configuration(device)
    result = driver.apply(_plan(driver, device))
    assert (result.applied, result.failed) == ((), False)
    assert harness.configuration(device) == before


def test_hand_made_configuration_is_never_touched(harness: Harness, device: str) -> None:
    hand_made = harness.hand_made(device)
    others = {d: harness.configuration(d) for d in DEVICES if d != device}
    driver = harness.driver(device)
    driver.apply(_plan(driver, device)).raise_on_error()
    assert harness.hand_made(device) == hand_made
    assert {d: harness.configuration(d) for d in others} == others, "other devices are not touched"
    # ... nor when everything fabric-intent owns is withdrawn
    driver.apply(driver.plan([], driver.observe())).raise_on_error()
    assert driver.observe().objects == ()
    assert harness.hand_made(device) == hand_made


def test_stale_plan_is_refused(harness: Harness, device: str) -> None:
    driver = harness.driver(device)
    plan = _plan(driver, device)
    harness.change_behind_our_back(device)
    before = harness.configuration(device)
    with pytest.raises(StalePlanError, match=device):
        driver.apply(plan)
    assert harness.configuration(device) == before


def test_failed_commit_leaves_the_device_unchanged(harness: Harness, device: str) -> None:
    failing = harness.failing_driver(device)
    plan = _plan(failing, device)
    before, observed = harness.configuration(device), failing.observe()
    result = failing.apply(plan)
    assert result.failed and result.error
    assert device in result.error
    assert result.applied == ()
    assert result.not_applied == tuple(c.key for c in plan.changes)
    assert result.revision == plan.revision
    assert harness.configuration(device) == before
    assert failing.observe() == observed
    assert harness.leftovers() == [], "nothing is left behind by the failed commit"
    # the device is as it was, so the very same plan still applies once the fault is gone
    healthy = harness.driver(device)
    assert not healthy.apply(plan).failed
    assert _configs(healthy.observe().objects) == _configs(_wanted(healthy, device))

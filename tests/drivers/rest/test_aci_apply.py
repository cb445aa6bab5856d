"""Apply in several POSTs (`max_changes_per_post`): a failed step undoes the steps before it, last first,
and the result says exactly what stays applied when undoing fails too."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from aci_support import AciFactory
from driver_harness import DATA, desired
from fake_apic import FakeApic, error_body

from drivers.rest.aci import AciDriver
from intent.plan import DevicePlan, apply_changes

REFUSAL = error_body("120", "unknown property value 0, name maxPfx, class bgpPeerPfxPol [(Dn0)] Dn0=, ")


@pytest.fixture
def apic() -> FakeApic:
    fake = FakeApic()
    fake.load(json.loads((DATA / "aci" / "apic-state.json").read_text())["imdata"])
    return fake


def refuse_posts(apic: FakeApic, *numbers: int) -> None:
    """The APIC refuses the POSTs to /api/mo/ with these ordinal numbers (1-based)."""
    count = [0]

    def fault(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and request.url.path.startswith("/api/mo/"):
            count[0] += 1
            if count[0] in numbers:
                return httpx.Response(400, json=REFUSAL)
        return None
    apic.faults.append(fault)


def _setup(make_aci: AciFactory, apic: FakeApic) -> tuple[AciDriver, DevicePlan, Callable[[], list[str]]]:
    driver = make_aci(apic.transport, max_changes_per_post=2)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    assert len(plan.changes) == 7  # four steps: 2 + 2 + 2 + 1

    def hand_made() -> list[str]:
        return sorted(dn for dn, (cls, attrs) in apic.mos.items()
                      if attrs.get("annotation") != "orchestrator:fabric-intent" and cls != "tagAnnotation")
    return driver, plan, hand_made


def test_a_plan_split_in_steps_applies_every_step(make_aci: AciFactory, apic: FakeApic) -> None:
    driver, plan, _ = _setup(make_aci, apic)
    result = driver.apply(plan)
    assert not result.failed and result.applied == tuple(c.key for c in plan.changes)
    assert len(apic.posts) == 4
    assert driver.plan(desired("leaf-1"), driver.observe()).changes == ()


def test_a_refused_step_undoes_the_steps_before_it(make_aci: AciFactory, apic: FakeApic) -> None:
    driver, plan, hand_made = _setup(make_aci, apic)
    before, hand = driver.observe().objects, hand_made()
    refuse_posts(apic, 3)
    result = driver.apply(plan)
    assert result.failed and result.applied == () and result.not_applied == tuple(c.key for c in plan.changes)
    assert result.error == (
        "leaf-1: POST /api/mo/uni/tn-k8s.json failed with HTTP 400: APIC error 120: unknown property value 0, name "
        "maxPfx, class bgpPeerPfxPol [(Dn0)] Dn0=,; the APIC refused the change as a whole (step 3 of 4); "
        "steps 1-2 were undone, nothing was changed")
    assert len(apic.posts) == 4  # the APIC took steps 1 and 2, refused 3, then took undo 2 and undo 1
    undo_first = apic.posts[2]["fvTenant"]
    assert "rtctrlSubjP" not in json.dumps(undo_first) and "deleted" in json.dumps(undo_first)
    assert driver.observe().objects == before
    assert hand_made() == hand


def test_when_undoing_fails_too_the_result_says_what_stays_applied(make_aci: AciFactory, apic: FakeApic) -> None:
    driver, plan, hand_made = _setup(make_aci, apic)
    hand, before = hand_made(), {o.key: o for o in driver.observe().objects}
    refuse_posts(apic, 3, 4)
    result = driver.apply(plan)
    keys = [c.key for c in plan.changes]
    assert result.failed and result.applied == tuple(keys[:4]) and result.not_applied == tuple(keys[4:])
    assert result.error is not None and result.revision is None
    assert "(step 3 of 4); undoing step 2 failed too (leaf-1: POST /api/mo/uni/tn-k8s.json failed with HTTP 400" \
        in result.error
    assert result.error.endswith(f"still applied: {', '.join(keys[:4])}; make a new plan")
    expected = apply_changes(before, plan.changes[:4])  # steps 1 and 2 stay, as the result says
    assert {o.key: o.config() for o in driver.observe().objects} == {k: o.config() for k, o in expected.items()}
    assert hand_made() == hand

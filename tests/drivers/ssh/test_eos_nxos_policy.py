"""NetworkPolicy behaviour Arista EOS and Cisco NX-OS share, run on each platform's fake switch.

Both start from their data/ssh/<platform>/policy/leaf-1.cfg (hand-made policy on the uplink) with the rule set
compiled from data/ssh/nxos/policy/cluster/; data/ssh/<platform>/policy/expected.yaml holds the
platform's lines. What only one platform does is tested in test_eos_policy.py and test_nxos_policy.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_device import FakeSwitch, hand_made_lines
from fake_device_eos import FakeEos
from fake_device_harness import DATA, held, policy_driver, policy_objects
from fake_device_nxos import FakeNxos

FAKES: dict[str, type[FakeSwitch]] = {"eos": FakeEos, "nxos": FakeNxos}


@pytest.fixture(params=sorted(FAKES))
def platform(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _expected(platform: str) -> dict[str, Any]:
    text = (DATA / platform / "policy" / "expected.yaml").read_text(encoding="utf-8")
    expected: dict[str, Any] = yaml.safe_load(text)
    return expected


def _config(platform: str) -> str:
    return (DATA / platform / "policy" / "leaf-1.cfg").read_text(encoding="utf-8")


def _switch(platform: str, config: str | None = None, **fake: Any) -> FakeSwitch:
    return FAKES[platform]("leaf-1", config or _config(platform), **fake)


def test_apply_then_observe_equals_desired_and_hand_made_policies_survive(platform: str, tmp_path: Path) -> None:
    expected, switch = _expected(platform), _switch(platform)
    hand_made = hand_made_lines(switch.config_text(), switch.grammar.indent)
    assert expected["hand_made"] in hand_made
    driver = policy_driver(switch, tmp_path)
    wanted = policy_objects()
    result = driver.apply(driver.plan(wanted, driver.observe()))
    assert not result.failed, result.error
    state = driver.observe()
    assert {o.key: o.config() for o in state.objects} == held(wanted)
    assert driver.plan(wanted, state).changes == (), "a second plan is empty"
    assert hand_made_lines(switch.config_text(), switch.grammar.indent) == hand_made
    assert expected["egress_bound"] in switch.show_running().splitlines()
    assert switch.leftovers() == []


def test_a_refused_line_leaves_the_configuration_as_it_was_and_is_named(platform: str, tmp_path: Path) -> None:
    expected = _expected(platform)
    switch = _switch(platform, **expected["refusing_switch"])
    before = switch.config_text()
    driver = policy_driver(switch, tmp_path)
    result = driver.apply(driver.plan(policy_objects(), driver.observe()))
    assert result.error == f"leaf-1: the device refused `{expected['refused_line']}`: {expected['refusal']}"
    assert result.applied == ()
    assert switch.config_text() == before, "session aborted (EOS) or checkpoint rolled back (NX-OS)"
    assert switch.leftovers() == []


def test_a_hand_made_policy_on_the_pod_interface_is_not_replaced(platform: str, tmp_path: Path) -> None:
    expected = _expected(platform)
    pod_interface, theirs = expected["pod_interface"], expected["hand_made_on_pod_interface"]
    switch = _switch(platform, _config(platform).replace(pod_interface, f"{pod_interface}{theirs}\n"))
    driver = policy_driver(switch, tmp_path)
    plan = driver.plan(policy_objects(), driver.observe())
    assert len(plan.conflicts) == 1 and plan.conflicts[0].startswith("egress drop FI-ISOLATED-OUT -> any any")
    assert "policy-rule:leaf-1:FI-R-2beea7a86d" not in {c.key for c in plan.changes}
    driver.apply(plan).raise_on_error()
    assert theirs in switch.show_running().split("interface Vlan100")[1].splitlines()
    assert expected["egress_bound"] not in switch.show_running().splitlines()

"""Safety rules both the EOS and NX-OS drivers keep, checked on the stateful fake switches.

Hand-made configuration is never read as owned, changed or removed (also when a node goes away); a
stale plan is refused before anything is sent; the BGP password never appears in a plan, a result, an
error, a log line or what the driver keeps of the session; one login per observe/apply, always closed;
transport failures become fabric-intent errors.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from fake_device import FakeSwitch, hand_made_lines
from fake_device_eos import FakeEos
from fake_device_harness import DATA, build, driver_on, inventory_for
from fake_device_nxos import FakeNxos
from pydantic import TypeAdapter

from intent.errors import DeviceUnreachableError, DriverError, StalePlanError
from intent.model import DeviceObject, Realized
from intent.plan import DevicePlan

_OBJECTS: TypeAdapter[Any] = TypeAdapter(list[Realized])
FAKES: dict[str, type[FakeSwitch]] = {"eos": FakeEos, "nxos": FakeNxos}
SECRET = "s3cr3t-Bgp-Pw"
pytestmark = pytest.mark.parametrize("platform", sorted(FAKES))


def _switch(platform: str) -> FakeSwitch:
    return FAKES[platform]("leaf-1", (DATA / platform / "contract" / "leaf-1.cfg").read_text(encoding="utf-8"))


def _peering(**fields: Any) -> list[DeviceObject]:
    peer = {"kind": "bgp-peering", "device": "leaf-1", "vrf": "default", "neighbor": "192.168.1.12",
            "remote_as": 64602, "local_as": 65101, "description": "fabric-intent: node n2",
            "prefix_list": "FI-NODE-n2", "max_prefix": 20, **fields}
    plist = {"kind": "prefix-list", "device": "leaf-1", "name": "FI-NODE-n2",
             "entries": [{"seq": 10, "action": "permit", "prefix": "10.244.2.0/24"}]}
    return list(_OBJECTS.validate_python([plist, peer]))


def test_observe_reads_owned_objects_only(platform: str, tmp_path: Path) -> None:
    switch = _switch(platform)
    state = driver_on(switch, inventory_for(platform), tmp_path).observe()
    keys = {o.key for o in state.objects}
    assert "static-route:leaf-1:10.99.0.0/16@192.168.1.99" not in keys, "a tag alone does not make a route owned"
    assert "static-route:leaf-1:0.0.0.0/0@192.168.1.254" not in keys
    assert "bgp-peering:leaf-1:192.168.1.250" not in keys and "prefix-list:leaf-1:STORAGE" not in keys
    assert {"static-route:leaf-1:10.99.0.0/16@192.168.1.99", "bgp-peering:leaf-1:192.168.1.250"} <= state.foreign


def test_intent_colliding_with_hand_made_config_is_a_conflict_not_a_change(platform: str, tmp_path: Path) -> None:
    driver = driver_on(_switch(platform), inventory_for(platform), tmp_path)
    hand_made_twin = _peering(neighbor="192.168.1.250")[1]
    plan = driver.plan([hand_made_twin], driver.observe())
    assert all(c.key != hand_made_twin.key for c in plan.changes)
    assert any("192.168.1.250" in conflict and "hand-made" in conflict for conflict in plan.conflicts)


def test_hand_made_config_survives_apply_and_node_deletion(platform: str, tmp_path: Path) -> None:
    switch = _switch(platform)
    before = hand_made_lines(switch.config_text(), switch.grammar.indent)
    driver = driver_on(switch, inventory_for(platform), tmp_path)
    driver.apply(driver.plan(_peering(), driver.observe())).raise_on_error()
    assert "bgp-peering:leaf-1:192.168.1.12" in {o.key for o in driver.observe().objects}
    driver.apply(driver.plan([], driver.observe())).raise_on_error()  # the node is gone: withdraw its objects
    assert driver.observe().objects == ()
    assert hand_made_lines(switch.config_text(), switch.grammar.indent) == before
    assert "192.168.1.250" in switch.config_text() and "STORAGE" in switch.config_text()


def test_stale_plan_is_refused_before_anything_is_sent(platform: str, tmp_path: Path) -> None:
    switch = _switch(platform)
    driver = driver_on(switch, inventory_for(platform), tmp_path)
    plan = driver.plan(_peering(), driver.observe())
    switch.running.children[0].text = "hostname leaf-1-renamed"  # someone changes the switch by hand
    before, sent = switch.config_text(), len(switch.log)
    with pytest.raises(StalePlanError, match="leaf-1: the device changed since the plan was made"):
        driver.apply(plan)
    assert switch.config_text() == before
    assert [e for e in switch.log[sent:] if "send_config_set" in e or "checkpoint" in e.get("send_command", "")] == []


def test_replan_after_apply_is_empty(platform: str, tmp_path: Path) -> None:
    switch = _switch(platform)
    driver = driver_on(switch, inventory_for(platform), tmp_path)
    driver.apply(driver.plan(_peering(), driver.observe())).raise_on_error()
    fresh = driver_on(switch, inventory_for(platform), tmp_path)
    assert fresh.plan(_peering(), fresh.observe()).changes == ()


def test_one_login_per_observe_and_apply_and_each_is_closed(platform: str, tmp_path: Path) -> None:
    switch = _switch(platform)
    logins = []

    def connect() -> Any:
        logins.append(switch.connect())
        return logins[-1]
    driver = build(platform, "leaf-1", inventory_for(platform), tmp_path, connect)
    plan = driver.plan(_peering(), driver.observe())
    driver.apply(plan).raise_on_error()
    assert len(logins) == 2 and switch.connections_open == 0 and not any(c.open for c in logins)


def test_password_is_sent_to_the_switch_but_never_shown(platform: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("FI_TEST_BGP_PASSWORD", SECRET)
    inventory = inventory_for(platform, bgp={"password": {"env": "FI_TEST_BGP_PASSWORD"}})
    switch = _switch(platform)
    driver = driver_on(switch, inventory, tmp_path)
    caplog.set_level(logging.DEBUG)
    plan = driver.plan(_peering(authenticated=True), driver.observe())
    result = driver.apply(plan)
    assert not result.failed, result.error
    shown = [plan.model_dump_json(), result.model_dump_json(), driver.last_output, switch.show_running(), caplog.text]
    assert all(SECRET not in text for text in shown)
    assert any("<bgp.password>" in line for c in plan.changes for line in c.native)
    stored = hashlib.sha256(SECRET.encode()).hexdigest()[:16]
    assert stored in switch.config_text(), "the switch received the password (it keeps only its hash here)"
    assert "192.168.1.12" in caplog.text, "the change was logged (so the log was checked for the password)"
    peer = next(o for o in driver.observe().objects if o.key == "bgp-peering:leaf-1:192.168.1.12")
    assert getattr(peer, "authenticated", False), "read back as authenticated"


def test_password_stays_out_of_the_error_when_its_line_is_refused(platform: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FI_TEST_BGP_PASSWORD", "bad pass word")  # a space: the switch refuses the line
    inventory = inventory_for(platform, bgp={"password": {"env": "FI_TEST_BGP_PASSWORD"}})
    switch = _switch(platform)
    before = switch.config_text()
    driver = driver_on(switch, inventory, tmp_path)
    result = driver.apply(driver.plan(_peering(authenticated=True), driver.observe()))
    assert result.failed and result.error is not None
    assert "bad pass word" not in result.error and "bad pass word" not in driver.last_output
    assert "password <bgp.password>" in result.error, "the error names the refused line, password hidden"
    assert switch.config_text() == before and switch.leftovers() == []


def test_missing_password_is_a_precise_error(platform: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FI_TEST_BGP_PASSWORD", raising=False)
    inventory = inventory_for(platform, bgp={"password": {"env": "FI_TEST_BGP_PASSWORD"}})
    switch = _switch(platform)
    driver = driver_on(switch, inventory, tmp_path)
    result = driver.apply(driver.plan(_peering(authenticated=True), driver.observe()))
    assert result.error is not None and "FI_TEST_BGP_PASSWORD, which is not set" in result.error
    assert switch.leftovers() == []


def test_an_unreachable_switch_is_a_retryable_error(platform: str, tmp_path: Path) -> None:
    inventory = inventory_for(platform)

    def unreachable() -> Any:
        raise DeviceUnreachableError("leaf-1: SSH to 127.0.0.1:22 failed: timed out")
    driver = build(platform, "leaf-1", inventory, tmp_path, unreachable)
    with pytest.raises(DeviceUnreachableError) as info:
        driver.observe()
    assert info.value.retryable


def test_a_session_that_breaks_midway_raises_a_fabric_intent_error(platform: str, tmp_path: Path) -> None:
    class Broken:
        def send_command(self, command_string: str, **kwargs: Any) -> str:
            raise OSError("Socket is closed")
        send_command_timing = send_command

        def send_config_set(self, config_commands: Any, **kwargs: Any) -> str:
            raise OSError("Socket is closed")

        def disconnect(self) -> None:
            pass
    inventory = inventory_for(platform)
    driver = build(platform, "leaf-1", inventory, tmp_path, Broken)
    with pytest.raises(DeviceUnreachableError, match="leaf-1: lost the SSH session: Socket is closed"):
        driver.observe()
    empty = DevicePlan(device="leaf-1", driver=platform, revision="0" * 64, owned_objects=0)
    with pytest.raises(DeviceUnreachableError):
        driver.apply(empty)


def test_an_unreadable_owned_object_stops_observe_with_a_precise_error(platform: str, tmp_path: Path) -> None:
    broken = {"eos": "hostname leaf-1\n!\nip prefix-list FI-NODE-n1\n   seq 10 permit 10.244.1.7/24\n!\nend\n",
              "nxos": "hostname leaf-1\nip prefix-list FI-NODE-n1 seq 10 permit 10.244.1.7/24\n"}[platform]
    driver = driver_on(FAKES[platform]("leaf-1", broken), inventory_for(platform), tmp_path)
    with pytest.raises(DriverError, match=r"leaf-1: cannot read a fabric-intent object from the running "
                                          r"configuration: .*'10.244.1.7/24'"):
        driver.observe()


def test_a_failing_connection_factory_is_a_retryable_error(platform: str, tmp_path: Path) -> None:
    def refused() -> Any:
        raise ConnectionRefusedError(111, "Connection refused")
    inventory = inventory_for(platform)
    driver = build(platform, "leaf-1", inventory, tmp_path, refused)
    with pytest.raises(DeviceUnreachableError, match="leaf-1: cannot open the SSH session: .*Connection refused"):
        driver.observe()

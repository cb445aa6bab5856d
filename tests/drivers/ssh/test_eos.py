"""Arista EOS specifics: the configure session, its diff, commit timer and confirm, abort on error."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fake_device import FakeConnection
from fake_device_eos import FakeEos
from fake_device_harness import DATA, driver_on, inventory_for
from pydantic import TypeAdapter

from intent.errors import DeviceUnreachableError, DriverError
from intent.model import DeviceObject, Realized

_OBJECTS: TypeAdapter[Any] = TypeAdapter(list[Realized])


def _switch(name: str = "leaf-1") -> FakeEos:
    return FakeEos(name, (DATA / "eos" / "contract" / f"{name}.cfg").read_text(encoding="utf-8"))


def _route(prefix: str = "10.244.7.0/24", vrf: str = "default") -> DeviceObject:
    return _OBJECTS.validate_python([{"kind": "static-route", "device": "leaf-1", "vrf": vrf, "prefix": prefix,
                                      "next_hop": "192.168.1.17", "tag": 64512}])[0]


def _commands(switch: FakeEos) -> list[str]:
    return [e.get("send_command") or e["kwargs"].get("config_mode_command", "configure terminal") for e in switch.log]


def test_apply_goes_through_a_session_and_keeps_its_diff(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    switch = _switch()
    driver = driver_on(switch, inventory_for("eos"), tmp_path)
    caplog.set_level(logging.INFO, logger="fabric_intent.drivers.ssh")
    result = driver.apply(driver.plan([_route()], driver.observe()))
    assert not result.failed
    session = next(c for c in _commands(switch) if c.startswith("configure session "))
    assert _commands(switch)[-3:] == ["show session-config diffs", "commit", "show running-config"]
    assert result.device_output == driver.last_output
    assert result.device_output.startswith("--- system:/running-config\n+++ session:/fi-")
    assert "+ip route 10.244.7.0/24 192.168.1.17 tag 64512 name fabric-intent" in result.device_output
    assert "+ip route 10.244.7.0/24" in caplog.text
    assert switch.leftovers() == [] and session.split()[-1] not in switch.sessions


def test_a_refused_line_aborts_the_session_and_names_the_line(tmp_path: Path) -> None:
    switch = FakeEos("leaf-1", "hostname leaf-1\n!\nrouter bgp 65000\n   router-id 10.0.0.11\n!\nend\n")
    before = switch.config_text()
    driver = driver_on(switch, inventory_for("eos"), tmp_path)
    peer = _OBJECTS.validate_python([{
        "kind": "bgp-peering", "device": "leaf-1", "vrf": "default", "neighbor": "192.168.1.12", "remote_as": 64602,
        "local_as": 65101, "description": "fabric-intent: node n2", "prefix_list": "FI-NODE-n2", "max_prefix": 20}])
    result = driver.apply(driver.plan([_route(), *peer], driver.observe()))
    assert result.error == ("leaf-1: the device refused `router bgp 65101`: "
                            "% BGP is already running with AS number 65000")
    assert result.applied == () and len(result.not_applied) == 2
    assert _commands(switch)[-1] == "abort"
    assert switch.config_text() == before and switch.leftovers() == []


def test_commit_timer_commits_then_confirms(tmp_path: Path) -> None:
    switch = _switch()
    driver = driver_on(switch, inventory_for("eos", drivers={"eos": {"commit_timer": "00:02:30"}}), tmp_path)
    assert not driver.apply(driver.plan([_route()], driver.observe())).failed
    commands = _commands(switch)
    timer = commands.index("commit timer 00:02:30")
    session = next(c for c in commands if c.startswith("configure session ")).split()[-1]
    assert commands[timer + 1:] == ["show running-config", f"configure session {session} commit",
                                    "show running-config"]
    assert "10.244.7.0/24" in switch.config_text() and switch.leftovers() == []


class _ConfirmFails(FakeEos):
    """The confirmation after `commit timer` is refused (as when the session has meanwhile timed out)."""

    def exec(self, conn: FakeConnection, command: str) -> str | None:
        if command.startswith("configure session ") and command.endswith(" commit"):
            return "% Cannot commit session: commit timer expired\n"
        return super().exec(conn, command)


def test_an_unconfirmed_commit_is_aborted_and_the_switch_restored(tmp_path: Path) -> None:
    switch = _ConfirmFails("leaf-1", (DATA / "eos" / "contract" / "leaf-1.cfg").read_text(encoding="utf-8"))
    before = switch.config_text()
    driver = driver_on(switch, inventory_for("eos", drivers={"eos": {"commit_timer": "00:05:00"}}), tmp_path)
    result = driver.apply(driver.plan([_route()], driver.observe()))
    assert result.error is not None and "commit timer expired" in result.error
    assert _commands(switch)[-1].endswith(" abort") and _commands(switch)[-1].startswith("configure session fi-")
    assert switch.config_text() == before and switch.leftovers() == []


def test_a_failed_commit_is_aborted(tmp_path: Path) -> None:
    switch = _switch()
    before = switch.config_text()
    result = (driver := driver_on(switch, inventory_for("eos"), tmp_path, fail_commit=True)).apply(
        driver.plan([_route()], driver.observe()))
    assert result.error is not None and result.error.startswith("leaf-1: `commit` failed: % Failed to commit")
    assert _commands(switch)[-1] == "abort" and switch.config_text() == before and switch.leftovers() == []


@pytest.mark.parametrize("timer", ["5m", "00:60:00", "1:00:00", 300])
def test_a_malformed_commit_timer_is_refused_when_the_driver_is_built(timer: object, tmp_path: Path) -> None:
    with pytest.raises(DriverError, match=r"leaf-1: option commit_timer must be hh:mm:ss"):
        driver_on(_switch(), inventory_for("eos", drivers={"eos": {"commit_timer": timer}}), tmp_path)


def test_a_hand_made_vrf_is_never_taken_over(tmp_path: Path) -> None:
    switch = _switch("leaf-2")
    driver = driver_on(switch, inventory_for("eos"), tmp_path)
    vrf = _OBJECTS.validate_python([{"kind": "vrf", "device": "leaf-2", "name": "MGMT"}])
    plan = driver.plan(vrf, driver.observe())
    assert plan.changes == () and "vrf MGMT" in plan.conflicts[0]


def test_each_plan_gets_its_own_session_name(tmp_path: Path) -> None:
    switch = _switch()
    driver = driver_on(switch, inventory_for("eos"), tmp_path)
    driver.apply(driver.plan([_route()], driver.observe())).raise_on_error()
    driver.apply(driver.plan([_route(), _route("10.244.8.0/24")], driver.observe())).raise_on_error()
    sessions = [c for c in _commands(switch) if c.startswith("configure session ")]
    assert len(sessions) == 2 and sessions[0] != sessions[1]


class _LostAfterTimedCommit(FakeEos):
    """The session drops right after `commit timer` (as when the change cut the management path)."""

    def exec(self, conn: FakeConnection, command: str) -> str | None:
        if any(e.get("send_command", "").startswith("commit timer") for e in self.log):
            raise OSError("Socket is closed")
        return super().exec(conn, command)


def test_losing_the_switch_after_a_timed_commit_says_the_switch_will_revert(tmp_path: Path) -> None:
    switch = _LostAfterTimedCommit("leaf-1", (DATA / "eos" / "contract" / "leaf-1.cfg").read_text(encoding="utf-8"))
    driver = driver_on(switch, inventory_for("eos", drivers={"eos": {"commit_timer": "00:05:00"}}), tmp_path)
    plan = driver.plan([_route()], driver.observe())
    with pytest.raises(DeviceUnreachableError, match=r"reverts session fi-\w+ by itself when its commit timer "
                                                     r"\(00:05:00\) runs out unconfirmed"):
        driver.apply(plan)
    assert switch.unconfirmed, "the change waits for its timer on the switch"

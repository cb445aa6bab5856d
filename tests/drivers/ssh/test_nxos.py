"""Cisco NX-OS specifics: checkpoint, apply, rollback on error; VRF contexts; the volatile header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fake_device_harness import DATA, driver_on, inventory_for
from fake_device_nxos import FakeNxos
from pydantic import TypeAdapter

from drivers.ssh.cli_common import revision_of
from intent.model import DeviceObject, Realized

_OBJECTS: TypeAdapter[Any] = TypeAdapter(list[Realized])


def _switch(name: str = "leaf-1") -> FakeNxos:
    return FakeNxos(name, (DATA / "nxos" / "contract" / f"{name}.cfg").read_text(encoding="utf-8"))


def _objects(*specs: dict[str, Any]) -> list[DeviceObject]:
    return list(_OBJECTS.validate_python([{"device": "leaf-1", **spec} for spec in specs]))


def _route(prefix: str, vrf: str) -> dict[str, Any]:
    return {"kind": "static-route", "vrf": vrf, "prefix": prefix, "next_hop": "192.168.1.17", "tag": 64512}


def _commands(switch: FakeNxos) -> list[str]:
    return [e.get("send_command", "<configure terminal>") for e in switch.log]


def test_apply_takes_a_checkpoint_and_deletes_it_after(tmp_path: Path) -> None:
    switch = _switch()
    driver = driver_on(switch, inventory_for("nxos"), tmp_path)
    assert not driver.apply(driver.plan(_objects(_route("10.244.7.0/24", "default")), driver.observe())).failed
    commands = _commands(switch)
    checkpoint = next(c for c in commands if c.startswith("checkpoint "))
    assert commands[commands.index(checkpoint):] == [checkpoint, "<configure terminal>", "show running-config",
                                                     f"no {checkpoint}"]
    assert switch.leftovers() == []


def test_a_refused_line_rolls_back_what_went_before_it(tmp_path: Path) -> None:
    switch = FakeNxos("leaf-1", "hostname leaf-1\nip route 0.0.0.0/0 192.168.1.254 name uplink tag 100\n")
    before = switch.config_text()
    driver = driver_on(switch, inventory_for("nxos"), tmp_path)
    wanted = _objects({"kind": "prefix-list", "name": "FI-NODE-n2",
                       "entries": [{"seq": 10, "action": "permit", "prefix": "10.244.2.0/24"}]},
                      {"kind": "bgp-peering", "vrf": "default", "neighbor": "192.168.1.12", "remote_as": 64602,
                       "local_as": 65101, "description": "fabric-intent: node n2", "prefix_list": "FI-NODE-n2",
                       "max_prefix": 20})
    result = driver.apply(driver.plan(wanted, driver.observe()))
    assert result.error == "leaf-1: the device refused `router bgp 65101`: % Invalid command at '^' marker."
    configured = next(e for e in switch.log if "send_config_set" in e)
    assert "leaf-1(config)#ip prefix-list FI-NODE-n2 seq 10" in configured["output"], "applied, then rolled back"
    checkpoint = switch.log[-1]["send_command"].removeprefix("no checkpoint ")
    assert _commands(switch)[-3:] == ["end", f"rollback running-config checkpoint {checkpoint}",
                                      f"no checkpoint {checkpoint}"]
    assert switch.config_text() == before and switch.leftovers() == []


def test_a_checkpoint_name_in_use_stops_the_apply_before_any_change(tmp_path: Path) -> None:
    switch = _switch()
    before = switch.config_text()
    driver = driver_on(switch, inventory_for("nxos"), tmp_path)
    plan = driver.plan(_objects(_route("10.244.7.0/24", "default")), driver.observe())
    first = driver_on(switch, inventory_for("nxos"), tmp_path)
    first.plan_revision = plan.revision  # a crashed run of the very same plan left its checkpoint behind
    first.load_candidate(plan.changes)
    result = driver.apply(plan)
    assert result.error is not None and "is already in use" in result.error
    assert switch.config_text() == before and len(switch.leftovers()) == 1


def test_a_default_vrf_route_after_a_vrf_route_lands_in_the_default_vrf(tmp_path: Path) -> None:
    switch = _switch("leaf-2")
    driver = driver_on(switch, inventory_for("nxos"), tmp_path)
    wanted = [{**_route("10.244.7.0/24", "MGMT"), "device": "leaf-2"},
              {**_route("10.244.8.0/24", "default"), "device": "leaf-2"}]
    driver.apply(driver.plan(_OBJECTS.validate_python(wanted), driver.observe())).raise_on_error()
    text = switch.config_text()
    assert "\nip route 10.244.8.0/24 192.168.1.17 name fabric-intent tag 64512\n" in text
    assert "\n  ip route 10.244.7.0/24 192.168.1.17 name fabric-intent tag 64512\n" in text


def test_a_vrf_context_holding_only_owned_routes_is_not_hand_made(tmp_path: Path) -> None:
    state = driver_on(_switch(), inventory_for("nxos"), tmp_path).observe()
    assert "vrf:leaf-1:BLUE" not in state.foreign
    assert "vrf:leaf-1:management" in state.foreign


def test_a_vrf_context_with_hand_made_lines_is_never_taken_over(tmp_path: Path) -> None:
    switch = FakeNxos("leaf-1", "hostname leaf-1\nvrf context BLUE\n"
                                "  ip route 10.244.2.0/24 192.168.1.12 name fabric-intent tag 64512\n"
                                "  ip route 10.99.0.0/16 192.168.1.99\n")
    driver = driver_on(switch, inventory_for("nxos"), tmp_path)
    plan = driver.plan(_objects({"kind": "vrf", "name": "BLUE"}), driver.observe())
    assert [c.key for c in plan.changes] == ["static-route:leaf-1:10.244.2.0/24@192.168.1.12"]  # withdrawn only
    assert plan.changes[0].action == "delete" and "vrf BLUE" in plan.conflicts[0]


def test_the_revision_ignores_the_clock_in_the_header_but_not_a_change(tmp_path: Path) -> None:
    switch = _switch()
    first, second = switch.show_running(), switch.show_running()
    assert first != second and revision_of(first) == revision_of(second)
    switch.running.children[0].text = "hostname leaf-1b"
    assert revision_of(switch.show_running()) != revision_of(first)

"""Rendering to vtysh lines, against golden files.

render-cases.txt holds the lines for each change of render-cases.json; plan-leaf-1.txt the whole
plan for the contract's leaf-1 intent against running-config.txt. Set FABRIC_INTENT_WRITE_GOLDEN=1
to rewrite the golden files after a deliberate change, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from drivers.ssh.frr import FrrDriver
from drivers.ssh.frr_render import PASSWORD_PLACEHOLDER, redistribute_map, redistribution
from intent.errors import DriverError
from intent.inventory import parse_inventory
from intent.model import Realized
from intent.plan import Change, FabricState

DATA = Path(__file__).resolve().parents[1] / "data" / "ssh" / "frr"
CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
_OBJECT: TypeAdapter[Any] = TypeAdapter(Realized)


def _driver(asn: int | None = 65101) -> FrrDriver:
    document = yaml.safe_load((DATA / "fabric.yaml").read_text())
    document["switches"][0]["asn"] = asn
    inventory = parse_inventory(document, "fabric.yaml")
    return FrrDriver(inventory.switches[0], inventory, DATA)


def _golden(name: str, actual: str) -> None:
    path = DATA / name
    if os.environ.get("FABRIC_INTENT_WRITE_GOLDEN") == "1":
        path.write_text(actual)
    assert actual == path.read_text(), f"rendering differs from {name}"


def _change(case: dict[str, Any]) -> Change:
    before = _OBJECT.validate_python(case["before"]) if "before" in case else None
    after = _OBJECT.validate_python(case["after"]) if "after" in case else None
    some = after or before
    return Change(action=case["action"], key=some.key, kind=some.kind, device=some.device, summary=case["name"],
                  before=before, after=after)


def test_each_change_renders_as_the_golden_lines() -> None:
    driver = _driver()
    out = []
    for case in json.loads((DATA / "render-cases.json").read_text())["cases"]:
        out += [f"# {case['name']}", *driver.render(_change(case)), ""]
    _golden("render-cases.txt", "\n".join(out))


def test_the_contract_plan_renders_as_the_golden_lines() -> None:
    driver = _driver()
    observed_text = (DATA / "running-config.txt").read_text()
    from drivers.ssh.frr_parse import parse_running_config
    config = parse_running_config(observed_text, "leaf-1", 64512)
    observed = FabricState(device="leaf-1", revision=config.revision, objects=tuple(config.objects),
                           foreign=frozenset(config.foreign))
    desired = TypeAdapter(list[Realized]).validate_python(
        json.loads((CONTRACT / "desired.json").read_text())["devices"]["leaf-1"])
    plan = driver.plan(desired, observed)
    out = []
    for change in plan.changes:
        out += [f"{change.symbol} {change.key}", *(f"    {line}" for line in change.native)]
    _golden("plan-leaf-1.txt", "\n".join(out) + "\n")


def test_a_bgp_password_is_a_placeholder_in_rendered_lines() -> None:
    case = next(c for c in json.loads((DATA / "render-cases.json").read_text())["cases"]
                if c["action"] == "create" and c["after"].get("authenticated"))
    lines = _driver().render(_change(case))
    assert f" neighbor 192.168.1.11 password {PASSWORD_PLACEHOLDER}" in lines


def test_a_neighbour_without_any_asn_is_refused_with_the_reason() -> None:
    case = next(c for c in json.loads((DATA / "render-cases.json").read_text())["cases"]
                if c["action"] == "create" and c["after"]["kind"] == "bgp-peering")
    change = _change({**case, "after": {**case["after"], "local_as": None}})
    with pytest.raises(DriverError, match="needs the switch's asn"):
        _driver(asn=None).render(change)


def test_redistribution_goes_through_the_tag_route_map() -> None:
    assert redistribute_map(64512, True) == ["route-map FI-STATIC-ROUTES permit 10", " match tag 64512", "exit"]
    assert redistribution(65101, "BLUE", "ipv6", True) == [
        "router bgp 65101 vrf BLUE", " address-family ipv6 unicast", "  redistribute static route-map FI-STATIC-ROUTES",
        " exit-address-family", "exit"]
    assert redistribution(65101, "default", "ipv4", False)[2] == "  no redistribute static route-map FI-STATIC-ROUTES"

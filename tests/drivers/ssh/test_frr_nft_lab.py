"""The frr driver enforcing NetworkPolicy on a real FRR switch: routes through vtysh and the policy as
the nftables table `inet fabric-intent`, both over one SSH session to a Linux shell login that may run
`sudo vtysh` and `sudo nft` (nft inside the switch's namespace). Needs root, FRR and nft."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness_frr import LAB, lab_missing
from pydantic import TypeAdapter

from drivers.ssh import frr_nft
from drivers.ssh.frr import FrrDriver
from intent.errors import StalePlanError
from intent.inventory import parse_inventory
from intent.model import AddressGroup, DeviceObject, PolicyRule, Realized, StaticRoute

DATA = Path(__file__).resolve().parents[1] / "data" / "ssh" / "frr"
HAND_MADE = "table inet ops-filter {\n\tchain input {\n\t\ttcp dport 9 drop comment \"hand-made\"\n\t}\n}\n"


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    reason = lab_missing() or (None if shutil.which("nft") else "needs nft")
    if reason:
        pytest.skip(reason)
    if str(LAB) not in sys.path:
        sys.path.insert(0, str(LAB))
    from fabric_lab import lone_switch

    with lone_switch("leaf-1", login="bash", nft=True, workdir=tmp_path_factory.mktemp("nft-switch")) as access:
        yield access


def _driver(access: Any, tmp_path: Path) -> FrrDriver:
    shutil.copy(access.known_hosts, tmp_path / "known_hosts")
    entry = access.inventory_switch(options={"known_hosts": "known_hosts", "login": "shell"})
    document = {"fabric": "lab", "cluster": "lab", "vrf": "default", "switches": [entry],
                "policy": {"enforce_on": ["leaf-1"]}}
    inventory = parse_inventory(document, "fabric.yaml")
    return FrrDriver(inventory.switches[0], inventory, tmp_path)


def _policy() -> list[DeviceObject]:
    return list(TypeAdapter(list[Realized]).validate_json((DATA / "nft-objects.json").read_text()))


def _route(prefix: str) -> StaticRoute:
    return StaticRoute(device="leaf-1", vrf="default", prefix=ipaddress.ip_network(prefix),
                       next_hop=ipaddress.ip_address("192.168.1.20"), tag=64512)


def _nft(access: Any, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", access.netns, "nft", *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


def _table(access: Any) -> frr_nft.NftTable:
    done = _nft(access, *frr_nft.LIST_TABLE.split())
    return frr_nft.parse_table(done.stdout if done.returncode == 0 else "", "leaf-1")


def _converge(driver: FrrDriver, desired: list[DeviceObject]) -> Any:
    result = driver.apply(driver.plan(desired, driver.observe()))
    assert result.error is None, result.error
    return result


def test_routes_and_policy_land_in_one_apply(switch: Any, tmp_path: Path) -> None:
    driver = _driver(switch, tmp_path)
    desired = [_route("10.244.7.0/24"), *_policy()]
    plan = driver.plan(desired, driver.observe())
    assert {c.kind for c in plan.changes} == {"static-route", "address-group", "policy-rule"}
    result = _converge(driver, desired)
    assert len(result.applied) == len(desired)
    assert "ip route 10.244.7.0/24 192.168.1.20 tag 64512" in switch.vtysh("show running-config")
    held = {o.key: o.config() for o in _table(switch).objects}
    assert held == {o.key: (frr_nft.held_form(o) if isinstance(o, AddressGroup) else o).config() for o in _policy()}
    state = driver.observe()
    assert result.revision == state.revision
    assert driver.plan(desired, state).changes == ()


def test_hand_made_tables_are_left_alone_and_a_changed_table_makes_a_plan_stale(switch: Any, tmp_path: Path) -> None:
    driver = _driver(switch, tmp_path)
    desired = [_route("10.244.7.0/24"), *_policy()]
    _converge(driver, desired)
    assert _nft(switch, "-f", "-", stdin=HAND_MADE).returncode == 0
    hand_made = _nft(switch, "list", "table", "inet", "ops-filter").stdout
    state = driver.observe()
    assert driver.plan(desired, state).changes == ()  # another table is not fabric-intent's business
    more = [o if o.key != "address-group:leaf-1:FI-ISOLATED-IN" else AddressGroup(
        device="leaf-1", name="FI-ISOLATED-IN", description="iso",
        addresses=(ipaddress.ip_address("10.244.1.2"), ipaddress.ip_address("10.244.1.30"))) for o in desired]
    plan = driver.plan(more, state)
    assert [line for c in plan.changes for line in c.native] == [
        "add element inet fabric-intent FI-ISOLATED-IN-v4 { 10.244.1.30/32 }"]
    _nft(switch, "add", "element", "inet", "fabric-intent", "FI-G-1-v4", "{ 10.244.1.77 }")  # by hand, meanwhile
    with pytest.raises(StalePlanError, match="^leaf-1: the device changed since the plan was made"):
        driver.apply(plan)
    _converge(driver, more)  # takes the hand-made element out again: the table is fabric-intent's
    assert "10.244.1.77" not in _nft(switch, "list", "set", "inet", "fabric-intent", "FI-G-1-v4").stdout
    assert "10.244.1.30" in _nft(switch, "list", "set", "inet", "fabric-intent", "FI-ISOLATED-IN-v4").stdout
    assert _nft(switch, "list", "table", "inet", "ops-filter").stdout == hand_made


def test_a_refused_rule_set_undoes_the_vtysh_batch_too(switch: Any, tmp_path: Path) -> None:
    driver = _driver(switch, tmp_path)
    _converge(driver, [_route("10.244.7.0/24"), *_policy()])
    table, running = _table(switch), switch.vtysh("show running-config")
    overlapping = AddressGroup(device="leaf-1", name="FI-G-8", description="overlapping prefixes",
                               prefixes=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("10.1.0.0/16")))
    rule = PolicyRule(device="leaf-1", name="FI-R-8", stage="egress", action="drop", src="FI-G-8")
    desired = [_route("10.244.7.0/24"), _route("10.244.8.0/24"), *_policy(), overlapping, rule]
    plan = driver.plan(desired, driver.observe())
    result = driver.apply(plan)
    assert result.error is not None and result.error.startswith("leaf-1: nft refused the policy rule set: ")
    assert "the table is as before; the vtysh batch was undone (1 owned object(s) restored)" in result.error
    assert result.applied == () and set(result.not_applied) == {c.key for c in plan.changes}
    assert "10.244.8.0/24" not in switch.vtysh("show running-config")
    assert switch.vtysh("show running-config").count(" tag 64512") == running.count(" tag 64512")
    assert _table(switch).revision == table.revision
    assert result.revision == driver.observe().revision


def test_removing_the_policy_removes_the_table(switch: Any, tmp_path: Path) -> None:
    driver = _driver(switch, tmp_path)
    _converge(driver, [_route("10.244.7.0/24"), *_policy()])
    _converge(driver, [_route("10.244.7.0/24")])
    assert not _table(switch).present
    assert "ip route 10.244.7.0/24 192.168.1.20 tag 64512" in switch.vtysh("show running-config")

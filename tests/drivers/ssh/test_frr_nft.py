"""frr_nft: reading fabric-intent's nftables table back, the native lines of policy changes, and the
`nft -f` input the frr driver sends, checked against the real `nft` in a scratch network namespace
(root and nft needed for those; skipped otherwise)."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from drivers.ssh import frr_nft
from drivers.ssh.frr import FrrDriver
from intent.errors import DriverError
from intent.inventory import parse_inventory
from intent.model import AddressGroup, DeviceObject, PolicyRule, Realized
from intent.plan import Change, FabricState, diff

DATA = Path(__file__).resolve().parents[1] / "data" / "ssh" / "frr"


def _objects() -> list[DeviceObject]:
    return list(TypeAdapter(list[Realized]).validate_json((DATA / "nft-objects.json").read_text()))


def _held(objects: Sequence[DeviceObject]) -> dict[str, Any]:
    return {o.key: (frr_nft.held_form(o) if isinstance(o, AddressGroup) else o).config() for o in objects}


def _configs(objects: Sequence[DeviceObject]) -> dict[str, Any]:
    return {o.key: o.config() for o in objects}


def _group(name: str, *members: str, description: str = "test group") -> AddressGroup:
    return AddressGroup(device="leaf-1", name=name, description=description,
                        addresses=tuple(ipaddress.ip_address(m) for m in members if "/" not in m),
                        prefixes=tuple(ipaddress.ip_network(m) for m in members if "/" in m))


# -- reading -------------------------------------------------------------------------------------

def test_only_fabric_intents_table_is_read() -> None:
    """The recorded listing holds the table, a hand-made `inet ops-filter` with an FI- named set and rule,
    and an `ip fabric-intent` table: only `inet fabric-intent` is read."""
    table = frr_nft.parse_table((DATA / "nft-ruleset.json").read_text(), "leaf-1")
    assert table.present
    assert _configs(table.objects) == _held(_objects())
    assert "policy-rule:leaf-1:FI-R-9" not in _configs(table.objects)
    assert "policy-rule:leaf-1:FI-R-7" not in _configs(table.objects)


def test_revision_follows_content_not_kernel_handles() -> None:
    document = json.loads((DATA / "nft-ruleset.json").read_text())
    revision = frr_nft.parse_table(json.dumps(document), "leaf-1").revision
    for item in document["nftables"]:
        body = next(iter(item.values()))
        if isinstance(body, dict) and "handle" in body:
            body["handle"] += 100
    assert frr_nft.parse_table(json.dumps(document), "leaf-1").revision == revision
    sets = [i["set"] for i in document["nftables"] if "set" in i and i["set"]["name"] == "FI-ISOLATED-IN-v4"]
    sets[0]["elem"].append("10.244.9.9")
    assert frr_nft.parse_table(json.dumps(document), "leaf-1").revision != revision


def test_no_table_is_an_empty_owned_state() -> None:
    table = frr_nft.parse_table("", "leaf-1")
    assert (table.objects, table.present) == ((), False)
    assert frr_nft.is_missing_table("Error: No such file or directory\nlist table inet fabric-intent")


def test_an_answer_that_is_not_nft_json_is_a_driver_error() -> None:
    with pytest.raises(DriverError, match=r"^leaf-1: the answer to nft -j list table inet fabric-intent is not"):
        frr_nft.parse_table("sudo: a terminal is required to read the password", "leaf-1")


def test_held_form_is_what_nft_lists() -> None:
    group = _group("FI-G-9", "192.0.2.7/32", "10.0.0.0/24", "10.0.0.9", "10.0.0.3",
                   description='a "quoted" ' + "x" * 200)
    held = frr_nft.held_form(group)
    assert [str(a) for a in held.addresses] == ["10.0.0.3", "10.0.0.9", "192.0.2.7"]
    assert [str(p) for p in held.prefixes] == ["10.0.0.0/24"]
    assert held.description.startswith("a 'quoted' x") and len(held.description) == 120


# -- native lines and the script -----------------------------------------------------------------

def _change(before: DeviceObject | None, after: DeviceObject | None) -> Change:
    (change,) = diff([after] if after else [], [before] if before else [])
    return change


def test_native_lines_of_group_changes() -> None:
    old, new = _group("FI-G-9", "10.0.0.1", "10.0.0.2"), _group("FI-G-9", "10.0.0.2", "10.0.0.3", "fd00::3")
    assert frr_nft.change_lines(_change(None, old)) == [
        'add set inet fabric-intent FI-G-9-v4 { type ipv4_addr; flags interval; comment "test group"; '
        'elements = { 10.0.0.1/32, 10.0.0.2/32 }; }',
        'add set inet fabric-intent FI-G-9-v6 { type ipv6_addr; flags interval; comment "test group"; }']
    assert frr_nft.change_lines(_change(old, new)) == [
        "delete element inet fabric-intent FI-G-9-v4 { 10.0.0.1/32 }",
        "add element inet fabric-intent FI-G-9-v4 { 10.0.0.3/32 }",
        "add element inet fabric-intent FI-G-9-v6 { fd00::3/128 }"]
    assert frr_nft.change_lines(_change(old, None)) == ["delete set inet fabric-intent FI-G-9-v4",
                                                        "delete set inet fabric-intent FI-G-9-v6"]


def test_native_lines_of_rule_changes() -> None:
    accept = PolicyRule(device="leaf-1", name="FI-R-1", stage="ingress", action="accept", src="FI-G-1",
                        protocol="TCP", ports=(80, 80))
    drop = PolicyRule(device="leaf-1", name="FI-R-2", stage="ingress", action="drop", dst="FI-ISOLATED-IN")
    assert frr_nft.change_lines(_change(None, accept)) == [
        'insert rule inet fabric-intent ingress ip saddr @FI-G-1-v4 tcp dport 80 return comment "FI-R-1"',
        'insert rule inet fabric-intent ingress ip6 saddr @FI-G-1-v6 tcp dport 80 return comment "FI-R-1"']
    assert frr_nft.change_lines(_change(None, drop))[0] == (
        'add rule inet fabric-intent ingress ip daddr @FI-ISOLATED-IN-v4 drop comment "FI-R-2"')
    assert frr_nft.change_lines(_change(drop, None))[0] == (
        '# remove from chain ingress: ip daddr @FI-ISOLATED-IN-v4 drop comment "FI-R-2"')


def test_member_changes_are_sent_as_element_lines_and_the_rest_as_the_whole_table() -> None:
    objects = _objects()
    old = next(o for o in objects if o.key == "address-group:leaf-1:FI-ISOLATED-IN")
    new = _group("FI-ISOLATED-IN", "10.244.1.2", "10.244.1.9", description="iso")
    members = [_change(old, new)]
    assert frr_nft.members_only(members)
    assert frr_nft.script(objects, members) == "add element inet fabric-intent FI-ISOLATED-IN-v4 { 10.244.1.9/32 }\n"
    rule = PolicyRule(device="leaf-1", name="FI-R-6", stage="egress", action="drop", src="FI-G-1")
    whole = frr_nft.script(objects, [*members, _change(None, rule)])
    assert whole.startswith("table inet fabric-intent\ndelete table inet fabric-intent\ntable inet fabric-intent {")
    assert 'ip saddr @FI-G-1-v4 drop comment "FI-R-6"' in whole and "10.244.1.9/32" in whole
    gone = list(diff([], objects))
    assert frr_nft.script(objects, gone) == "table inet fabric-intent\ndelete table inet fabric-intent\n"


# -- the driver's refusal --------------------------------------------------------------------------

def _driver(options: dict[str, Any]) -> FrrDriver:
    document = {"fabric": "unit", "cluster": "unit", "vrf": "default", "policy": {"enforce_on": ["leaf-1"]},
                "switches": [{"name": "leaf-1", "role": "leaf", "driver": "frr", "asn": 65101,
                              "management": {"host": "127.0.0.1", "port": 2222},
                              "credentials": {"username": "netops", "password": {"env": "UNUSED_PASSWORD"}},
                              "options": options}]}
    inventory = parse_inventory(document, "fabric.yaml")
    return FrrDriver(inventory.switches[0], inventory, Path("."), connect=_no_connection)


def _no_connection() -> Any:
    raise AssertionError("planning must not connect")


def test_policy_on_a_switch_without_a_shell_login_is_refused_precisely() -> None:
    driver = _driver({"login": "vtysh"})
    with pytest.raises(DriverError, match=r"^leaf-1: NetworkPolicy is enforced here as nftables rules.*"
                                          r"frr login is 'vtysh'.*set login 'shell'"):
        driver.plan(_objects(), FabricState(device="leaf-1", revision="r0"))
    with pytest.raises(DriverError, match="batch 'lines'"):
        _driver({"login": "shell", "batch": "lines"}).plan(_objects(), FabricState(device="leaf-1", revision="r0"))


def test_a_shell_login_plans_policy_in_the_form_nft_holds_it() -> None:
    plan = _driver({"login": "shell"}).plan(_objects(), FabricState(device="leaf-1", revision="r0"))
    groups = {c.key: c.after for c in plan.changes if c.kind == "address-group"}
    assert groups["address-group:leaf-1:FI-G-1"].description == "pods 'x' app=web"  # type: ignore[union-attr]
    assert [str(a) for a in groups["address-group:leaf-1:FI-G-2"].addresses] == ["192.0.2.128"]  # type: ignore[union-attr]
    assert all(c.native for c in plan.changes)


# -- with the real nft ---------------------------------------------------------------------------

@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("nft") is None:
        (pytest.fail if os.environ.get("FABRIC_INTENT_LAB") == "require" else pytest.skip)("needs root and nft")
    name = f"fi-nft-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _nft(netns: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, "nft", *args], input=stdin, capture_output=True, text=True,
                          timeout=30)


def _read(netns: str) -> frr_nft.NftTable:
    done = _nft(netns, *frr_nft.LIST_TABLE.split())
    if done.returncode != 0:
        assert frr_nft.is_missing_table(done.stderr), done.stderr
        return frr_nft.parse_table("", "leaf-1")
    return frr_nft.parse_table(done.stdout, "leaf-1")


def _load(netns: str, script: str) -> None:
    done = _nft(netns, "-f", "-", stdin=script)
    assert done.returncode == 0, done.stderr


def test_the_table_loads_and_reads_back_as_planned(netns: str) -> None:
    objects = _objects()
    _load(netns, frr_nft.script([], list(diff(objects, []))))
    table = _read(netns)
    assert _configs(table.objects) == _held(objects)
    _load(netns, frr_nft.script(table.objects, list(diff(objects, []))))  # declared again: same content
    assert _read(netns).revision == table.revision


def test_member_lines_change_the_live_table(netns: str) -> None:
    objects = _objects()
    _load(netns, frr_nft.script([], list(diff(objects, []))))
    old = next(o for o in objects if o.key == "address-group:leaf-1:FI-G-1")
    new = _group("FI-G-1", "10.244.1.3", "10.244.1.20", "fd00::1", description='pods "x" app=web')
    _load(netns, frr_nft.script(_read(netns).objects, list(diff([new], [old]))))
    held = {o.key: o for o in _read(netns).objects}
    assert [str(a) for a in held[old.key].addresses] == ["10.244.1.3", "10.244.1.20", "fd00::1"]  # type: ignore[attr-defined]


def test_removing_everything_deletes_only_fabric_intents_table(netns: str) -> None:
    objects = _objects()
    hand_made = "table inet ops-filter {\n\tchain input {\n\t\ttcp dport 9 drop\n\t}\n}\n"
    _load(netns, hand_made)
    _load(netns, frr_nft.script([], list(diff(objects, []))))
    before = _nft(netns, "list", "table", "inet", "ops-filter").stdout
    _load(netns, frr_nft.script(_read(netns).objects, list(diff([], objects))))
    assert not _read(netns).present
    assert _nft(netns, "list", "table", "inet", "ops-filter").stdout == before


def test_a_refused_file_leaves_the_table_as_it_was(netns: str) -> None:
    """nft -f is one transaction: what the driver relies on when it compensates only the vtysh side."""
    objects = _objects()
    _load(netns, frr_nft.script([], list(diff(objects, []))))
    before = _read(netns)
    overlapping = _group("FI-G-8", "10.0.0.0/8", "10.1.0.0/16")
    rule = PolicyRule(device="leaf-1", name="FI-R-8", stage="egress", action="drop", src="FI-G-8")
    done = _nft(netns, "-f", "-", stdin=frr_nft.script(before.objects, list(diff([overlapping, rule], []))))
    assert done.returncode != 0 and "interval" in done.stderr.lower()
    assert _read(netns).revision == before.revision

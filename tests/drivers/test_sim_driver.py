"""What is particular to the sim driver: its seed file, its file format, its native lines, its lock."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from drivers.sim import FORMAT, SimDriver, revision_of
from intent.errors import DriverError, StalePlanError
from intent.inventory import FabricInventory, parse_inventory
from intent.model import Realized

DATA = Path(__file__).resolve().parent / "data"
ROUTE: dict[str, Any] = {"kind": "static-route", "device": "leaf-2", "vrf": "default", "prefix": "10.244.2.0/24",
                         "next_hop": "192.168.2.11", "tag": 64512}


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[FabricInventory, Path]:
    root = tmp_path / "seeded"
    shutil.copytree(DATA / "sim-seeded", root)
    return parse_inventory(yaml.safe_load((root / "fabric.yaml").read_text()), "fabric.yaml"), root


def _driver(seeded: tuple[FabricInventory, Path], device: str, **seams: Any) -> SimDriver:
    inventory, root = seeded
    return SimDriver(inventory.switch(device), inventory, root, **seams)


def _objects(*configs: dict[str, Any]) -> list[Any]:
    return list(TypeAdapter(list[Realized]).validate_python(list(configs)))


def test_the_seed_is_read_until_the_first_commit(seeded: tuple[FabricInventory, Path]) -> None:
    _, root = seeded
    seed_bytes = (root / "seed.json").read_bytes()
    leaf1 = _driver(seeded, "leaf-1")
    state = leaf1.observe()
    assert [o.key for o in state.objects] == ["static-route:leaf-1:10.244.1.0/24@192.168.1.11"]
    assert not (root / "state").exists()

    leaf2 = _driver(seeded, "leaf-2")
    assert leaf2.observe().objects == ()
    leaf2.apply(leaf2.plan(_objects(ROUTE), leaf2.observe())).raise_on_error()

    written = json.loads((root / "state" / "sim-fabric.json").read_text())
    assert written["format"] == FORMAT
    assert written["devices"]["leaf-1"] == json.loads(seed_bytes)["devices"]["leaf-1"], "the seed is carried over"
    assert written["devices"]["leaf-2"] == [{**ROUTE, "owner": "fabric-intent"}]
    assert (root / "seed.json").read_bytes() == seed_bytes, "the seed file is never written"
    assert leaf1.observe() == state, "leaf-1 now reads the state file, which holds the same"


def test_a_device_absent_everywhere_is_empty(seeded: tuple[FabricInventory, Path]) -> None:
    state = _driver(seeded, "leaf-3").observe()  # its own state file, which does not exist (and no seed)
    assert state.objects == ()
    assert state.revision == revision_of([])


def test_per_switch_state_file(seeded: tuple[FabricInventory, Path]) -> None:
    _, root = seeded
    leaf3 = _driver(seeded, "leaf-3")
    route = {**ROUTE, "device": "leaf-3"}
    leaf3.apply(leaf3.plan(_objects(route), leaf3.observe())).raise_on_error()
    own_file = json.loads((root / "other" / "leaf-3.json").read_text())  # seeded from the shared seed file
    assert own_file["devices"]["leaf-3"] == [{**route, "owner": "fabric-intent"}]
    assert not (root / "state").exists()


def test_revision_is_the_hash_of_the_device_entries(seeded: tuple[FabricInventory, Path]) -> None:
    _, root = seeded
    entries = json.loads((root / "seed.json").read_text())["devices"]["leaf-1"]
    assert _driver(seeded, "leaf-1").observe().revision == revision_of(entries)
    assert revision_of(entries) != revision_of(list(reversed(entries))), "order is part of the configuration"


def test_a_change_between_staging_and_commit_is_refused(seeded: tuple[FabricInventory, Path]) -> None:
    _, root = seeded
    leaf2 = _driver(seeded, "leaf-2")
    plan = leaf2.plan(_objects(ROUTE), leaf2.observe())
    leaf2.load_candidate(plan.changes)
    other = _driver(seeded, "leaf-2")  # someone else commits to leaf-2 in the meantime
    other.apply(other.plan(_objects({**ROUTE, "prefix": "10.244.22.0/24"}), other.observe())).raise_on_error()
    after_other = (root / "state" / "sim-fabric.json").read_bytes()
    with pytest.raises(StalePlanError, match="leaf-2: the device changed while the change was staged"):
        leaf2.commit()
    assert (root / "state" / "sim-fabric.json").read_bytes() == after_other


def test_commit_without_staging_is_an_error(seeded: tuple[FabricInventory, Path]) -> None:
    with pytest.raises(DriverError, match="nothing staged to commit"):
        _driver(seeded, "leaf-2").commit()


def test_concurrent_commits_on_different_devices_both_land(seeded: tuple[FabricInventory, Path]) -> None:
    # The devices share one file; commits serialise on a lock and re-read it, so neither is lost.
    _, root = seeded
    drivers = [_driver(seeded, "leaf-1"), _driver(seeded, "leaf-2")]
    routes = [{**ROUTE, "device": "leaf-1", "prefix": "10.244.11.0/24"}, ROUTE]
    for driver, route in zip(drivers, routes, strict=True):
        have = driver.observe().objects
        driver.load_candidate(driver.plan([*have, *_objects(route)], driver.observe()).changes)
    barrier, errors = threading.Barrier(2), []

    def commit(driver: SimDriver) -> None:
        barrier.wait()
        try:
            driver.commit()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(d,)) for d in drivers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    devices = json.loads((root / "state" / "sim-fabric.json").read_text())["devices"]
    assert {"10.244.11.0/24"} <= {e["prefix"] for e in devices["leaf-1"]}
    assert devices["leaf-2"] == [{**ROUTE, "owner": "fabric-intent"}]


def test_native_lines(tmp_path: Path) -> None:
    root = tmp_path / "sim"
    shutil.copytree(DATA / "contract" / "sim", root)
    inventory = parse_inventory(yaml.safe_load((root / "fabric.yaml").read_text()), "fabric.yaml")
    driver = SimDriver(inventory.switch("leaf-1"), inventory, root)
    desired = json.loads((DATA / "contract" / "desired.json").read_text())["devices"]["leaf-1"]
    plan = driver.plan(_objects(*desired), driver.observe())
    native = {c.key: list(c.native) for c in plan.changes}
    assert native["vrf:leaf-1:BLUE"] == ["set vrf BLUE"]
    assert native["prefix-list:leaf-1:FI-NODE-n1"] == [
        "delete prefix-list FI-NODE-n1 seq 30",
        "set prefix-list FI-NODE-n1 seq 10 permit 10.244.1.0/24",
        "set prefix-list FI-NODE-n1 seq 20 permit 198.51.100.10/32"]
    assert native["bgp-peering:leaf-1:192.168.1.11"] == [
        "set vrf BLUE bgp neighbor 192.168.1.11 remote-as 64601",
        'set vrf BLUE bgp neighbor 192.168.1.11 description "fabric-intent: node n1"',
        "set vrf BLUE bgp neighbor 192.168.1.11 prefix-list FI-NODE-n1 in",
        "set vrf BLUE bgp neighbor 192.168.1.11 maximum-prefix 20"]
    assert native["static-route:leaf-1:2001:db8:244:4::/64@2001:db8:1::14"] == [
        "set vrf BLUE static-route 2001:db8:244:4::/64 next-hop 2001:db8:1::14 tag 64512"]
    assert native["static-route:leaf-1:10.244.9.0/24@192.168.1.19"] == [
        "delete vrf BLUE static-route 10.244.9.0/24 next-hop 192.168.1.19"]
    assert native["bgp-peering:leaf-1:192.168.1.19"] == ["delete vrf BLUE bgp neighbor 192.168.1.19"]


@pytest.mark.parametrize(("entries", "message"), [
    ({"not": "a list"}, "devices.leaf-2 in sim-fabric.json must be a list"),
    ([{**ROUTE, "prefix": "10.244.2.0/33", "owner": "fabric-intent"}], "owned entry #0 is malformed"),
    ([{**ROUTE, "kind": "acl", "owner": "fabric-intent"}], "owned entry #0 is malformed"),
    ([{**ROUTE, "device": "leaf-1", "owner": "fabric-intent"}], "owned entry #0 names device 'leaf-1'"),
], ids=["not-a-list", "bad-prefix", "unknown-kind", "other-device"])
def test_malformed_owned_state_is_refused(seeded: tuple[FabricInventory, Path], entries: Any, message: str) -> None:
    _, root = seeded
    (root / "state").mkdir()
    (root / "state" / "sim-fabric.json").write_text(json.dumps({"format": FORMAT, "devices": {"leaf-2": entries}}))
    with pytest.raises(DriverError, match=message):
        _driver(seeded, "leaf-2").observe()

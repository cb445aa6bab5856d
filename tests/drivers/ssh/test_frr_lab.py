"""The frr driver against real FRR switches in network namespaces, over SSH on 127.0.0.1.

Ownership (hand-made configuration survives apply and node deletion), compensation after a
refused line, both login modes, both batch modes, routes reaching the kernel, and SSH refusals
(host key, password, closed port). Needs root and FRR (skipped otherwise; CI runs them).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from harness_frr import DATA, hand_made_blocks, lab, running
from pydantic import TypeAdapter

from drivers.ssh.frr import FrrDriver
from intent.errors import DeviceUnreachableError, DriverError
from intent.inventory import FabricInventory, parse_inventory
from intent.model import BgpPeering, DeviceObject, PrefixList, PrefixListEntry, Realized, StaticRoute

CONTRACT = DATA.parent
SECRET = "bgp-secret-for-the-lab"


def _setup(tmp_path: Path, account: str = "vtysh", fixture: str = "leaf-1.conf",
           **options: Any) -> tuple[Any, FrrDriver]:
    """leaf-1 reset to a contract fixture; `account` is the lab login user's shell (vtysh or bash)."""
    access = lab().switch("leaf-1", login=account)
    lab().reset("leaf-1", (DATA / fixture).read_text(), login=account)
    shutil.copy(access.known_hosts, tmp_path / "known_hosts")
    entry = access.inventory_switch(options={"known_hosts": "known_hosts", **options})
    inventory = _inventory(entry)
    return access, FrrDriver(inventory.switches[0], inventory, tmp_path)


def _inventory(entry: dict[str, Any], **extra: Any) -> FabricInventory:
    document = {"fabric": "lab", "cluster": "lab", "vrf": "BLUE", "switches": [entry], **extra}
    return parse_inventory(document, "fabric.yaml")


def _desired() -> list[DeviceObject]:
    objects = json.loads((CONTRACT / "desired.json").read_text())["devices"]["leaf-1"]
    return list(TypeAdapter(list[Realized]).validate_python(objects))


def _route(prefix: str, hop: str, vrf: str = "default") -> StaticRoute:
    return StaticRoute(device="leaf-1", vrf=vrf, prefix=prefix, next_hop=hop, tag=64512)  # type: ignore[arg-type]


def _in_kernel(kernel: list[str], prefix: str, hop: str) -> bool:
    return any(r.startswith(f"{prefix} ") and f" via {hop} " in r for r in kernel)


def _configs(objects: Any) -> dict[str, Any]:
    return {o.key: o.config() for o in objects}


def test_hand_made_routes_and_neighbours_survive_apply_and_node_deletion(tmp_path: Path) -> None:
    access, driver = _setup(tmp_path)
    hand_made = hand_made_blocks(running(access))
    assert any("neighbor 192.168.1.250 description storage array" in b for b in hand_made)
    assert "ip route 0.0.0.0/0 192.168.1.254 tag 100" in hand_made
    desired = _desired()
    driver.apply(driver.plan(desired, driver.observe())).raise_on_error()
    assert hand_made_blocks(running(access)) == hand_made
    # node n1 leaves the cluster: its neighbour and prefix-list go, nothing else
    remaining = [o for o in desired if not isinstance(o, (BgpPeering, PrefixList))]
    plan = driver.plan(remaining, driver.observe())
    assert sorted(c.key for c in plan.changes) == ["bgp-peering:leaf-1:192.168.1.11", "prefix-list:leaf-1:FI-NODE-n1"]
    driver.apply(plan).raise_on_error()
    assert hand_made_blocks(running(access)) == hand_made
    text = "\n".join(running(access))
    assert "192.168.1.11" not in text and "FI-NODE-n1" not in text
    assert _configs(driver.observe().objects) == _configs(remaining)
    # the cluster is gone: everything owned goes, and the BGP instance only fabric-intent filled
    driver.apply(driver.plan([], driver.observe())).raise_on_error()
    assert hand_made_blocks(running(access)) == hand_made
    text = "\n".join(running(access))
    assert "router bgp 65101 vrf BLUE" not in text and "tag 64512" not in text and "FI-" not in text
    assert "router bgp 65101\n" in text + "\n", "the hand-made BGP instance stays"


def test_routes_reach_the_kernel_and_are_redistributed_through_the_tag(tmp_path: Path) -> None:
    access, driver = _setup(tmp_path, fixture="leaf-2.conf")
    routes = [_route(f"10.244.{n}.0/24", f"192.168.1.{10 + n}") for n in range(1, 4)]
    driver.apply(driver.plan(routes, driver.observe())).raise_on_error()
    kernel = access.kernel_routes()
    for n in range(1, 4):
        assert _in_kernel(kernel, f"10.244.{n}.0/24", f"192.168.1.{10 + n}"), kernel
    text = "\n".join(running(access))
    assert "  redistribute static route-map FI-STATIC-ROUTES" in text and " match tag 64512" in text
    driver.apply(driver.plan([], driver.observe())).raise_on_error()
    assert not any(r.startswith("10.244.") for r in access.kernel_routes())
    assert "FI-STATIC-ROUTES" not in "\n".join(running(access)), "redistribution is withdrawn with the last route"


@pytest.mark.parametrize("batch", ["channel", "lines"])
def test_a_refused_line_is_compensated_and_reported_exactly(tmp_path: Path, batch: str) -> None:
    access, driver = _setup(tmp_path, batch=batch)
    before_config, observed = running(access), driver.observe()
    wrong_as = BgpPeering(device="leaf-1", vrf="default", neighbor="192.168.1.77", remote_as=64677,  # type: ignore[arg-type]
                          local_as=65999, description="fabric-intent: node n77", prefix_list="FI-NODE-n1", max_prefix=5)
    plist = PrefixList(device="leaf-1", name="FI-NODE-n77", entries=(
        PrefixListEntry(seq=10, prefix="10.244.77.0/24"),))  # type: ignore[arg-type]
    plan = driver.plan([*observed.objects, plist, wrong_as], observed)
    assert [c.action for c in plan.changes] == ["create", "create"]
    result = driver.apply(plan)
    assert result.failed and result.error is not None
    assert "'router bgp 65999'" in result.error and "BGP is already running; AS is 65101" in result.error
    assert "change bgp-peering:leaf-1:192.168.1.77" in result.error
    assert "1 owned object(s) had changed and were restored (prefix-list:leaf-1:FI-NODE-n77)" in result.error
    assert (result.applied, result.not_applied) == ((), tuple(c.key for c in plan.changes))
    assert result.revision == observed.revision
    assert sorted(running(access)) == sorted(before_config)


def test_a_late_northbound_refusal_is_pinned_and_compensated(tmp_path: Path) -> None:
    access, driver = _setup(tmp_path, fixture="leaf-2.conf")
    bad = PrefixList(device="leaf-1", name="FI-NODE-bad", entries=(
        PrefixListEntry(seq=5, prefix="10.0.0.0/8", le=4),))  # type: ignore[arg-type]
    routes = [_route("10.244.5.0/24", "192.168.1.15"), _route("10.244.6.0/24", "192.168.1.16")]
    observed = driver.observe()
    result = driver.apply(driver.plan([bad, *routes], observed))
    assert result.failed and result.error is not None
    assert "'ip prefix-list FI-NODE-bad seq 5 permit 10.0.0.0/8 le 4'" in result.error
    assert "Invalid prefix range" in result.error
    assert driver.observe() == observed
    assert result.revision == observed.revision


@pytest.mark.parametrize("login", ["vtysh", "bash"])
def test_both_login_modes_apply_and_read_back(tmp_path: Path, login: str) -> None:
    options = {"login": "shell"} if login == "bash" else {}
    access, driver = _setup(tmp_path, account=login, fixture="leaf-2.conf", **options)
    routes = [_route("10.244.8.0/24", "192.168.1.18"), _route("10.244.9.0/24", "192.168.1.19", vrf="BLUE")]
    result = driver.apply(driver.plan(routes, driver.observe()))
    assert not result.failed, result.error
    assert _configs(driver.observe().objects) == _configs(routes)
    assert _in_kernel(access.kernel_routes(), "10.244.8.0/24", "192.168.1.18")


def test_line_by_line_batch_mode_gives_the_same_result(tmp_path: Path) -> None:
    access, driver = _setup(tmp_path, batch="lines")
    desired = _desired()
    driver.apply(driver.plan(desired, driver.observe())).raise_on_error()
    assert _configs(driver.observe().objects) == _configs(desired)
    assert driver.plan(desired, driver.observe()).changes == ()


def test_the_bgp_password_reaches_the_device_but_no_plan_result_or_log(tmp_path: Path, caplog: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    access, _ = _setup(tmp_path, fixture="leaf-2.conf")
    monkeypatch.setenv("FI_LAB_BGP_PASSWORD", SECRET)
    entry = access.inventory_switch(options={"known_hosts": "known_hosts"})
    inventory = _inventory(entry, bgp={"password": {"env": "FI_LAB_BGP_PASSWORD"}})
    driver = FrrDriver(inventory.switches[0], inventory, tmp_path)
    peer = BgpPeering(device="leaf-1", vrf="default", neighbor="192.168.1.31", remote_as=64631,  # type: ignore[arg-type]
                      local_as=65101, description="fabric-intent: node n31", prefix_list="", max_prefix=5,
                      authenticated=True)
    caplog.set_level(logging.DEBUG)
    plan = driver.plan([peer], driver.observe())
    result = driver.apply(plan)
    assert not result.failed, result.error
    assert f"neighbor 192.168.1.31 password {SECRET}" in "\n".join(running(access))
    assert SECRET not in plan.model_dump_json() + result.model_dump_json() + caplog.text
    assert driver.observe().objects == (peer,)


@pytest.mark.parametrize("batch", ["channel", "lines"])  # a plain SSH login, and netmiko's
def test_a_host_key_mismatch_is_refused_and_nothing_changes(tmp_path: Path, batch: str) -> None:
    access, driver = _setup(tmp_path, batch=batch)
    other = lab().switch("leaf-2")
    line = other.known_hosts.read_text().split(maxsplit=1)[1]
    (tmp_path / "known_hosts").write_text(f"[{access.host}]:{access.port} {line}")
    before = running(access)
    with pytest.raises(DriverError, match="does not match the known_hosts entry") as info:
        driver.observe()
    assert not info.value.retryable
    assert running(access) == before


@pytest.mark.parametrize("batch", ["channel", "lines"])
def test_an_unknown_host_key_is_refused(tmp_path: Path, batch: str) -> None:
    _, driver = _setup(tmp_path, batch=batch)
    (tmp_path / "known_hosts").write_text("")
    with pytest.raises(DriverError, match="host key is not in known_hosts"):
        driver.observe()


@pytest.mark.parametrize("batch", ["channel", "lines"])
def test_a_wrong_password_is_refused_without_repeating_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          batch: str) -> None:
    access, _ = _setup(tmp_path)
    monkeypatch.setenv("FI_LAB_SSH_PASSWORD", "not-the-password-42")
    credentials = {"username": access.username, "password": {"env": "FI_LAB_SSH_PASSWORD"}}
    entry = access.inventory_switch(options={"known_hosts": "known_hosts", "batch": batch}, credentials=credentials)
    inventory = _inventory(entry)
    with pytest.raises(DriverError, match="authentication as") as info:
        FrrDriver(inventory.switches[0], inventory, tmp_path).observe()
    assert "not-the-password-42" not in str(info.value) and not info.value.retryable


def test_the_right_password_from_a_file_logs_in(tmp_path: Path) -> None:
    access, _ = _setup(tmp_path)
    assert access.password_file is not None
    entry = access.inventory_switch(options={"known_hosts": "known_hosts"},
                                    credentials={"username": access.username,
                                                 "password": {"file": str(access.password_file)}})
    inventory = _inventory(entry)
    assert FrrDriver(inventory.switches[0], inventory, tmp_path).observe().objects


@pytest.mark.parametrize("batch", ["channel", "lines"])
def test_a_closed_port_is_unreachable_and_retryable(tmp_path: Path, batch: str) -> None:
    access, _ = _setup(tmp_path)
    entry = access.inventory_switch(options={"known_hosts": "known_hosts", "conn_timeout": 2, "batch": batch},
                                    management={"host": "127.0.0.1", "port": 9})
    inventory = _inventory(entry)
    with pytest.raises(DeviceUnreachableError) as info:
        FrrDriver(inventory.switches[0], inventory, tmp_path).observe()
    assert info.value.retryable and "127.0.0.1:9" in str(info.value)

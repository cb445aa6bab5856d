"""BGP-to-host mode end to end: every node's own FRR announces its podCIDR; fabric-intent configures the leaf side.

One lab for the module. The nodes' BGP speakers run from the start, but the leaves do not know
them until fabric-intent adds the neighbour, its inbound prefix-list and maximum-prefix. A node that
announces another node's podCIDR is filtered. Hand-made configuration on leaf1 (a neighbour, a
prefix-list and a static route) survives apply and node deletion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lab_probe
import pytest
from lab_probe import Pair
from lab_support import RunningLab, fabric_intent, wait_until

NODES = {"node1": ("leaf1", "192.168.1.11", 64611, "10.244.1.0/24"),
         "node2": ("leaf1", "192.168.1.12", 64612, "10.244.2.0/24"),
         "node3": ("leaf2", "192.168.2.11", 64611, "10.244.3.0/24"),
         "node4": ("leaf2", "192.168.2.12", 64612, "10.244.4.0/24")}
HAND_MADE = ("ip prefix-list OPS-IN seq 5 permit 10.99.0.0/24", "ip route 10.99.0.0/24 192.168.1.200")
HAND_MADE_BGP = ("neighbor 192.168.1.250 remote-as 64999", "neighbor 192.168.1.250 description ops monitoring")


@dataclass(frozen=True)
class Applied:
    node_sessions_before: dict[str, list[str]]  # node -> states of its sessions before the first apply
    pings_before: dict[Pair, bool]
    output: str


def _node(name: str) -> str:
    return name.split("-")[0]


def _states(lab: RunningLab, member: str) -> list[str]:
    summary = lab.vtysh_json(member, "show bgp ipv4 unicast summary json")
    return [str(p.get("state")) for p in summary.get("peers", {}).values()]


def _neighbor(lab: RunningLab, leaf: str, address: str) -> dict[str, Any]:
    return dict(lab.vtysh_json(leaf, f"show bgp neighbors {address} json").get(address, {}))


def _accepted(lab: RunningLab, leaf: str, address: str) -> int:
    """How many of the node's prefixes the leaf accepted (after its inbound prefix-list)."""
    family = _neighbor(lab, leaf, address).get("addressFamilyInfo", {}).get("ipv4Unicast", {})
    return int(family.get("acceptedPrefixCounter", -1))


@pytest.fixture(scope="module")
def hand_made(bgp_lab: RunningLab) -> None:
    bgp_lab.vtysh("leaf1", "configure terminal", *HAND_MADE, "router bgp 65101", *HAND_MADE_BGP)


@pytest.fixture(scope="module")
def applied(bgp_lab: RunningLab, hand_made: None) -> Applied:
    pods = bgp_lab.pods()
    sessions = {node: _states(bgp_lab, node) for node in NODES}
    pings = lab_probe.ping_once([(a, b) for a in pods for b in pods if _node(a.name) != _node(b.name)])
    done = bgp_lab.apply()
    wait_until("every node's session with its leaf", lambda: all(
        _neighbor(bgp_lab, leaf, ip).get("bgpState") == "Established" for leaf, ip, _, _ in NODES.values()))
    return Applied(sessions, pings, done.stdout + done.stderr)


def test_before_apply_nodes_announce_to_no_one(applied: Applied) -> None:
    assert all(states and "Established" not in states for states in applied.node_sessions_before.values())
    assert len(applied.pings_before) == 48 and not any(applied.pings_before.values())


def test_apply_configures_neighbour_prefix_list_and_maximum_prefix(bgp_lab: RunningLab, applied: Applied) -> None:
    assert "Apply complete" in applied.output
    for node, (leaf, address, asn, cidr) in NODES.items():
        config = bgp_lab.vtysh(leaf, "show running-config")
        assert f"ip prefix-list FI-NODE-{node} seq 10 permit {cidr}\n" in config
        for line in (f"neighbor {address} remote-as {asn}",
                     f"neighbor {address} description fabric-intent: node {node}",
                     f"neighbor {address} prefix-list FI-NODE-{node} in", f"neighbor {address} maximum-prefix 10"):
            assert f" {line}\n" in config, line
        wait_until(f"{leaf} to accept {node}'s announcement", lambda leaf=leaf, address=address: _accepted(
            bgp_lab, leaf, address) == 1)
    for leaf in ("leaf1", "leaf2"):
        wait_until(f"{leaf} to carry every pod subnet", lambda leaf=leaf: {
            r.split()[0] for r in bgp_lab.routes(leaf) if "proto bgp" in r} >= {c for *_, c in NODES.values()})


def test_after_apply_every_pod_reaches_every_pod_without_nat(bgp_lab: RunningLab, applied: Applied) -> None:
    pods = bgp_lab.pods()
    results = lab_probe.ping_matrix(pods, wait=20)
    assert len(results) == 56 and [pair for pair, ok in results.items() if not ok] == []
    seen = lab_probe.seen_sources(pods)
    own = {p.name: p.ip for p in pods}
    assert len(seen) == 56 and {pair: who for pair, who in seen.items() if who != own[pair[0]]} == {}


def test_a_second_plan_is_empty(bgp_lab: RunningLab, applied: Applied) -> None:
    done = fabric_intent("plan", "--cluster", str(bgp_lab.cluster), "--fabric", str(bgp_lab.fabric),
                         "--detailed-exitcode")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_node_announcing_another_nodes_pod_subnet_is_filtered(bgp_lab: RunningLab, applied: Applied) -> None:
    # announced without a local route (no import check), so node1's own forwarding stays as it was: had
    # leaf1 accepted it, traffic to node3's pods would loop between leaf1 and node1
    rogue = ("router bgp 64611", "no bgp network import-check", "address-family ipv4 unicast",
             "network 10.244.3.0/24")
    bgp_lab.vtysh("node1", "configure terminal", *rogue)
    try:
        wait_until("node1 to announce node3's pod subnet to leaf1", lambda: "10.244.3.0/24" in bgp_lab.vtysh_json(
            "node1", "show bgp ipv4 unicast neighbors 192.168.1.1 advertised-routes json").get("advertisedRoutes", {}))
        time.sleep(1)  # an update in flight would be accepted within this time (datacenter timers)
        assert _accepted(bgp_lab, "leaf1", "192.168.1.11") == 1
        paths = bgp_lab.vtysh_json("leaf1", "show bgp ipv4 unicast 10.244.3.0/24 json").get("paths", [])
        assert paths and all(p.get("peer", {}).get("peerId") != "192.168.1.11" for p in paths)
        route = next(r for r in bgp_lab.routes("leaf1") if r.startswith("10.244.3.0/24 "))
        assert "192.168.1.11" not in route
        results = lab_probe.ping_matrix(bgp_lab.pods(), wait=5)
        assert [pair for pair, ok in results.items() if not ok] == []
    finally:
        bgp_lab.vtysh("node1", "configure terminal", "router bgp 64611", "address-family ipv4 unicast",
                      "no network 10.244.3.0/24", "exit-address-family", "bgp network import-check")


def _via_node1(lab: RunningLab) -> bool:
    return any(r.startswith("10.244.3.0/24 ") and "via 192.168.1.11 " in r for r in lab.routes("leaf1"))


def test_without_the_prefix_list_the_hijack_wins_and_apply_puts_it_back(bgp_lab: RunningLab, applied: Applied) -> None:
    """The counter-test: it is the prefix-list that stops the hijack, and fabric-intent repairs a removed one."""
    bgp_lab.vtysh("node1", "configure terminal", "router bgp 64611", "no bgp network import-check",
                  "address-family ipv4 unicast", "network 10.244.3.0/24")
    unbind = ("router bgp 65101", "address-family ipv4 unicast",
              "no neighbor 192.168.1.11 prefix-list FI-NODE-node1 in")
    try:
        bgp_lab.vtysh("leaf1", "configure terminal", *unbind)
        wait_until("leaf1 to prefer node1's (shorter) path to node3's pod subnet", lambda: _via_node1(bgp_lab))
        pods = {p.name: p for p in bgp_lab.pods()}
        hijacked = lab_probe.ping_once([(pods["node2-pod1"], pods["node3-pod1"])])
        assert hijacked == {("node2-pod1", "node3-pod1"): False}
        plan = bgp_lab.plan_json()
        assert [(c["action"], c["key"]) for d in plan["devices"] for c in d["changes"]] == [
            ("update", "bgp-peering:leaf1:192.168.1.11")]
        bgp_lab.apply()
        assert " neighbor 192.168.1.11 prefix-list FI-NODE-node1 in\n" in bgp_lab.vtysh("leaf1", "show running-config")
        wait_until("leaf1 to drop node1's path again", lambda: not _via_node1(bgp_lab))
        assert all(lab_probe.ping_matrix(list(pods.values()), wait=10).values())
    finally:
        bgp_lab.vtysh("leaf1", "configure terminal", "router bgp 65101", "address-family ipv4 unicast",
                      "neighbor 192.168.1.11 prefix-list FI-NODE-node1 in")
        bgp_lab.vtysh("node1", "configure terminal", "router bgp 64611", "address-family ipv4 unicast",
                      "no network 10.244.3.0/24", "exit-address-family", "bgp network import-check")


def _assert_hand_made(lab: RunningLab) -> None:
    config = lab.vtysh("leaf1", "show running-config")
    for line in HAND_MADE:
        assert f"{line}\n" in config, line
    for line in HAND_MADE_BGP:
        assert f" {line}\n" in config, line


def test_hand_made_neighbour_prefix_list_and_route_survive_apply(bgp_lab: RunningLab, applied: Applied) -> None:
    _assert_hand_made(bgp_lab)


def test_deleting_a_node_removes_exactly_its_peering(bgp_lab: RunningLab, applied: Applied, tmp_path: Path) -> None:
    cluster = bgp_lab.snapshot_without("node2", tmp_path / "cluster")
    plan = bgp_lab.plan_json(cluster, "--allow-mass-delete")
    changes = sorted((c["action"], c["key"]) for d in plan["devices"] for c in d["changes"])
    assert changes == [("delete", "bgp-peering:leaf1:192.168.1.12"), ("delete", "prefix-list:leaf1:FI-NODE-node2")]
    bgp_lab.apply(cluster, "--allow-mass-delete")
    config = bgp_lab.vtysh("leaf1", "show running-config")
    assert "192.168.1.12" not in config and "FI-NODE-node2" not in config
    assert " neighbor 192.168.1.11 prefix-list FI-NODE-node1 in\n" in config
    _assert_hand_made(bgp_lab)
    wait_until("leaf2 to lose node2's pod subnet",
               lambda: not any(r.startswith("10.244.2.0/24") for r in bgp_lab.routes("leaf2")))
    remaining = [p for p in bgp_lab.pods() if _node(p.name) != "node2"]
    assert all(lab_probe.ping_matrix(remaining, wait=10).values())

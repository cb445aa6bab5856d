"""Static-route mode end to end: fabric-intent's routes on the leaves make every pod reach every pod, without NAT.

One lab for the module. Before the first apply, hand-made configuration is put on leaf1 (a static
route without fabric-intent's tag and a BGP neighbour without its description): it must survive
every apply, including the one that withdraws a deleted node's route.
"""

from __future__ import annotations

import pwd
from dataclasses import dataclass
from pathlib import Path

import lab_probe
import pytest
from lab_probe import Endpoint, Pair
from lab_support import RunningLab, fabric_intent, lab_command, wait_until

HAND_MADE_ROUTE = "ip route 10.99.0.0/24 192.168.1.200"
HAND_MADE_NEIGHBOR = ("neighbor 192.168.1.250 remote-as 64999", "neighbor 192.168.1.250 description ops monitoring")


@dataclass(frozen=True)
class Applied:
    before: dict[Pair, bool]  # cross-node pings before the first apply
    output: str


def _node(pod: Endpoint) -> str:
    return pod.name.split("-")[0]


def _leaf_of(node: str) -> str:
    return "leaf1" if node in ("node1", "node2") else "leaf2"


@pytest.fixture(scope="module")
def hand_made(static_lab: RunningLab) -> None:
    static_lab.vtysh("leaf1", "configure terminal", HAND_MADE_ROUTE, "router bgp 65101", *HAND_MADE_NEIGHBOR)


@pytest.fixture(scope="module")
def applied(static_lab: RunningLab, hand_made: None) -> Applied:
    pods = static_lab.pods()
    before = lab_probe.ping_once([(a, b) for a in pods for b in pods if _node(a) != _node(b)])
    done = static_lab.apply()
    return Applied(before, done.stdout + done.stderr)


def test_pods_on_other_nodes_do_not_reach_each_other_before_apply(applied: Applied) -> None:
    assert len(applied.before) == 48
    cross_leaf = {pair: ok for pair, ok in applied.before.items()
                  if _leaf_of(pair[0].split("-")[0]) != _leaf_of(pair[1].split("-")[0])}
    assert len(cross_leaf) == 32 and not any(applied.before.values())


def test_apply_puts_tagged_routes_on_the_leaves_and_the_fabric_carries_them(
        static_lab: RunningLab, applied: Applied) -> None:
    assert "Apply complete: 4 change(s) applied on 2 device(s)" in applied.output
    leaf1 = static_lab.vtysh("leaf1", "show running-config")
    assert "ip route 10.244.1.0/24 192.168.1.11 tag 64512" in leaf1
    assert "ip route 10.244.2.0/24 192.168.1.12 tag 64512" in leaf1
    assert "10.244.3.0/24" not in leaf1  # node3 hangs off leaf2
    wait_until("leaf2 to learn rack1's pod subnets over the spines", lambda: {
        r.split()[0] for r in static_lab.routes("leaf2") if "proto bgp" in r} >= {"10.244.1.0/24", "10.244.2.0/24"})
    assert any(r.startswith("10.244.3.0/24 ") and "proto bgp" in r for r in static_lab.routes("spine1"))


def test_after_apply_every_pod_reaches_every_pod(static_lab: RunningLab, applied: Applied) -> None:
    results = lab_probe.ping_matrix(static_lab.pods(), wait=20)
    assert len(results) == 56
    assert [pair for pair, ok in results.items() if not ok] == []


def test_destinations_see_the_source_pods_own_address(static_lab: RunningLab, applied: Applied) -> None:
    pods = static_lab.pods()
    lab_probe.ping_matrix(pods, wait=20)
    seen = lab_probe.seen_sources(pods)
    own = {p.name: p.ip for p in pods}
    assert len(seen) == 56
    assert {pair: who for pair, who in seen.items() if who != own[pair[0]]} == {}


def test_lab_check_agrees(static_lab: RunningLab, applied: Applied) -> None:
    done = lab_command("check", "--out", str(static_lab.out), "--wait", "20", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "56/56 pod pairs reach each other; 0 of them translated (NAT)" in done.stdout


def test_a_second_plan_is_empty(static_lab: RunningLab, applied: Applied) -> None:
    done = fabric_intent("plan", "--cluster", str(static_lab.cluster), "--fabric", str(static_lab.fabric),
                         "--detailed-exitcode")
    assert done.returncode == 0, done.stdout + done.stderr
    plan = static_lab.plan_json()
    assert [c for d in plan["devices"] for c in d["changes"]] == []
    assert {d["device"]: d["owned_objects"] for d in plan["devices"]} == {
        "spine1": 0, "spine2": 0, "leaf1": 2, "leaf2": 2}


def test_hand_made_route_and_neighbour_survive_apply(static_lab: RunningLab, applied: Applied) -> None:
    _assert_hand_made(static_lab)


def _assert_hand_made(lab: RunningLab) -> None:
    config = lab.vtysh("leaf1", "show running-config")
    assert HAND_MADE_ROUTE + "\n" in config
    for line in HAND_MADE_NEIGHBOR:
        assert f" {line}\n" in config
    assert any(r.startswith("10.99.0.0/24 ") and " via 192.168.1.200 " in r for r in lab.routes("leaf1"))


def test_deleting_a_node_withdraws_exactly_its_route(static_lab: RunningLab, applied: Applied, tmp_path: Path) -> None:
    cluster = static_lab.snapshot_without("node4", tmp_path / "cluster")
    plan = static_lab.plan_json(cluster, "--allow-mass-delete")
    changes = [(c["action"], c["key"]) for d in plan["devices"] for c in d["changes"]]
    assert changes == [("delete", "static-route:leaf2:10.244.4.0/24@192.168.2.12")]
    # 1 of 4 owned objects is over the 10 % mass-delete guard: the operator confirms it explicitly
    static_lab.apply(cluster, "--allow-mass-delete")
    leaf2 = static_lab.vtysh("leaf2", "show running-config")
    assert "10.244.4.0/24" not in leaf2 and "ip route 10.244.3.0/24 192.168.2.11 tag 64512" in leaf2
    wait_until("leaf1 to lose node4's pod subnet",
               lambda: not any(r.startswith("10.244.4.0/24") for r in static_lab.routes("leaf1")))
    assert {r.split()[0] for r in static_lab.routes("leaf1") if r.startswith("10.244.")} == {
        "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"}
    _assert_hand_made(static_lab)
    remaining = [p for p in static_lab.pods() if _node(p) != "node4"]
    assert all(lab_probe.ping_matrix(remaining, wait=10).values())
    assert fabric_intent("plan", "--cluster", str(cluster), "--fabric", str(static_lab.fabric),
                         "--detailed-exitcode").returncode == 0


def test_fabric_intent_leaves_no_session_behind(static_lab: RunningLab, applied: Applied) -> None:
    users = {f"{static_lab.netns(s)}" for s in ("spine1", "spine2", "leaf1", "leaf2")}

    uids = {str(pwd.getpwnam(user).pw_uid) for user in users}

    def sessions() -> list[str]:  # live (not zombie) processes of the switches' login users: sshd, vtysh
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            except OSError:
                continue
            if fields["Uid"].split()[0] in uids and not fields["State"].strip().startswith("Z"):
                found.append(f"{status.parent.name} {fields['Name'].strip()}")
        return found
    wait_until("the switches' SSH sessions to end", lambda: not sessions(), timeout=5)

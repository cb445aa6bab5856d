"""NetworkPolicy end to end: fabric-intent compiles the policies to nftables on the leaves, and real
TCP connections across the fabric are let through or dropped exactly as the policies say.

One lab for the module (static mode, `--policy`: the leaves log in to a Linux shell that may run
`sudo vtysh` and `sudo nft` in the switch's namespace). The pod routes are applied first; then a
copy of the snapshot gets the policies of `data/policy/` (namespace `web` isolated for ingress with
TCP port 80 open to the client pod of namespace `lab`; the client itself accepts nothing), and the
expected outcome of each connection comes from `fabric-intent policy check` on that copy.

The fabric sees traffic between nodes (a node routes every other node's pods through its leaf);
traffic between two pods of one node stays on the node's bridge and is the node's to filter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lab_probe
import pytest
import yaml
from lab_probe import Endpoint, Pair
from lab_support import RunningLab, fabric_intent, lab_command, lab_name, system_view

DATA = Path(__file__).parent / "data" / "policy"
HAND_MADE_TABLE = """table inet ops-filter {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\ttcp dport 9 drop comment "hand-made: discard service"
\t}
}
"""
LEAVES = ("leaf1", "leaf2")
PORTS = (80, 81)


@dataclass(frozen=True)
class Applied:
    plan: dict[str, Any]  # the JSON plan that added the policy
    plan_text: str
    output: str
    hand_made: str  # the hand-made table on leaf2 as listed before the policy apply


def _node(pod: str) -> str:
    return pod.split("-")[0]


def _nft(lab: RunningLab, member: str, *args: str, stdin: str | None = None, check: bool = True
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", lab.netns(member), "nft", *args], input=stdin, capture_output=True,
                          text=True, check=check, timeout=30)


def _table(lab: RunningLab, member: str) -> str:
    """fabric-intent's table on a switch as `nft list` shows it ('' when there is none)."""
    done = _nft(lab, member, "list", "table", "inet", "fabric-intent", check=False)
    return done.stdout if done.returncode == 0 else ""


def _with_policy(lab: RunningLab, folder: Path, roles: dict[str, Any]) -> Path:
    """A copy of the lab's snapshot with the pods placed and labelled as `roles` says, and the policies."""
    shutil.copytree(lab.cluster, folder)
    pods = lab.documents("pods")
    for item in pods["items"]:
        role = roles.get(item["metadata"]["name"])
        if role:
            item["metadata"]["namespace"] = role["namespace"]
            item["metadata"]["labels"].update(role["labels"])
    (folder / "pods.yaml").write_text(yaml.safe_dump(pods))
    shutil.copy(DATA / "networkpolicies.yaml", folder / "networkpolicies.yaml")
    return folder


def _expected(cluster: Path) -> list[dict[str, Any]]:
    """`fabric-intent policy check` over the probes: what the compiled rule set allows."""
    done = fabric_intent("policy", "check", "--cluster", str(cluster), "--probes", str(DATA / "probes.json"),
                         "--format", "json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _connect(pods: dict[str, Endpoint], probes: list[dict[str, Any]]) -> list[str]:
    """Open every probe's TCP connection for real (3 s timeout); what each destination said it saw, or the error."""
    targets = {(p["to"].split("/")[1], p["port"]) for p in probes}
    servers = {name for name, _ in targets}
    with _listening([pods[n] for n in sorted(servers)]):
        procs = [subprocess.Popen(["ip", "netns", "exec", pods[p["from"].split("/")[1]].netns, sys.executable,
                                   lab_probe.__file__, "ask", str(p["port"]), pods[p["to"].split("/")[1]].ip],
                                  stdout=subprocess.PIPE, text=True) for p in probes]
        answers = [json.loads(proc.communicate(timeout=30)[0] or "{}") for proc in procs]
    return [next(iter(a.values()), "error: no answer") for a in answers]


def _listening(pods: list[Endpoint]) -> ExitStack:
    """Listeners on ports 80 and 81 of every pod given (each answers with the peer address it sees)."""
    stack = ExitStack()
    try:
        for port in PORTS:
            stack.enter_context(lab_probe.listeners(pods, port))
    except BaseException:
        stack.close()
        raise
    return stack


def _cross_node_pings(lab: RunningLab) -> dict[Pair, bool]:
    pods = lab.pods()
    pairs = [(a, b) for a in pods for b in pods if _node(a.name) != _node(b.name)]
    return lab_probe.ping_once(pairs)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """A static-mode lab whose leaves enforce policy; torn down (and checked to leave nothing) even on failure."""
    name, out = lab_name(), tmp_path_factory.mktemp("lab") / "out"
    start = time.monotonic()
    try:
        lab_command("--name", name, "up", "--mode", "static", "--policy", "--out", str(out))
        yield RunningLab(name, "static", out, time.monotonic() - start)
    finally:
        lab_command("--name", name, "down", check=False)
        left = system_view(name) + ([f"folder {out}"] if out.exists() else [])
        assert not left, f"lab {name} left behind: {left}"


@pytest.fixture(scope="module")
def roles() -> dict[str, Any]:
    return dict(yaml.safe_load((DATA / "pod-roles.yaml").read_text()))


@pytest.fixture(scope="module")
def policy_cluster(lab: RunningLab, roles: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _with_policy(lab, tmp_path_factory.mktemp("policy") / "cluster", roles)


@pytest.fixture(scope="module")
def applied(lab: RunningLab, policy_cluster: Path) -> Applied:
    """Pod routes first (every pod reaches every pod), a hand-made table on leaf2, then the policies."""
    lab.apply()
    reach = lab_probe.ping_matrix(lab.pods(), wait=20)
    assert len(reach) == 56 and all(reach.values()), [pair for pair, ok in reach.items() if not ok]
    _nft(lab, "leaf2", "-f", "-", stdin=HAND_MADE_TABLE)
    hand_made = _nft(lab, "leaf2", "list", "table", "inet", "ops-filter").stdout
    plan = lab.plan_json(policy_cluster)
    text = fabric_intent("plan", "--cluster", str(policy_cluster), "--fabric", str(lab.fabric))
    assert text.returncode == 0, text.stderr
    done = lab.apply(policy_cluster)
    return Applied(plan, text.stdout, done.stdout + done.stderr, hand_made)


def _changes(plan: dict[str, Any], device: str) -> list[dict[str, Any]]:
    return [c for d in plan["devices"] if d["device"] == device for c in d["changes"]]


def test_plan_shows_the_policy_changes_with_provenance_and_nft_lines(applied: Applied) -> None:
    for leaf in LEAVES:
        changes = _changes(applied.plan, leaf)
        assert {c["kind"] for c in changes} == {"address-group", "policy-rule"}
        assert all(c["action"] == "create" for c in changes)
        accept = next(c for c in changes if c["kind"] == "policy-rule" and c["after"]["action"] == "accept"
                      and c["after"]["ports"] == [80, 80])
        assert {(s["kind"], s["namespace"], s["name"]) for s in accept["provenance"]} == {
            ("NetworkPolicy", "web", "allow-client-http")}
        assert any(line.startswith("insert rule inet fabric-intent ingress ip saddr @FI-G-")
                   and "tcp dport 80 return" in line for line in accept["native"])
        drop = next(c for c in changes if c["kind"] == "policy-rule" and c["after"]["action"] == "drop")
        assert {s["name"] for s in drop["provenance"]} == {"default-deny-ingress", "allow-client-http",
                                                           "clients-accept-nothing"}
        assert drop["native"][0].startswith("add rule inet fabric-intent ingress ip daddr @FI-ISOLATED-IN-v4 drop")
    assert not _changes(applied.plan, "spine1") and not _changes(applied.plan, "spine2")
    assert "<- NetworkPolicy web/allow-client-http" in applied.plan_text
    assert "add set inet fabric-intent FI-ISOLATED-IN-v4" in applied.plan_text


def test_apply_puts_the_rule_set_on_each_leaf_and_nowhere_else(lab: RunningLab, applied: Applied) -> None:
    rules = sum(1 for c in _changes(applied.plan, "leaf1") if c["kind"] == "policy-rule")
    groups = sum(1 for c in _changes(applied.plan, "leaf1") if c["kind"] == "address-group")
    assert f"Apply complete: {2 * (rules + groups)} change(s) applied on 2 device(s)" in applied.output
    for leaf in LEAVES:
        table = _table(lab, leaf)
        assert "ct state established,related accept" in table
        assert table.count('return comment "FI-R-') == 2 and table.count('drop comment "FI-R-') == 2  # v4 + v6
    assert _table(lab, "spine1") == "" and _table(lab, "spine2") == ""


def test_real_tcp_connections_across_the_fabric_follow_the_policy(
        lab: RunningLab, applied: Applied, policy_cluster: Path) -> None:
    expected = _expected(policy_cluster)
    allowed = [(p["from"], p["to"], p["port"]) for p in expected if p["allowed"]]
    assert allowed == [("lab/node1-pod1", "web/node3-pod1", 80), ("lab/node1-pod1", "web/node4-pod1", 80),
                       ("lab/node2-pod2", "lab/node4-pod2", 81)]  # the checker agrees with the policies' intent
    pods = {p.name: p for p in lab.pods()}
    answers = _connect(pods, expected)
    for probe, answer in zip(expected, answers, strict=True):
        source = pods[probe["from"].split("/")[1]]
        what = f"{probe['from']} -> {probe['to']}:{probe['port']}"
        if probe["allowed"]:
            assert answer == source.ip, f"{what} should connect (and be seen without NAT), got {answer!r}"
        else:
            assert answer == "error: timed out", f"{what} should be dropped, got {answer!r}"


def test_replies_pass_by_connection_tracking(lab: RunningLab, applied: Applied) -> None:
    """The client accepts no connection, yet gets the server's answer and its echo replies: conntrack."""
    client = next(p for p in lab.pods() if p.name == "node1-pod1")
    for leaf in LEAVES:
        isolated = _nft(lab, leaf, "list", "set", "inet", "fabric-intent", "FI-ISOLATED-IN-v4").stdout
        assert client.ip in isolated
    pings = _cross_node_pings(lab)
    assert pings[("node1-pod1", "node3-pod2")] and pings[("node1-pod1", "node4-pod2")]
    assert not pings[("node3-pod2", "node1-pod1")] and not pings[("node4-pod2", "node1-pod1")]


def test_pings_between_nodes_follow_the_policy(lab: RunningLab, applied: Applied, roles: dict[str, Any]) -> None:
    """ICMP is allowed by no rule: a pod isolated for ingress gets no ping from another node; the others do."""
    isolated = {"node1-pod1", "node3-pod1", "node4-pod1"}  # web's pods, and the client (clients-accept-nothing)
    assert isolated == set(roles)
    pings = _cross_node_pings(lab)
    assert len(pings) == 48
    wrong = {pair: ok for pair, ok in pings.items() if ok == (pair[1] in isolated)}
    assert wrong == {}


def test_pods_of_one_node_are_the_nodes_to_filter(lab: RunningLab, applied: Applied) -> None:
    """Traffic between two pods of one node never reaches a switch: the policy cannot apply to it there."""
    pods = {p.name: p for p in lab.pods()}
    assert lab_probe.ping_once([(pods["node3-pod2"], pods["node3-pod1"])]) == {("node3-pod2", "node3-pod1"): True}


def test_hand_made_nftables_table_survives(lab: RunningLab, applied: Applied) -> None:
    assert _nft(lab, "leaf2", "list", "table", "inet", "ops-filter").stdout == applied.hand_made
    assert 'tcp dport 9 drop comment "hand-made: discard service"' in applied.hand_made


def test_second_plan_is_empty(lab: RunningLab, applied: Applied, policy_cluster: Path) -> None:
    plan = lab.plan_json(policy_cluster)
    assert plan["summary"] == {"add": 0, "change": 0, "destroy": 0, "devices": 0}


def test_a_pod_joining_the_clients_changes_set_members_only(
        lab: RunningLab, applied: Applied, roles: dict[str, Any], tmp_path: Path) -> None:
    cluster = _with_policy(lab, tmp_path / "cluster", {**roles, "node2-pod1": {"namespace": "lab",
                                                                               "labels": {"role": "client"}}})
    plan = lab.plan_json(cluster)
    for leaf in LEAVES:
        changes = _changes(plan, leaf)
        assert {(c["kind"], c["action"]) for c in changes} == {("address-group", "update")}
        assert len(changes) == 2  # the clients' group and FI-ISOLATED-IN
        assert all(c["native"] == [f"add element inet fabric-intent {c['after']['name']}-v4 {{ 10.244.2.2/32 }}"]
                   for c in changes)
    lab.apply(cluster)
    pods = {p.name: p for p in lab.pods()}
    probe = [{"from": "lab/node2-pod1", "to": "web/node4-pod1", "port": 80}]
    assert _connect(pods, probe) == [pods["node2-pod1"].ip]
    assert lab.plan_json(cluster)["summary"]["devices"] == 0


def test_removing_the_policies_removes_the_rule_set(lab: RunningLab, applied: Applied) -> None:
    refused = fabric_intent("apply", "--cluster", str(lab.cluster), "--fabric", str(lab.fabric), "--auto-approve")
    assert refused.returncode != 0 and "--allow-mass-delete" in refused.stderr + refused.stdout
    assert _table(lab, "leaf1") and _table(lab, "leaf2")  # refused: nothing changed
    lab.apply(None, "--allow-mass-delete")
    assert _table(lab, "leaf1") == "" and _table(lab, "leaf2") == ""
    assert _nft(lab, "leaf2", "list", "table", "inet", "ops-filter").stdout == applied.hand_made
    reach = lab_probe.ping_matrix(lab.pods(), wait=10)
    assert len(reach) == 56 and all(reach.values()), [pair for pair, ok in reach.items() if not ok]
    assert lab.plan_json()["summary"]["devices"] == 0

"""The lab itself, before fabric-intent touches it: what `lab up` builds and writes, and that `down` is exact."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import lab_probe
from lab_support import RunningLab, fabric_intent, lab_command, lab_name, running_lab, system_view

from reconciler.files import load_cluster, load_inventory


def _ip_json(*args: str) -> list[dict]:
    return list(json.loads(subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True).stdout))


def _ssh(lab: RunningLab, switch: str, known_hosts: Path, command: str) -> subprocess.CompletedProcess[str]:
    entry = next(s for s in load_inventory(lab.fabric).switches if s.name == switch)
    assert entry.management is not None and entry.credentials is not None
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(lab.out / "ssh" / "lab_ed25519"), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}", "-p",
         str(entry.management.port), f"{entry.credentials.username}@127.0.0.1", command],
        capture_output=True, text=True, timeout=30)


def test_inventory_and_snapshot_are_what_fabric_intent_reads(static_lab: RunningLab) -> None:
    inventory = load_inventory(static_lab.fabric)
    assert {s.name: (s.role, s.driver) for s in inventory.switches} == {
        "spine1": ("spine", "frr"), "spine2": ("spine", "frr"), "leaf1": ("leaf", "frr"), "leaf2": ("leaf", "frr")}
    assert all(s.management and s.management.host == "127.0.0.1" for s in inventory.switches)
    assert all(s.credentials and s.credentials.private_key and s.credentials.password is None
               for s in inventory.switches)
    snapshot = load_cluster(static_lab.cluster)
    assert len(snapshot.nodes) == 4 and len(snapshot.pods) == 8
    done = fabric_intent("validate", "--cluster", str(static_lab.cluster), "--fabric", str(static_lab.fabric))
    assert done.returncode == 0, done.stderr
    assert "4 nodes, 8 pods" in done.stdout


def test_every_node_and_pod_names_its_namespace_and_real_address(static_lab: RunningLab) -> None:
    objects = static_lab.documents("nodes")["items"] + static_lab.documents("pods")["items"]
    for obj in objects:
        netns = obj["metadata"]["annotations"]["fabric-intent.lab/netns"]
        address = (obj["status"]["podIP"] if obj["kind"] == "Pod"
                   else next(a["address"] for a in obj["status"]["addresses"] if a["type"] == "InternalIP"))
        eth0 = _ip_json("-n", netns, "addr", "show", "dev", "eth0")[0]
        assert address in [a["local"] for a in eth0["addr_info"]], (obj["metadata"]["name"], netns)


def test_pods_on_one_node_reach_each_other(static_lab: RunningLab) -> None:
    pods = static_lab.pods()
    pairs = [(a, b) for a in pods for b in pods if a != b and a.name.split("-")[0] == b.name.split("-")[0]]
    assert len(pairs) == 8
    assert all(lab_probe.ping_pairs(pairs, wait=5).values())


def test_pods_on_other_nodes_are_unreachable_before_fabric_intent(static_lab: RunningLab) -> None:
    pods = static_lab.pods()
    pairs = [(a, b) for a in pods for b in pods if a.name.split("-")[0] != b.name.split("-")[0]]
    results = lab_probe.ping_once(pairs)
    assert len(results) == 48 and not any(results.values())


def test_lab_check_reports_the_unreachable_pairs(static_lab: RunningLab) -> None:
    done = lab_command("check", "--out", str(static_lab.out), check=False)
    assert done.returncode == 1
    assert "8/56 pod pairs reach each other; 0 of them translated (NAT)" in done.stdout
    assert "node1-pod1 -> node2-pod1: no answer" in done.stdout


def test_underlay_is_up_and_switches_answer_with_their_own_names(static_lab: RunningLab) -> None:
    for switch in ("spine1", "spine2", "leaf1", "leaf2"):
        assert f"hostname {switch}\n" in static_lab.vtysh(switch, "show running-config")
        peers = static_lab.vtysh_json(switch, "show bgp ipv4 unicast summary json")["peers"]
        assert [p["state"] for p in peers.values()] == ["Established", "Established"]
    assert any(r.startswith("10.0.1.2 ") for r in static_lab.routes("leaf1"))
    assert any(r.startswith("10.0.1.1 ") for r in static_lab.routes("leaf2"))


def test_ssh_logs_in_to_vtysh_and_host_keys_are_verified(static_lab: RunningLab, tmp_path: Path) -> None:
    known = static_lab.out / "ssh" / "known_hosts"
    done = _ssh(static_lab, "leaf1", known, "show running-config")
    assert done.returncode == 0, done.stderr
    assert "hostname leaf1" in done.stdout and "router bgp 65101" in done.stdout
    stranger = tmp_path / "known_hosts"
    stranger.write_text(known.read_text().replace("[127.0.0.1]:", "[127.0.0.2]:"))
    refused = _ssh(static_lab, "leaf1", stranger, "show version")
    assert refused.returncode != 0 and "Host key verification failed" in refused.stderr


def test_sshds_listen_on_loopback_only(static_lab: RunningLab) -> None:
    ports = {s.management.port for s in load_inventory(static_lab.fabric).switches if s.management}
    listening = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and int(local.split(":")[1], 16) in ports:
            listening[int(local.split(":")[1], 16)] = local.split(":")[0]
    assert listening == {port: "0100007F" for port in ports}  # 127.0.0.1, nothing on 0.0.0.0


def test_no_namespace_is_wired_to_the_host_and_nothing_is_translated(static_lab: RunningLab) -> None:
    lab_namespaces = {p.name for p in Path("/var/run/netns").iterdir() if p.name.startswith(f"{static_lab.name}-")}
    assert len(lab_namespaces) == 4 + 4 + 8
    for netns in lab_namespaces:
        names = {line.split("iproute2 netns name: ")[1].rstrip(")") for line in subprocess.run(
            ["ip", "-n", netns, "netns", "list-id"], capture_output=True, text=True, check=True).stdout.splitlines()}
        for link in _ip_json("-n", netns, "-d", "link", "show"):
            if "link_netnsid" in link:  # a veth: its peer must be in another lab namespace, never the host's
                assert names and names <= lab_namespaces, (netns, link["ifname"], names)
        ruleset = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "ruleset"],
                                 capture_output=True, text=True, check=True).stdout
        assert ruleset.strip() == "", (netns, ruleset)
    for switch in ("spine1", "spine2", "leaf1", "leaf2"):
        assert not any(r.startswith("default") for r in static_lab.routes(switch))


def test_status_shows_what_runs(static_lab: RunningLab) -> None:
    out = lab_command("--name", static_lab.name, "status").stdout
    for switch in ("spine1", "spine2", "leaf1", "leaf2"):
        assert f"netns {static_lab.netns(switch)}" in out
    assert out.count("bgp 2/2 up") == 4 and "node4-pod2 10.244.4." in out
    assert len(re.findall(r"sshd 127\.0\.0\.1:\d+ up\n", out)) == 4


def test_a_second_up_under_the_same_name_is_refused(static_lab: RunningLab) -> None:
    done = lab_command("--name", static_lab.name, "up", "--out", str(static_lab.out), check=False)
    assert done.returncode == 1 and "already up" in done.stderr
    assert static_lab.fabric.exists() and "hostname leaf1" in static_lab.vtysh("leaf1", "show running-config")


def test_a_failed_bring_up_removes_what_it_made(tmp_path: Path) -> None:
    name = lab_name()
    out = tmp_path / "not-a-folder"
    out.write_text("the lab cannot write its files under a file\n")
    done = lab_command("--name", name, "up", "--out", str(out), check=False)
    assert done.returncode == 1 and "not-a-folder" in done.stderr
    assert system_view(name) == []
    assert out.read_text().startswith("the lab cannot")


def test_up_refuses_to_take_over_what_it_did_not_make(tmp_path: Path) -> None:
    name = lab_name()
    subprocess.run(["ip", "netns", "add", f"{name}-leaf1"], check=True)
    try:
        done = lab_command("--name", name, "up", "--out", str(tmp_path / "out"), check=False)
        assert done.returncode == 1
        assert f"network namespace {name}-leaf1 exists already and is not this lab's" in done.stderr
        assert system_view(name) == [f"netns {name}-leaf1"]  # still there; everything the lab made is gone
        assert not (tmp_path / "out").exists()
    finally:
        subprocess.run(["ip", "netns", "del", f"{name}-leaf1"], check=False)


def test_down_removes_everything_and_twice_is_fine(tmp_path: Path) -> None:
    name = lab_name()
    with running_lab(name, "bgp", tmp_path / "out"):
        assert len(system_view(name)) > 20  # namespaces, users, FRR files and processes, sshds, runtime files
        assert "node1" in lab_command("--name", name, "status").stdout
    # running_lab has run `down` and checked that nothing is left; a second down has nothing to do
    again = lab_command("--name", name, "down")
    assert "not up" in again.stdout

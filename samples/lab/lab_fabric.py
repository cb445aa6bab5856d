"""The whole lab: bring-up, tear-down and status of spines, leaves, nodes and pods.

A lab named NAME keeps its ledger in /run/fi-lab-NAME.json and its runtime files (sshd configs,
host keys, login shells, CNI state) in /run/fi-lab-NAME/; what fabric-intent needs goes to the
output folder: fabric.yaml, cluster/ and ssh/ (the client key and known_hosts).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lab_cni
import lab_frr
import lab_snapshot
import lab_ssh
from lab_host import (
    LabError,
    Ledger,
    add_netns,
    free_port,
    netns_exists,
    pids_matching,
    preflight,
    run,
    wait_for,
    write_file,
)
from lab_switch import start_switch, wait_configured
from lab_teardown import teardown
from lab_topology import LabNode, Topology, build

RUN = Path("/run")


def ledger_path(name: str) -> Path:
    return RUN / f"fi-lab-{name}.json"


def up(name: str, mode: str, out: Path, *, leaves: int = 2, nodes_per_leaf: int = 2, policy: bool = False) -> int:
    """Bring the lab up and write its inventory and snapshot; on any failure remove what was made.

    `policy`: the leaves enforce NetworkPolicy (nftables through a bash login that may run `sudo nft`)."""
    preflight()
    topo = build(name, leaves=leaves, nodes_per_leaf=nodes_per_leaf)
    ledger = Ledger(ledger_path(name))
    if ledger.entries:
        raise LabError(f"lab {name} is already up (ledger {ledger.path}); run `lab down` first")
    start = time.monotonic()
    try:
        bring_up(ledger, topo, mode, out, policy=policy)
    except BaseException:
        for problem in teardown(ledger):
            print(f"lab: could not remove {problem}", file=sys.stderr)
        raise
    enforcing = ", policy on the leaves" if policy else ""
    print(f"lab {name} up in {time.monotonic() - start:.1f} s ({mode} mode{enforcing}): {len(topo.switches)} switches, "
          f"{len(topo.nodes)} nodes, {len(topo.pods)} pods\n"
          f"  fabric-intent plan --cluster {out / 'cluster'} --fabric {out / 'fabric.yaml'}")
    return 0


def bring_up(ledger: Ledger, topo: Topology, mode: str, out: Path, *, policy: bool = False) -> None:
    labdir = RUN / f"fi-lab-{topo.lab}"
    ledger.claim("path", labdir.exists(), str(labdir), path=str(labdir))
    labdir.mkdir(mode=0o755, exist_ok=True)
    wire(ledger, topo)
    ports, users = start_switches(ledger, topo, labdir, _own_dir(ledger, out / "ssh"), policy=policy)
    pod_ips = add_pods(ledger, topo, labdir)
    if mode == "bgp":
        start_node_speakers(ledger, topo, labdir)
    wait_for_underlay(topo)
    ledger.record("lab", mode=mode, out=str(out), ports=ports, pods=pod_ips, policy=policy)
    write_outputs(ledger, topo, mode, out, ports, users, pod_ips, policy=policy)


def start_switches(ledger: Ledger, topo: Topology, labdir: Path, ssh: Path, *,
                   policy: bool = False) -> tuple[dict[str, int], dict[str, str]]:
    """FRR, login user and sshd per switch; the client key and known_hosts go to `ssh`.

    With `policy` the leaves get the bash login, whose user may run `sudo vtysh` and `sudo nft`."""
    key = ssh / "lab_ed25519"
    for path in (key, ssh / "lab_ed25519.pub", ssh / "known_hosts"):
        ledger.claim("path", path.exists(), str(path), path=str(path))
    lab_ssh.client_key(key)
    ports, users, known = {}, {}, []
    for switch in topo.switches:
        enforcing = policy and switch.role == "leaf"
        config = lab_frr.fabric_switch_config(lab_frr.Instance(topo.netns(switch.name), switch.name),
                                              switch.asn, switch.loopback, list(switch.uplinks))
        ports[switch.name] = free_port()
        users[switch.name], line = start_switch(
            ledger, name=switch.name, netns=topo.netns(switch.name), rundir=labdir / switch.name, config=config,
            login="bash" if enforcing else "vtysh", client_key=key, port=ports[switch.name], nft=enforcing)
        known.append(line)
    write_file(ssh / "known_hosts", "\n".join(known) + "\n")
    return ports, users


def _own_dir(ledger: Ledger, path: Path) -> Path:
    """A folder for the lab's files; recorded for removal only if the lab creates it."""
    for parent in reversed([path, *path.parents]):
        if not parent.exists():
            ledger.record("path", path=str(parent))
            parent.mkdir()
    return path


def _write_owned(ledger: Ledger, path: Path, document: Any) -> None:
    ledger.claim("path", path.exists(), str(path), path=str(path))
    write_file(path, _yaml(document))


def _yaml(document: Any) -> str:
    """YAML with PyYAML (it comes with fabric-intent); without it (a bare `sudo python3`) JSON, which is YAML too."""
    try:
        import yaml
    except ImportError:
        return json.dumps(document, indent=2) + "\n"
    return str(yaml.safe_dump(document, sort_keys=False, default_flow_style=False))


def _load_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        return json.loads(path.read_text())
    return yaml.safe_load(path.read_text())


def write_outputs(ledger: Ledger, topo: Topology, mode: str, out: Path, ports: dict[str, int],
                  users: dict[str, str], pod_ips: dict[str, str], *, policy: bool = False) -> None:
    cluster = _own_dir(ledger, out / "cluster")
    _write_owned(ledger, out / "fabric.yaml", lab_snapshot.inventory(topo, mode, ports, users, policy=policy))
    _write_owned(ledger, cluster / "namespaces.yaml", lab_snapshot.namespaces())
    _write_owned(ledger, cluster / "nodes.yaml", lab_snapshot.nodes(topo))
    _write_owned(ledger, cluster / "pods.yaml", lab_snapshot.pods(topo, pod_ips))


# --- the data plane -----------------------------------------------------------------------------

def wire(ledger: Ledger, topo: Topology) -> None:
    """Namespaces and veths; every veth is made inside its two namespaces, none in the root one."""
    for name in [s.name for s in topo.switches] + [n.name for n in topo.nodes]:
        ledger.claim("netns", netns_exists(topo.netns(name)), f"network namespace {topo.netns(name)}",
                     name=topo.netns(name))
        add_netns(topo.netns(name), forwarding=True)
    for s, spine in enumerate(topo.spines, start=1):
        for lf, leaf in enumerate(topo.leaves, start=1):
            _veth(topo.netns(spine.name), f"swp{lf}", topo.netns(leaf.name), f"swp{s}")
    for leaf in topo.leaves:
        ns = topo.netns(leaf.name)
        run("ip", "-n", ns, "link", "add", "br-nodes", "type", "bridge")
        run("ip", "-n", ns, "addr", "add", topo.rack_gateway(leaf), "dev", "br-nodes")
        run("ip", "-n", ns, "link", "set", "br-nodes", "up")
    for node in topo.nodes:
        _attach_node(topo, node)


def _veth(ns_a: str, port_a: str, ns_b: str, port_b: str) -> None:
    run("ip", "link", "add", port_a, "netns", ns_a, "type", "veth", "peer", "name", port_b, "netns", ns_b)
    run("ip", "-n", ns_a, "link", "set", port_a, "up")
    run("ip", "-n", ns_b, "link", "set", port_b, "up")


def _attach_node(topo: Topology, node: LabNode) -> None:
    leaf_ns, node_ns = topo.netns(node.leaf), topo.netns(node.name)
    _veth(leaf_ns, node.leaf_port, node_ns, "eth0")
    run("ip", "-n", leaf_ns, "link", "set", node.leaf_port, "master", "br-nodes")
    run("ip", "-n", node_ns, "addr", "add", f"{node.address}/24", "dev", "eth0")
    run("ip", "-n", node_ns, "route", "add", "default", "via", node.gateway)


def add_pods(ledger: Ledger, topo: Topology, labdir: Path) -> dict[str, str]:
    """Every pod through the CNI bridge plugin; nodes in parallel, a node's pods in order."""
    confs = {n.name: lab_cni.write_network(labdir / "cni" / f"{n.name}.conf", n.pod_cidr,
                                           labdir / "cni" / f"ipam-{n.name}") for n in topo.nodes}
    for pod in topo.pods:
        ledger.claim("netns", netns_exists(topo.netns(pod.name)), f"network namespace {topo.netns(pod.name)}",
                     name=topo.netns(pod.name))
        ledger.record("pod", netns=topo.netns(pod.name), node_netns=topo.netns(pod.node), container_id=pod.name,
                      conf=str(confs[pod.node]))
        add_netns(topo.netns(pod.name))

    def node_pods(node: LabNode) -> list[tuple[str, str]]:
        return [(p.name, lab_cni.add_pod(topo.netns(node.name), topo.netns(p.name), p.name, confs[node.name]))
                for p in topo.pods if p.node == node.name]

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pair for pairs in pool.map(node_pods, topo.nodes) for pair in pairs)


def start_node_speakers(ledger: Ledger, topo: Topology, labdir: Path) -> None:
    """BGP mode: each node runs FRR announcing its podCIDR to its leaf (which fabric-intent configures)."""
    for node in topo.nodes:
        inst = lab_frr.Instance(topo.netns(node.name), node.name)
        leaf = next(s for s in topo.leaves if s.name == node.leaf)
        config = lab_frr.node_config(inst, node.asn, node.address, node.gateway, leaf.asn, node.pod_cidr)
        ledger.claim("frr", lab_frr.taken(inst), f"FRR instance {inst.pathspace}", pathspace=inst.pathspace,
                     hostname=inst.hostname)
        lab_frr.write_instance(inst, config, labdir / "uts-wrap")
        lab_frr.start(inst)
    for node in topo.nodes:
        wait_configured(topo.netns(node.name))


def wait_for_underlay(topo: Topology, timeout: float = 60) -> float:
    """Until every leaf-spine session is up and every leaf has every other leaf's loopback."""
    def converged() -> bool:
        sessions = all(lab_frr.bgp_established(topo.netns(s.name), len(s.uplinks)) for s in topo.switches)
        return sessions and all(_has_route(topo.netns(a.name), b.loopback)
                                for a in topo.leaves for b in topo.leaves if a != b)
    return wait_for("the leaf-spine BGP sessions", converged, timeout=timeout, every=0.25)


def _has_route(netns: str, address: str) -> bool:
    return any(line.startswith(f"{address} ") for line in run("ip", "-n", netns, "route").splitlines())


# --- down and status ----------------------------------------------------------------------------

def down(name: str) -> int:
    ledger = Ledger(ledger_path(name))
    if not ledger.entries:
        print(f"lab {name} is not up; nothing to remove")
        ledger.path.unlink(missing_ok=True)
        return 0
    start = time.monotonic()
    problems = teardown(ledger)
    for problem in problems:
        print(f"lab: could not remove {problem}")
    print(f"lab {name} {'partly ' if problems else ''}removed in {time.monotonic() - start:.1f} s")
    return 1 if problems else 0


def down_all() -> int:
    """Tear down every lab and lone switch whose ledger is in /run (after a test run was killed, say)."""
    names = [p.stem.removeprefix("fi-lab-") for p in sorted(RUN.glob("fi-lab-*.json"))]
    return max([down(name) for name in names], default=0)


def status(name: str | None = None) -> int:
    """What runs, per lab: namespaces, FRR instances, sshds, BGP sessions, pods."""
    ledgers = [ledger_path(name)] if name else sorted(RUN.glob("fi-lab-*.json"))
    found = [Ledger(p) for p in ledgers if p.exists()]
    if not found:
        print("no lab is up")
        return 0
    for ledger in found:
        print("\n".join(describe(ledger)))
    return 0


def describe(ledger: Ledger) -> list[str]:
    meta = next(iter(ledger.of_kind("lab")), {})
    lab = ledger.path.stem.removeprefix("fi-lab-")
    if meta:
        enforcing = ", policy on the leaves" if meta.get("policy") else ""
        lines = [f"lab {lab}: {meta['mode']} mode{enforcing}, inventory {meta['out']}/fabric.yaml"]
    else:
        lines = [f"{lab}: lone switch (or a lab still coming up)"]
    ports = meta.get("ports", {})
    sshds = {Path(e["config"]).parent.parent.name: lab_ssh.sshd_running(Path(e["pidfile"]), e["config"])
             for e in ledger.of_kind("sshd")}
    for entry in ledger.of_kind("frr"):
        ps, host = entry["pathspace"], entry["hostname"]
        daemons = len(pids_matching("/usr/lib/frr/", f"-N {ps} "))
        up = sum(1 for p in _peers(ps) if p == "Established")
        ssh = f"  sshd 127.0.0.1:{ports.get(host, '?')} {'up' if sshds[host] else 'DOWN'}" if host in sshds else ""
        lines.append(f"  {host:<8} netns {ps:<16} frr {daemons} processes  bgp {up}/{len(_peers(ps))} up{ssh}")
    if meta:
        lines.append(f"  pods: {', '.join(f'{p} {ip}' for p, ip in meta['pods'].items()) or '-'}")
    missing = [e["name"] for e in ledger.of_kind("netns") if not netns_exists(e["name"])]
    if missing:
        lines.append(f"  missing namespaces: {', '.join(missing)}")
    return lines


def check(out: Path, wait: float = 0.0) -> int:
    """Ping every pod from every pod and ask each destination whom it saw; 0 if all reach all without NAT."""
    import lab_probe

    pods = lab_probe.endpoints([_load_yaml(out / "cluster" / "pods.yaml")])
    reach = lab_probe.ping_matrix(pods, wait=wait)
    seen = lab_probe.seen_sources(pods, [pair for pair, ok in reach.items() if ok])
    ips = {p.name: p.ip for p in pods}
    translated = {pair: who for pair, who in seen.items() if who != ips[pair[0]]}
    failed = sorted(pair for pair, ok in reach.items() if not ok)
    for src, dst in failed[:10]:
        print(f"  {src} -> {dst}: no answer")
    if len(failed) > 10:
        print(f"  ... and {len(failed) - 10} more pairs without an answer")
    for (src, dst), who in sorted(translated.items()):
        print(f"  {src} -> {dst}: destination saw {who}, not {ips[src]}")
    print(f"{sum(reach.values())}/{len(reach)} pod pairs reach each other; "
          f"{len(translated)} of them translated (NAT)")
    return 0 if all(reach.values()) and not translated else 1


def _peers(pathspace: str) -> list[str]:
    try:
        summary = json.loads(lab_frr.vtysh(pathspace, "show bgp ipv4 unicast summary json") or "{}")
    except (LabError, ValueError):
        return []
    return [str(p.get("state")) for p in summary.get("peers", {}).values()]

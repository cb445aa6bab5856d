"""What the lab writes for fabric-intent: the fabric inventory and a kubectl-style cluster snapshot.

Every Node and Pod carries the annotation `fabric-intent.lab/netns` naming its network namespace,
so any tool can test reachability from it (`ip netns exec <netns> ping ...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab_topology import NODE_ASN_BASE, POD_NAMESPACE, Topology

NETNS_ANNOTATION = "fabric-intent.lab/netns"
RACK_LABEL = "topology.kubernetes.io/zone"
KEY_FILE = "ssh/lab_ed25519"  # relative to the inventory's folder, like every path in it
KNOWN_HOSTS = "ssh/known_hosts"


POLICY_RULE_BUDGET = 1000


def inventory(topo: Topology, mode: str, ports: Mapping[str, int], users: Mapping[str, str], *,
              policy: bool = False) -> dict[str, Any]:
    """The fabric inventory: every switch on driver frr over SSH to 127.0.0.1, key auth, host keys verified.

    With `policy` the leaves enforce NetworkPolicy: they log in to a Linux shell (`sudo vtysh`, `sudo nft`)."""
    document: dict[str, Any] = {
        "fabric": topo.lab, "cluster": topo.lab, "vrf": "default",
        "routing": {"mode": mode, "route_tag": 64512, "redistribute_static": True},
        "bgp": {"node_asn": {"scheme": "per-node", "base": NODE_ASN_BASE}, "max_prefix": 10},
        "rack_label": RACK_LABEL,
        "racks": [{"name": f"rack{i}", "leaves": [leaf.name], "node_subnets": [topo.rack_subnet(leaf)]}
                  for i, leaf in enumerate(topo.leaves, start=1)],
        "switches": [_switch(s.name, s.role, s.asn, s.loopback, ports[s.name], users[s.name])
                     for s in topo.switches],
        "drivers": {"frr": {"known_hosts": KNOWN_HOSTS}},
    }
    if policy:
        for entry in document["switches"]:
            if entry["role"] == "leaf":
                entry["options"] = {"login": "shell"}
        document["policy"] = {"enforce_on": [leaf.name for leaf in topo.leaves], "rule_budget": POLICY_RULE_BUDGET}
    return document


def _switch(name: str, role: str, asn: int, loopback: str, port: int, user: str) -> dict[str, Any]:
    return {"name": name, "role": role, "driver": "frr", "platform": "frr", "asn": asn, "loopback": loopback,
            "management": {"host": "127.0.0.1", "port": port},
            "credentials": {"username": user, "private_key": {"file": KEY_FILE}}}


def _meta(name: str, netns: str, namespace: str | None = None, labels: Mapping[str, str] | None = None
          ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "annotations": {NETNS_ANNOTATION: netns}, "labels": dict(labels or {})}
    if namespace:
        meta["namespace"] = namespace
    return meta


def nodes(topo: Topology) -> dict[str, Any]:
    """A NodeList: podCIDRs, the node's fabric address (InternalIP), its rack label, Ready."""
    items = [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": _meta(n.name, topo.netns(n.name), labels={RACK_LABEL: n.rack, "kubernetes.io/hostname": n.name}),
        "spec": {"podCIDR": n.pod_cidr, "podCIDRs": [n.pod_cidr]},
        "status": {"addresses": [{"type": "InternalIP", "address": n.address}, {"type": "Hostname", "address": n.name}],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
    } for n in topo.nodes]
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def pods(topo: Topology, pod_ips: Mapping[str, str]) -> dict[str, Any]:
    """A List of Pods with the IPs the CNI plugin gave them."""
    items = [{
        "apiVersion": "v1", "kind": "Pod",
        "metadata": _meta(p.name, topo.netns(p.name), POD_NAMESPACE, {"app": "lab"}),
        "spec": {"nodeName": p.node, "containers": [{"name": "main", "image": "lab"}]},
        "status": {"phase": "Running", "podIP": pod_ips[p.name], "podIPs": [{"ip": pod_ips[p.name]}]},
    } for p in topo.pods]
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def namespaces() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": POD_NAMESPACE}}]}

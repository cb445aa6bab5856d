"""The lab's topology and addressing, as plain data (no I/O).

    spineS (AS 65000, lo 10.0.0.S)      unnumbered eBGP on every leaf-spine link (spineS:swpL <-> leafL:swpS)
    leafL  (AS 6510L, lo 10.0.1.L)      rack L: bridge br-nodes 192.168.L.1/24, one port per node
    node   192.168.L.(10+k)             eth0 on leafL's bridge, default via 192.168.L.1
           podCIDR 10.244.N.0/24        cni0 10.244.N.1, pods from host-local; BGP mode: AS 64600+10+k
    pod    10.244.N.x                   own namespace, eth0 on the node's cni0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPINE_ASN = 65000
LEAF_ASN_BASE = 65100
NODE_ASN_BASE = 64600  # bgp.node_asn scheme per-node: base + the node address's offset in its rack subnet
NODE_OFFSET = 10  # node k of a rack is 192.168.L.(10+k)
POD_NAMESPACE = "lab"


@dataclass(frozen=True)
class FabricSwitch:
    name: str
    role: str  # spine or leaf
    asn: int
    loopback: str
    uplinks: tuple[str, ...]  # ports towards the other tier (unnumbered eBGP)


@dataclass(frozen=True)
class LabNode:
    name: str
    index: int  # N: podCIDR 10.244.N.0/24
    rack: str
    leaf: str
    leaf_port: str
    address: str
    gateway: str
    asn: int

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"


@dataclass(frozen=True)
class LabPod:
    name: str
    node: str


@dataclass(frozen=True)
class Topology:
    lab: str  # prefix of every namespace and user
    spines: tuple[FabricSwitch, ...]
    leaves: tuple[FabricSwitch, ...]
    nodes: tuple[LabNode, ...]
    pods: tuple[LabPod, ...]

    def netns(self, name: str) -> str:
        """The network namespace of a switch, node or pod (also the FRR pathspace and login user)."""
        return f"{self.lab}-{name}"

    @property
    def switches(self) -> tuple[FabricSwitch, ...]:
        return self.spines + self.leaves

    def node(self, name: str) -> LabNode:
        return next(n for n in self.nodes if n.name == name)

    def rack_subnet(self, leaf: FabricSwitch) -> str:
        return f"192.168.{self.leaves.index(leaf) + 1}.0/24"

    def rack_gateway(self, leaf: FabricSwitch) -> str:
        """The leaf's address on its rack bridge, with the prefix length."""
        return f"192.168.{self.leaves.index(leaf) + 1}.1/24"


def build(lab: str, *, spines: int = 2, leaves: int = 2, nodes_per_leaf: int = 2, pods_per_node: int = 2) -> Topology:
    """The lab's topology; every count is checked so addresses stay valid."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", lab):
        raise ValueError(f"lab name {lab!r}: 1-12 lowercase letters and digits, starting with a letter "
                         "(it prefixes namespace and user names)")
    if not (1 <= spines <= 9 and 1 <= leaves <= 9 and 1 <= nodes_per_leaf <= 50 and 1 <= pods_per_node <= 50):
        raise ValueError("spines and leaves: 1-9; nodes per leaf and pods per node: 1-50")
    spine_list = tuple(FabricSwitch(f"spine{s}", "spine", SPINE_ASN, f"10.0.0.{s}",
                                    tuple(f"swp{leaf}" for leaf in range(1, leaves + 1)))
                       for s in range(1, spines + 1))
    leaf_list = tuple(FabricSwitch(f"leaf{leaf}", "leaf", LEAF_ASN_BASE + leaf, f"10.0.1.{leaf}",
                                   tuple(f"swp{s}" for s in range(1, spines + 1)))
                      for leaf in range(1, leaves + 1))
    nodes = tuple(_node(leaf, k, (leaf - 1) * nodes_per_leaf + k, spines)
                  for leaf in range(1, leaves + 1) for k in range(1, nodes_per_leaf + 1))
    pods = tuple(LabPod(f"{n.name}-pod{m}", n.name) for n in nodes for m in range(1, pods_per_node + 1))
    return Topology(lab, spine_list, leaf_list, nodes, pods)


def _node(leaf: int, k: int, index: int, spines: int) -> LabNode:
    host = NODE_OFFSET + k
    return LabNode(name=f"node{index}", index=index, rack=f"rack{leaf}", leaf=f"leaf{leaf}",
                   leaf_port=f"swp{spines + k}", address=f"192.168.{leaf}.{host}", gateway=f"192.168.{leaf}.1",
                   asn=NODE_ASN_BASE + host)

"""Service VIPs: which LoadBalancer IPs the fabric announces, and from which nodes.

Route health injection: a VIP is announced only from nodes that serve it: with
`externalTrafficPolicy: Local`, nodes with a ready endpoint (per EndpointSlices); with `Cluster`,
the same by default, or every attached Ready node (`vips.cluster_policy_nodes: all`). A VIP outside
`vips.pools` is not announced (a warning); one inside a pod subnet refuses the input.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from intent.cluster import ClusterSnapshot, Service
from intent.errors import Findings
from intent.inventory import FabricInventory
from intent.model import NodeAttachment, ServiceVip, SourceRef
from intent.subnets import SubnetIndex

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Announcement:
    """A service VIP one node announces (or is the next hop for)."""

    address: IPAddress
    provenance: tuple[SourceRef, ...]
    # The address as a host route; given once per VIP, as parsing one per node and VIP adds up.
    prefix: IPNetwork | None = field(default=None, compare=False)

    @property
    def network(self) -> IPNetwork:
        return self.prefix if self.prefix is not None else ipaddress.ip_network(self.address)


def announcements(cluster: ClusterSnapshot, inventory: FabricInventory, attached: Mapping[str, NodeAttachment],
                  subnets: SubnetIndex, findings: Findings) -> tuple[list[ServiceVip], dict[str, list[Announcement]]]:
    """Service VIPs and, per node, the VIPs it announces (route health injection)."""
    by_vip: dict[IPAddress, list[VipUser]] = defaultdict(list)
    for key in sorted(cluster.services):
        for address, user in service_users(cluster, inventory, cluster.services[key], attached, subnets, findings):
            by_vip[address].append(user)
    vips: list[ServiceVip] = []
    per_node: dict[str, list[Announcement]] = defaultdict(list)
    for address in sorted(by_vip, key=lambda a: (a.version, int(a))):
        vip = merge_vip(address, by_vip[address], attached, findings)
        if vip is None:
            continue
        vips.append(vip)
        host = ipaddress.ip_network(address)
        for node in vip.nodes:
            per_node[node].append(Announcement(address, vip.provenance, host))
    return vips, per_node


#: One Service asking for a VIP: the Service, the nodes that serve it, and why.
VipUser = tuple[Service, tuple[str, ...], tuple[SourceRef, ...]]


def service_users(cluster: ClusterSnapshot, inventory: FabricInventory, service: Service,
                  attached: Mapping[str, NodeAttachment], subnets: SubnetIndex,
                  findings: Findings) -> list[tuple[IPAddress, VipUser]]:
    """The LoadBalancer IPs one Service may have announced, each with its `VipUser` entry."""
    if not inventory.vips.advertise or service.type != "LoadBalancer" or not service.load_balancer_ips:
        return []
    nodes, refs = _serving_nodes(cluster, inventory, service, attached)
    user = (service, nodes, refs)
    return [(a, user) for a in service.load_balancer_ips if _vip_allowed(a, service, inventory, subnets, findings)]


def _vip_allowed(address: IPAddress, service: Service, inventory: FabricInventory, subnets: SubnetIndex,
                 findings: Findings) -> bool:
    name = f"Service {service.namespace}/{service.name}"
    inside = subnets.find(address)
    if inside is not None:
        findings.problems.append(
            f"{name}: LoadBalancer IP {address} is inside pod subnet {inside[0]} of Node {inside[1]}")
        return False
    pools = inventory.vips.pools
    if pools and not any(address.version == p.version and address in p for p in pools):
        findings.warnings.append(f"{name}: LoadBalancer IP {address} is outside vips.pools; not announced")
        return False
    return True


def _serving_nodes(cluster: ClusterSnapshot, inventory: FabricInventory, service: Service,
                   attached: Mapping[str, NodeAttachment]) -> tuple[tuple[str, ...], tuple[SourceRef, ...]]:
    ingress = SourceRef(kind="Service", namespace=service.namespace, name=service.name,
                        field="status.loadBalancer.ingress",
                        detail=f"externalTrafficPolicy {service.external_traffic_policy}")
    if service.external_traffic_policy == "Cluster" and inventory.vips.cluster_policy_nodes == "all":
        every = SourceRef(kind="FabricInventory", name=inventory.fabric, field="vips.cluster_policy_nodes",
                          detail="all: every attached Ready node")
        return tuple(sorted(n for n in attached if cluster.nodes[n].ready)), (ingress, every)
    nodes: set[str] = set()
    refs = [ingress]
    for eps in cluster.slices_for(service.namespace, service.name):
        ready = {e.node_name for e in eps.endpoints if e.ready and e.node_name}
        if ready:
            nodes |= ready
            refs.append(SourceRef(kind="EndpointSlice", namespace=eps.namespace, name=eps.name, field="endpoints",
                                  detail="ready on " + ", ".join(sorted(ready))))
    return tuple(sorted(n for n in nodes if n in attached)), tuple(refs)


def merge_vip(address: IPAddress, users: list[VipUser], attached: Mapping[str, NodeAttachment],
              findings: Findings) -> ServiceVip | None:
    """The VIP one address makes from every Service using it (in Service key order), or None."""
    services = [f"{s.namespace}/{s.name}" for s, _, _ in users]
    nodes = tuple(sorted({n for _, ns, _ in users for n in ns}))
    if not nodes:
        findings.warnings.append(f"Service {services[0]}: LoadBalancer IP {address} has no ready endpoint on an "
                                 "attached node; not announced")
        return None
    local = any(s.external_traffic_policy == "Local" for s, _, _ in users)
    leaves = tuple(sorted({leaf for n in nodes for leaf in attached[n].leaves}))
    return ServiceVip(address=address, service=", ".join(services), traffic_policy="Local" if local else "Cluster",
                      nodes=nodes, leaves=leaves, provenance=tuple(r for _, _, refs in users for r in refs))

"""cluster snapshot + fabric inventory -> intent graph. One pure, deterministic function.

`build_intent` is composed of per-object steps (`attach_node`, `announcements`, `node_objects`)
so that an incremental builder can redo only the part one Kubernetes event touches.
Input that cannot be made into a safe fabric is refused with every problem listed.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from intent.cluster import ClusterSnapshot, Node, Service
from intent.errors import IntentError
from intent.inventory import FabricInventory, Rack
from intent.model import (
    APPLY_ORDER, DESCRIPTION_PREFIX, NAME_PREFIX, BgpPeering, IntentGraph, IntentObject, NodeAttachment,
    PodSubnet, PrefixList, PrefixListEntry, ServiceVip, SourceRef, StaticRoute, Vrf,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Announcement:
    """A service VIP one node announces (or is the next hop for)."""

    address: IPAddress
    provenance: tuple[SourceRef, ...]


@dataclass
class Findings:
    """Problems (refuse the input) and warnings (build anyway, tell the operator)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def node_ref(node: str, fld: str | None = None, detail: str | None = None) -> SourceRef:
    return SourceRef(kind="Node", name=node, field=fld, detail=detail)


def _racks_by_label(inventory: FabricInventory) -> dict[str, Rack]:
    return {rack.label_value or rack.name: rack for rack in inventory.racks}


def attach_node(node: Node, inventory: FabricInventory, findings: Findings,
                racks_by_label: Mapping[str, Rack] | None = None) -> NodeAttachment | None:
    """Where a node hangs off the fabric and its fabric-facing IP, or None (with a finding)."""
    explicit = next((a for a in inventory.attachments if a.node == node.name), None)
    label = inventory.rack_label
    provenance: list[SourceRef] = []
    if explicit is not None:
        rack = inventory.rack(explicit.rack)
        provenance.append(SourceRef(kind="FabricInventory", name=inventory.fabric, field=f"attachments[{node.name}]"))
    else:
        value = node.labels.get(label) if label else None
        rack = (racks_by_label or _racks_by_label(inventory)).get(value) if value is not None else None
        if rack is None:
            how = f"label {label}={value!r} matches no rack" if value is not None else f"has no label {label}"
            message = f"Node {node.name}: not attached to the fabric ({how}, and no explicit attachment)"
            (findings.problems if inventory.unattached_nodes == "error" else findings.warnings).append(message)
            return None
        provenance.append(node_ref(node.name, f"metadata.labels[{label}]"))
    address = explicit.address if explicit is not None and explicit.address is not None else None
    if address is None:
        address = _node_address(node, inventory.node_address.types, findings)
        if address is None:
            return None
        provenance.append(node_ref(node.name, "status.addresses"))
    if not any(address.version == net.version and address in net for net in rack.node_subnets):
        subnets = ", ".join(str(n) for n in rack.node_subnets)
        findings.problems.append(f"Node {node.name}: address {address} is outside rack {rack.name} subnet(s) {subnets}")
        return None
    return NodeAttachment(node=node.name, rack=rack.name, address=address, leaves=rack.leaves,
                          routing_mode=inventory.routing_mode(rack), provenance=tuple(provenance))


def _node_address(node: Node, types: Iterable[str], findings: Findings) -> IPAddress | None:
    for wanted in types:
        for kind, value in node.addresses:
            if kind == wanted:
                try:
                    return ipaddress.ip_address(value)
                except ValueError:
                    findings.problems.append(f"Node {node.name}: status.addresses {kind} {value!r} is not an IP address")
                    return None
    findings.problems.append(f"Node {node.name}: no status.addresses entry of type {', '.join(types)}")
    return None


def check_pod_subnets(nodes: Iterable[Node]) -> list[str]:
    """Duplicate or overlapping podCIDRs across nodes, each named once."""
    ranked = sorted(
        ((net.version, int(net.network_address), int(net.broadcast_address), str(net), n.name)
         for n in nodes for net in n.pod_cidrs),
    )
    problems: list[str] = []
    reach: tuple[int, int, str, str] | None = None  # (version, last address, cidr, node) furthest so far
    for version, first, last, cidr, name in ranked:
        if reach is not None and reach[0] == version and first <= reach[1]:
            what = "duplicates" if cidr == reach[2] else "overlaps"
            problems.append(f"Node {name}: podCIDR {cidr} {what} {reach[2]} of Node {reach[3]}")
        if reach is None or reach[0] != version or last > reach[1]:
            reach = (version, last, cidr, name)
    return problems


class SubnetIndex:
    """Sorted pod subnets answering 'which subnet holds this address' in O(log n).

    Pod subnets never overlap in a graph that builds, so the subnet starting last at or before
    an address is the only candidate.
    """

    def __init__(self, nodes: Iterable[Node]) -> None:
        self._rows: dict[int, list[tuple[int, int, str, str]]] = {4: [], 6: []}
        for n in nodes:
            for c in n.pod_cidrs:
                self._rows[c.version].append((int(c.network_address), int(c.broadcast_address), str(c), n.name))
        for rows in self._rows.values():
            rows.sort()
        self._starts = {v: [r[0] for r in rows] for v, rows in self._rows.items()}

    def find(self, address: IPAddress) -> tuple[str, str] | None:
        """(cidr, node) of the pod subnet holding `address`, if any."""
        value, rows = int(address), self._rows[address.version]
        i = bisect.bisect_right(self._starts[address.version], value) - 1
        if i >= 0 and rows[i][0] <= value <= rows[i][1]:
            return rows[i][2], rows[i][3]
        return None


def announcements(cluster: ClusterSnapshot, inventory: FabricInventory, attached: Mapping[str, NodeAttachment],
                  subnets: SubnetIndex, findings: Findings) -> tuple[list[ServiceVip], dict[str, list[Announcement]]]:
    """Service VIPs and, per node, the VIPs it announces (route health injection)."""
    by_vip: dict[IPAddress, list[tuple[Service, tuple[str, ...], tuple[SourceRef, ...]]]] = defaultdict(list)
    if inventory.vips.advertise:
        for key in sorted(cluster.services):
            service = cluster.services[key]
            if service.type != "LoadBalancer" or not service.load_balancer_ips:
                continue
            nodes, refs = _serving_nodes(cluster, inventory, service, attached)
            for address in service.load_balancer_ips:
                if _vip_allowed(address, service, inventory, subnets, findings):
                    by_vip[address].append((service, nodes, refs))
    vips: list[ServiceVip] = []
    per_node: dict[str, list[Announcement]] = defaultdict(list)
    for address in sorted(by_vip, key=lambda a: (a.version, int(a))):
        vip = _merge_vip(address, by_vip[address], attached, findings)
        if vip is None:
            continue
        vips.append(vip)
        for node in vip.nodes:
            per_node[node].append(Announcement(address, vip.provenance))
    return vips, per_node


def _vip_allowed(address: IPAddress, service: Service, inventory: FabricInventory, subnets: SubnetIndex,
                 findings: Findings) -> bool:
    name = f"Service {service.namespace}/{service.name}"
    inside = subnets.find(address)
    if inside is not None:
        findings.problems.append(f"{name}: LoadBalancer IP {address} is inside pod subnet {inside[0]} of Node {inside[1]}")
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
        return tuple(sorted(attached)), (ingress,)
    nodes: set[str] = set()
    refs = [ingress]
    for eps in cluster.slices_for(service.namespace, service.name):
        ready = {e.node_name for e in eps.endpoints if e.ready and e.node_name}
        if ready:
            nodes |= ready
            refs.append(SourceRef(kind="EndpointSlice", namespace=eps.namespace, name=eps.name, field="endpoints",
                                  detail="ready on " + ", ".join(sorted(ready))))
    return tuple(sorted(n for n in nodes if n in attached)), tuple(refs)


def _merge_vip(address: IPAddress, users: list[tuple[Service, tuple[str, ...], tuple[SourceRef, ...]]],
               attached: Mapping[str, NodeAttachment], findings: Findings) -> ServiceVip | None:
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


def node_asn(att: NodeAttachment, inventory: FabricInventory) -> int:
    """The node's BGP ASN by the inventory's scheme; per-node is base + offset in the rack subnet (stable)."""
    scheme = inventory.bgp.node_asn
    if scheme.scheme == "per-rack":
        return inventory.rack(att.rack).node_asn or 0
    if scheme.scheme == "per-node":
        subnet = next(n for n in inventory.rack(att.rack).node_subnets if att.address in n)
        return (scheme.base or 0) + int(att.address) - int(subnet.network_address)
    return scheme.asn or 0


def prefix_list_name(node: str) -> str:
    return f"{NAME_PREFIX}NODE-{node}"


def node_objects(node: Node, att: NodeAttachment, vips: list[Announcement], inventory: FabricInventory,
                 findings: Findings) -> list[IntentObject]:
    """Everything one attached node brings to the fabric: its pod subnets and their routes or peering."""
    cidr_ref = node_ref(node.name, "spec.podCIDRs")
    objects: list[IntentObject] = [
        PodSubnet(node=node.name, prefix=c, leaves=att.leaves, provenance=(cidr_ref,)) for c in node.pod_cidrs
    ]
    objects.append(att)
    if att.routing_mode == "bgp":
        objects += _bgp_objects(node, att, vips, inventory, findings)
    else:
        objects += _static_objects(node, att, vips, inventory)
    return objects


def _static_objects(node: Node, att: NodeAttachment, vips: list[Announcement],
                    inventory: FabricInventory) -> list[IntentObject]:
    hop = node_ref(node.name, "status.addresses", f"next hop {att.address}")
    routes = [(c, (node_ref(node.name, "spec.podCIDRs"), hop)) for c in node.pod_cidrs]
    routes += [(ipaddress.ip_network(v.address), v.provenance) for v in vips if v.address.version == att.address.version]
    return [
        StaticRoute(device=leaf, vrf=inventory.vrf, prefix=prefix, next_hop=att.address,
                    tag=inventory.routing.route_tag, provenance=refs)
        for leaf in att.leaves for prefix, refs in routes
    ]


def _bgp_objects(node: Node, att: NodeAttachment, vips: list[Announcement], inventory: FabricInventory,
                 findings: Findings) -> list[IntentObject]:
    prefixes = list(node.pod_cidrs) + [ipaddress.ip_network(v.address) for v in vips]
    if len(prefixes) > inventory.bgp.max_prefix:
        findings.problems.append(f"Node {node.name}: would announce {len(prefixes)} prefixes but bgp.max_prefix is "
                                 f"{inventory.bgp.max_prefix}; the session would be torn down")
    entries = tuple(PrefixListEntry(seq=10 * (i + 1), prefix=p) for i, p in enumerate(prefixes))
    name = prefix_list_name(node.name)
    list_refs = (node_ref(node.name, "spec.podCIDRs"),) + tuple(r for v in vips for r in v.provenance)
    peer_refs = (node_ref(node.name, "status.addresses", f"neighbor {att.address}"),)
    objects: list[IntentObject] = []
    for leaf in att.leaves:
        objects.append(PrefixList(device=leaf, name=name, entries=entries, provenance=list_refs))
        objects.append(BgpPeering(
            device=leaf, vrf=inventory.vrf, neighbor=att.address, remote_as=node_asn(att, inventory),
            local_as=inventory.switch(leaf).asn, description=f"{DESCRIPTION_PREFIX} node {node.name}",
            prefix_list=name, max_prefix=inventory.bgp.max_prefix,
            authenticated=inventory.bgp.password is not None, provenance=peer_refs,
        ))
    return objects


def vrf_objects(inventory: FabricInventory, leaves: Iterable[str]) -> list[IntentObject]:
    """A VRF on every leaf that carries pod routes, unless the fabric uses the default table."""
    if inventory.vrf == "default":
        return []
    ref = SourceRef(kind="FabricInventory", name=inventory.fabric, field="vrf")
    return [Vrf(device=leaf, name=inventory.vrf, provenance=(ref,)) for leaf in sorted(set(leaves))]


def sort_key(obj: IntentObject) -> tuple[int, str]:
    return (APPLY_ORDER.get(getattr(obj, "kind", ""), -1), obj.key)


def build_intent(cluster: ClusterSnapshot, inventory: FabricInventory) -> IntentGraph:
    """The intent graph for `cluster` on the fabric `inventory` describes; raises IntentError if unsafe."""
    findings = Findings(problems=check_pod_subnets(cluster.nodes.values()))
    racks = _racks_by_label(inventory)
    attached: dict[str, NodeAttachment] = {}
    for name in sorted(cluster.nodes):
        node = cluster.nodes[name]
        att = attach_node(node, inventory, findings, racks)
        if att is not None:
            attached[name] = att
            if not node.pod_cidrs:
                findings.warnings.append(f"Node {name}: no spec.podCIDRs yet; nothing to route")
    vips, per_node = announcements(cluster, inventory, attached, SubnetIndex(cluster.nodes.values()), findings)
    objects: list[IntentObject] = list(vips)
    for name, att in attached.items():
        objects += node_objects(cluster.nodes[name], att, per_node.get(name, []), inventory, findings)
    objects += vrf_objects(inventory, (leaf for att in attached.values() for leaf in att.leaves))
    if findings.problems:
        raise IntentError(findings.problems)
    objects.sort(key=sort_key)
    return IntentGraph(fabric=inventory.fabric, cluster=inventory.cluster, objects=tuple(objects),
                       warnings=tuple(findings.warnings))

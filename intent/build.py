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
from operator import itemgetter

from intent.bulk import collector_paused
from intent.cluster import ClusterSnapshot, Node, Service
from intent.errors import IntentError
from intent.inventory import FabricInventory, Rack
from intent.model import (
    APPLY_ORDER,
    DESCRIPTION_PREFIX,
    NAME_PREFIX,
    BgpPeering,
    IntentGraph,
    IntentObject,
    NodeAttachment,
    PodSubnet,
    PrefixList,
    PrefixListEntry,
    ServiceVip,
    SourceRef,
    StaticRoute,
    Vrf,
)

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


@dataclass
class Findings:
    """Problems (refuse the input) and warnings (build anyway, tell the operator)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def node_ref(node: str, fld: str | None = None, detail: str | None = None) -> SourceRef:
    return SourceRef(kind="Node", name=node, field=fld, detail=detail)


def racks_by_label(inventory: FabricInventory) -> dict[str, Rack]:
    return {rack.label_value or rack.name: rack for rack in inventory.racks}


def attach_node(node: Node, inventory: FabricInventory, findings: Findings,
                racks: Mapping[str, Rack] | None = None) -> NodeAttachment | None:
    """Where a node hangs off the fabric and its fabric-facing IP, or None (with a finding)."""
    explicit = next((a for a in inventory.attachments if a.node == node.name), None)
    label = inventory.rack_label
    provenance: list[SourceRef] = []
    rack: Rack | None
    if explicit is not None:
        rack = inventory.rack(explicit.rack)
        provenance.append(SourceRef(kind="FabricInventory", name=inventory.fabric, field=f"attachments[{node.name}]"))
    else:
        value = node.labels.get(label) if label else None
        rack = (racks or racks_by_label(inventory)).get(value) if value is not None else None
        if rack is None:
            how = (f"label {label}={value!r} matches no rack" if value is not None
                   else f"has no label {label}" if label else "the inventory sets no rack_label")
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


def attach(node: Node, inventory: FabricInventory, findings: Findings,
           racks_by_label: Mapping[str, Rack] | None = None) -> NodeAttachment | None:
    """`attach_node`, and the warning for an attached node that has no pod subnet yet."""
    att = attach_node(node, inventory, findings, racks_by_label)
    if att is not None and not node.pod_cidrs:
        findings.warnings.append(f"Node {node.name}: no spec.podCIDRs yet; no pod subnet to route")
    return att


def _node_address(node: Node, types: Iterable[str], findings: Findings) -> IPAddress | None:
    for wanted in types:
        for kind, value in node.addresses:
            if kind == wanted:
                try:
                    return ipaddress.ip_address(value)
                except ValueError:
                    findings.problems.append(
                        f"Node {node.name}: status.addresses {kind} {value!r} is not an IP address")
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

    # -- incremental upkeep: one node's subnets in or out, O(log n) search plus a list insert ------
    @staticmethod
    def _row(node: str, cidr: IPNetwork) -> tuple[int, int, str, str]:
        return (int(cidr.network_address), int(cidr.broadcast_address), str(cidr), node)

    def overlapping(self, cidr: IPNetwork) -> tuple[str, str] | None:
        """(cidr, node) of an indexed subnet sharing an address with `cidr`, if any.

        In a non-overlapping index only the subnet starting last at or before `cidr`'s last address
        can reach into it.
        """
        first, last = int(cidr.network_address), int(cidr.broadcast_address)
        rows = self._rows[cidr.version]
        i = bisect.bisect_right(self._starts[cidr.version], last) - 1
        if i >= 0 and rows[i][1] >= first:
            return rows[i][2], rows[i][3]
        return None

    def add(self, node: Node) -> None:
        for cidr in node.pod_cidrs:
            row, rows = self._row(node.name, cidr), self._rows[cidr.version]
            i = bisect.bisect_left(rows, row)
            rows.insert(i, row)
            self._starts[cidr.version].insert(i, row[0])

    def discard(self, node: Node) -> None:
        for cidr in node.pod_cidrs:
            row, rows = self._row(node.name, cidr), self._rows[cidr.version]
            i = bisect.bisect_left(rows, row)
            if i < len(rows) and rows[i] == row:
                del rows[i], self._starts[cidr.version][i]


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
        objects += _static_objects(node, att, vips, inventory, findings)
    return objects


def _address_ref(att: NodeAttachment, detail: str) -> SourceRef:
    """Where the node's fabric address came from: Node .status.addresses, or an explicit attachment."""
    source = next((r for r in att.provenance if r.field == "status.addresses"), att.provenance[-1])
    return source.model_copy(update={"detail": detail})


def _family_address(node: Node, version: int, subnets: Iterable[IPNetwork], types: Iterable[str]) -> IPAddress | None:
    """A dual-stack node's address of the other IP family, inside its rack's subnets of that family."""
    for wanted in types:
        for kind, value in node.addresses:
            if kind != wanted:
                continue
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                continue
            if address.version == version and any(net.version == version and address in net for net in subnets):
                return address
    return None


def _next_hops(node: Node, att: NodeAttachment, inventory: FabricInventory,
               findings: Findings) -> dict[int, tuple[IPAddress, SourceRef]]:
    """Next hop per IP family: the attachment's address, and the node's address of the other family if needed."""
    hops: dict[int, tuple[IPAddress, SourceRef]] = {
        att.address.version: (att.address, _address_ref(att, f"next hop {att.address}"))}
    rack = inventory.rack(att.rack)
    for cidr in node.pod_cidrs:
        if cidr.version in hops:
            continue
        hop = _family_address(node, cidr.version, rack.node_subnets, inventory.node_address.types)
        if hop is None:
            findings.warnings.append(f"Node {node.name}: podCIDR {cidr} is IPv{cidr.version} but the node has no "
                                     f"IPv{cidr.version} address in rack {rack.name}; not routed")
        else:
            hops[cidr.version] = (hop, node_ref(node.name, "status.addresses", f"next hop {hop}"))
    return hops


def _static_objects(node: Node, att: NodeAttachment, vips: list[Announcement],
                    inventory: FabricInventory, findings: Findings) -> list[IntentObject]:
    hops = _next_hops(node, att, inventory, findings)
    routes: list[tuple[IPNetwork, IPAddress, tuple[SourceRef, ...]]]
    routes = [(c, hops[c.version][0], (node_ref(node.name, "spec.podCIDRs"), hops[c.version][1]))
              for c in node.pod_cidrs if c.version in hops]
    routes += [(v.network, hops[v.address.version][0], v.provenance)
               for v in vips if v.address.version in hops]
    return [
        StaticRoute(device=leaf, vrf=inventory.vrf, prefix=prefix, next_hop=hop,
                    tag=inventory.routing.route_tag, provenance=refs)
        for leaf in att.leaves for prefix, hop, refs in routes
    ]


def _bgp_objects(node: Node, att: NodeAttachment, vips: list[Announcement], inventory: FabricInventory,
                 findings: Findings) -> list[IntentObject]:
    prefixes = list(node.pod_cidrs) + [v.network for v in vips]
    if not prefixes:  # a session with nothing to accept; an empty prefix-list even permits all on some platforms
        return []
    remote_as = node_asn(att, inventory)
    if not 1 <= remote_as <= 4294967295:
        findings.problems.append(f"Node {node.name}: its BGP ASN by bgp.node_asn ({remote_as}) is outside 1-4294967295")
    if len(prefixes) > inventory.bgp.max_prefix:
        findings.problems.append(f"Node {node.name}: would announce {len(prefixes)} prefixes but bgp.max_prefix is "
                                 f"{inventory.bgp.max_prefix}; the session would be torn down")
    entries = tuple(PrefixListEntry(seq=10 * (i + 1), prefix=p) for i, p in enumerate(prefixes))
    name = prefix_list_name(node.name)
    list_refs = (node_ref(node.name, "spec.podCIDRs"),) + tuple(r for v in vips for r in v.provenance)
    peer_refs = (_address_ref(att, f"neighbor {att.address}"),)
    objects: list[IntentObject] = []
    for leaf in att.leaves:
        objects.append(PrefixList(device=leaf, name=name, entries=entries, provenance=list_refs))
        objects.append(BgpPeering(
            device=leaf, vrf=inventory.vrf, neighbor=att.address, remote_as=remote_as,
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


@collector_paused()  # bulk allocation: see intent.bulk
def build_intent(cluster: ClusterSnapshot, inventory: FabricInventory) -> IntentGraph:
    """The intent graph for `cluster` on the fabric `inventory` describes; raises IntentError if unsafe."""
    findings = Findings(problems=check_pod_subnets(cluster.nodes.values()))
    racks = racks_by_label(inventory)
    attached: dict[str, NodeAttachment] = {}
    for name in sorted(cluster.nodes):
        att = attach(cluster.nodes[name], inventory, findings, racks)
        if att is not None:
            attached[name] = att
    vips, per_node = announcements(cluster, inventory, attached, SubnetIndex(cluster.nodes.values()), findings)
    objects: list[IntentObject] = list(vips)
    for name, att in attached.items():
        objects += node_objects(cluster.nodes[name], att, per_node.get(name, []), inventory, findings)
    objects += vrf_objects(inventory, (leaf for att in attached.values() for leaf in att.leaves))
    if findings.problems:
        raise IntentError(findings.problems)
    return graph_of(inventory, objects, findings.warnings)


def graph_of(inventory: FabricInventory, objects: Iterable[IntentObject], warnings: Iterable[str]) -> IntentGraph:
    """The graph of `objects` in graph order (each key computed once: keys format IP addresses)."""
    ranked = sorted(((sort_key(o), o) for o in objects), key=itemgetter(0))
    return IntentGraph.model_validate(
        {"fabric": inventory.fabric, "cluster": inventory.cluster, "objects": tuple(o for _, o in ranked),
         "warnings": tuple(warnings)}, context={"keys": [rank[1] for rank, _ in ranked]})

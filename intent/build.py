"""cluster snapshot + fabric inventory -> intent graph. One pure, deterministic function.

`build_intent` is composed of per-object steps (`attach_node`, `announcements`, `node_objects`)
so that an incremental builder can redo only the part one Kubernetes event touches.
Input that cannot be made into a safe fabric is refused with every problem listed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from operator import itemgetter

from intent.bulk import collector_paused
from intent.cluster import ClusterSnapshot, Node
from intent.errors import Findings, IntentError
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
    SourceRef,
    StaticRoute,
    Vrf,
)
from intent.policy.placement import policy_objects
from intent.subnets import SubnetIndex, check_pod_subnets
from intent.vips import Announcement, announcements

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    objects += policy_objects(cluster, inventory, findings)  # only with inventory `policy.enforce_on`
    if findings.problems:
        raise IntentError(findings.problems)
    return graph_of(inventory, objects, findings.warnings)


def graph_of(inventory: FabricInventory, objects: Iterable[IntentObject], warnings: Iterable[str]) -> IntentGraph:
    """The graph of `objects` in graph order (each key computed once: keys format IP addresses)."""
    ranked = sorted(((sort_key(o), o) for o in objects), key=itemgetter(0))
    return IntentGraph.model_validate(
        {"fabric": inventory.fabric, "cluster": inventory.cluster, "objects": tuple(o for _, o in ranked),
         "warnings": tuple(warnings)}, context={"keys": [rank[1] for rank, _ in ranked]})

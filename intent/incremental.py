"""Incremental planning: after one Kubernetes event, redo only the intent that event touches.

`IncrementalPlanner` keeps the cluster tables, the intent objects by source (a node's objects, a
VIP, a leaf's VRF) and the indexes that tell what an event reaches. Every object is derived by the
same per-object steps `build_intent` uses (`attach`, `service_users`, `merge_vip`,
`node_objects`, `vrf_objects`), and the tests check that after every kind of event the planner's
graph equals a full rebuild. What an event touches:

* Node added, changed or deleted: its pod subnets, checked against their neighbours in the sorted
  `SubnetIndex` and against the LoadBalancer IPs; its attachment and objects; the VIPs of Services
  with ready endpoints on it (and every Cluster-policy VIP when `vips.cluster_policy_nodes` is
  `all`); the VRF of its leaves.
* Service: the VIPs of its LoadBalancer IPs, before and after. EndpointSlice: its Service's VIPs.
* Pod, Namespace, NetworkPolicy: only the tables (no intent depends on them yet).
* A VIP that changes re-derives the objects of the nodes whose announcements changed.

The result of one event is an `Update`: the changes against what the devices hold (the
`observed` objects, kept up to date with `acknowledge`), for the touched keys only.

An event that makes the cluster unsafe (overlapping podCIDRs, a VIP inside a pod subnet, ...) is
reported by running the full build, so the `IntentError` is exactly the one `build_intent` raises.
The planner then stays refused, rebuilding fully on every event until the cluster is safe again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from intent.build import attach, build_intent, graph_of, node_objects, racks_by_label, vrf_objects
from intent.cluster import ClusterSnapshot, EndpointSlice, Node
from intent.errors import Findings, IntentError
from intent.events import Delete, Event, LiveCluster, Record, Upsert, event_from_object, record_key, target
from intent.inventory import FabricInventory
from intent.model import DeviceObject, IntentGraph, IntentObject, IPAddress, IPNetwork, NodeAttachment, ServiceVip
from intent.plan import Change, diff
from intent.subnets import SubnetIndex, check_pod_subnets
from intent.vips import Announcement, VipUser, merge_vip, service_users

__all__ = ["Delete", "Event", "IncrementalPlanner", "Update", "Upsert", "event_from_object", "record_key"]


@dataclass(frozen=True)
class Update:
    """What one event did: the changes for the touched keys, in apply order, and those keys."""

    changes: tuple[Change, ...]
    keys: frozenset[str]


class _Unsafe(Exception):
    """Internal: the event made the cluster unsafe; the full build says exactly why."""


def _version_int(address: IPAddress) -> tuple[int, int]:
    return (address.version, int(address))


class IncrementalPlanner:
    """The intent of one cluster on one fabric, kept current event by event.

    `observed` is what the devices hold (owned objects); updates are planned against it and
    `acknowledge` records changes once applied. Raises `IntentError` (as `build_intent` would)
    if the initial cluster is unsafe.
    """

    def __init__(self, cluster: ClusterSnapshot, inventory: FabricInventory,
                 observed: Iterable[DeviceObject] = ()) -> None:
        self.inventory = inventory
        self._racks = racks_by_label(inventory)
        self._live = LiveCluster(cluster)
        self._observed: dict[str, DeviceObject] = {o.key: o for o in observed}
        self._broken = False
        self._derive_all(set())

    # -- the public face -------------------------------------------------------------------------
    def apply(self, event: Event) -> Update:
        """Take in one event; the changes it brings for the keys it touches."""
        attr, key, obj = target(event)
        old = self._live.put(attr, key, obj)
        touched: set[str] = set()
        if self._broken:
            self._derive_all(touched)  # raises while the cluster stays unsafe
            touched |= self._objects.keys() | self._observed.keys()
        else:
            try:
                self._on_event(attr, key, old, obj, touched)
            except _Unsafe:
                self._fail()
        return Update(tuple(self._diff(touched)), frozenset(touched))

    def acknowledge(self, changes: Iterable[Change]) -> None:
        """Record that `changes` were applied: the devices now hold their `after` objects."""
        for change in changes:
            if change.action == "delete":
                self._observed.pop(change.key, None)
            elif change.after is not None:
                self._observed[change.key] = change.after

    def snapshot(self) -> ClusterSnapshot:
        """The cluster as the planner knows it now (a copy)."""
        return self._live.snapshot()

    @property
    def objects(self) -> Mapping[str, IntentObject]:
        return self._objects

    def graph(self) -> IntentGraph:
        """The full intent graph now: equal to `build_intent(self.snapshot(), inventory)`."""
        if self._broken:
            return build_intent(self.snapshot(), self.inventory)  # raises the current problems
        warnings = [w for n in sorted(self._live.nodes) for w in self._attach_warnings.get(n, ())]
        warnings += [w for k in sorted(self._live.services) for w in self._service_warnings.get(k, ())]
        warnings += [w for a in sorted(self._vip_warnings, key=_version_int) for w in self._vip_warnings[a]]
        warnings += [w for n in sorted(self._attached) for w in self._node_warnings.get(n, ())]
        return graph_of(self.inventory, self._objects.values(), warnings)

    # -- events ----------------------------------------------------------------------------------
    def _on_event(self, attr: str, key: str, old: Record | None, new: Record | None, touched: set[str]) -> None:
        if attr == "nodes":
            self._on_node(key, old, new, touched)  # type: ignore[arg-type]
        elif attr == "services":
            self._services_changed({key}, touched)
        elif attr == "endpoint_slices":
            services = {f"{s.namespace}/{s.service_name}" for s in (old, new) if isinstance(s, EndpointSlice)}
            self._services_changed(services, touched)

    def _on_node(self, name: str, old: Node | None, new: Node | None, touched: set[str]) -> None:
        if old is not None:
            self._subnets.discard(old)
        if new is not None:
            if (check_pod_subnets([new]) or any(self._subnets.overlapping(c) for c in new.pod_cidrs)
                    or (self.inventory.vips.advertise and self._live.lb_inside(new))):
                raise _Unsafe
            self._subnets.add(new)
        before = self._attached.get(name)
        self._attach(name)
        after = self._attached.get(name)
        dirty = {name}
        if before != after:
            self._leaves_changed(before, after, touched)
            services = set(self._live.on_node.get(name, ()))
            if self.inventory.vips.cluster_policy_nodes == "all":
                services |= {k for k, s in self._live.services.items()
                             if s.type == "LoadBalancer" and s.external_traffic_policy == "Cluster"}
            # The VIPs it announces change leaves even where their Services' users do not.
            announced = set(self._node_vips.get(name, ()))
            dirty |= self._services_changed(services, touched, refresh_nodes=False, addresses=announced)
        for node in sorted(dirty):
            self._node_objects(node, touched)

    def _services_changed(self, keys: Iterable[str], touched: set[str], refresh_nodes: bool = True,
                          addresses: set[IPAddress] | None = None) -> set[str]:
        """Re-derive Services and their VIPs (and `addresses`'); the nodes whose announcements changed.

        Those nodes' objects are re-derived too, unless `refresh_nodes` is False.
        """
        addresses = set(addresses or ())
        for key in keys:
            addresses |= self._service(key)
        dirty: set[str] = set()
        for address in sorted(addresses, key=_version_int):
            dirty |= self._vip(address, touched)
        if refresh_nodes:
            for node in sorted(dirty):
                self._node_objects(node, touched)
        return dirty

    # -- the per-source steps (each also used by the full derivation) ----------------------------
    def _attach(self, name: str) -> None:
        self._attached.pop(name, None)
        self._attach_warnings.pop(name, None)
        node = self._live.nodes.get(name)
        if node is None:
            return
        findings = Findings()
        att = attach(node, self.inventory, findings, self._racks)
        if findings.problems:
            raise _Unsafe
        if att is not None:
            self._attached[name] = att
        if findings.warnings:
            self._attach_warnings[name] = findings.warnings

    def _service(self, key: str) -> set[IPAddress]:
        """Re-derive one Service's VIP users; the addresses whose VIP may have changed."""
        old = self._users.pop(key, None)
        self._service_warnings.pop(key, None)
        service = self._live.services.get(key)
        findings = Findings()
        live: ClusterSnapshot = self._live  # type: ignore[assignment]  # it answers `slices_for` as a snapshot does
        pairs = service_users(live, self.inventory, service, self._attached, self._subnets,
                              findings) if service is not None else []
        if findings.problems:
            raise _Unsafe
        if findings.warnings:
            self._service_warnings[key] = findings.warnings
        new = (pairs[0][1], tuple(a for a, _ in pairs)) if pairs else None
        if new is not None:
            self._users[key] = new
        if new == old:
            return set()
        return set(old[1] if old else ()) | set(new[1] if new else ())

    def _vip(self, address: IPAddress, touched: set[str]) -> set[str]:
        """Re-derive the VIP of one address; the nodes whose announcements changed."""
        users: list[VipUser] = []
        for key in sorted(self._live.lb.get(address, ())):
            entry = self._users.get(key)
            if entry is not None and address in entry[1]:
                users.append(entry[0])
        findings = Findings()
        vip = merge_vip(address, users, self._attached, findings) if users else None
        self._vip_warnings.pop(address, None)
        if findings.warnings:
            self._vip_warnings[address] = findings.warnings
        old = self._vips.get(address)
        if vip == old:
            return set()
        if old is not None:
            del self._vips[address], self._objects[old.key]
            touched.add(old.key)
        if vip is not None:
            self._vips[address] = vip
            self._hosts.setdefault(address, ipaddress.ip_network(address))
            self._objects[vip.key] = vip
            touched.add(vip.key)
        else:
            self._hosts.pop(address, None)
        return self._announcers_changed(address, old, vip)

    def _announcers_changed(self, address: IPAddress, old: ServiceVip | None, new: ServiceVip | None) -> set[str]:
        before, after = set(old.nodes if old else ()), set(new.nodes if new else ())
        for node in before - after:
            self._node_vips[node].discard(address)
        for node in after - before:
            self._node_vips.setdefault(node, set()).add(address)
        same_refs = old is not None and new is not None and old.provenance == new.provenance
        return (before ^ after) if same_refs else (before | after)

    def _node_objects(self, name: str, touched: set[str]) -> None:
        previous = {k: self._objects.pop(k) for k in self._node_keys.pop(name, ())}
        self._node_warnings.pop(name, None)
        node, att = self._live.nodes.get(name), self._attached.get(name)
        current: dict[str, IntentObject] = {}
        if node is not None and att is not None:
            vips = [Announcement(a, self._vips[a].provenance, self._hosts[a])
                    for a in sorted(self._node_vips.get(name, ()), key=_version_int)]
            findings = Findings()
            for obj in node_objects(node, att, vips, self.inventory, findings):
                key = obj.key
                if key in current or key in self._objects:
                    raise _Unsafe  # two sources make one key: IntentGraph refuses it
                current[key] = obj
            if findings.problems:
                raise _Unsafe
            if findings.warnings:
                self._node_warnings[name] = findings.warnings
            self._node_keys[name] = list(current)
            self._objects.update(current)
        touched.update(k for k in previous.keys() | current.keys() if previous.get(k) != current.get(k))

    def _leaves_changed(self, before: NodeAttachment | None, after: NodeAttachment | None, touched: set[str]) -> None:
        for att, step in ((before, -1), (after, +1)):
            for leaf in att.leaves if att is not None else ():
                count = self._leaf_nodes.get(leaf, 0) + step
                self._leaf_nodes[leaf] = count
                if count == 0:
                    del self._leaf_nodes[leaf]
                    for key in self._vrf_keys.pop(leaf, ()):
                        self._objects.pop(key)
                        touched.add(key)
                elif count == 1 and step > 0:
                    vrfs = vrf_objects(self.inventory, [leaf])
                    self._vrf_keys[leaf] = [v.key for v in vrfs]
                    for vrf in vrfs:
                        self._objects[vrf.key] = vrf
                        touched.add(vrf.key)

    # -- from scratch, and refusal ---------------------------------------------------------------
    def _derive_all(self, touched: set[str]) -> None:
        """Derive everything from the tables, step by step as `build_intent` does."""
        self._objects: dict[str, IntentObject] = {}
        self._attached: dict[str, NodeAttachment] = {}
        self._attach_warnings: dict[str, list[str]] = {}
        self._users: dict[str, tuple[VipUser, tuple[IPAddress, ...]]] = {}
        self._service_warnings: dict[str, list[str]] = {}
        self._vips: dict[IPAddress, ServiceVip] = {}
        self._hosts: dict[IPAddress, IPNetwork] = {}  # each VIP as a host route, parsed once
        self._vip_warnings: dict[IPAddress, list[str]] = {}
        self._node_vips: dict[str, set[IPAddress]] = {}
        self._node_keys: dict[str, list[str]] = {}
        self._node_warnings: dict[str, list[str]] = {}
        self._leaf_nodes: dict[str, int] = {}
        self._vrf_keys: dict[str, list[str]] = {}
        nodes = self._live.nodes
        self._subnets = SubnetIndex(nodes.values())
        try:
            if check_pod_subnets(nodes.values()):
                raise _Unsafe
            for name in sorted(nodes):
                self._attach(name)
                self._leaves_changed(None, self._attached.get(name), touched)
            self._services_changed(sorted(self._live.services), touched, refresh_nodes=False)
            for name in sorted(self._attached):
                self._node_objects(name, touched)
        except _Unsafe:
            self._fail()
        self._broken = False

    def _fail(self) -> None:
        """Refuse: report exactly what the full build reports, and rebuild fully from now on."""
        self._broken = True
        build_intent(self.snapshot(), self.inventory)  # raises IntentError naming every problem
        raise IntentError("the incremental planner found a problem the full build does not; please report this")

    def _diff(self, touched: set[str]) -> list[Change]:
        keys = [k for k in touched
                if k in self._observed or isinstance(self._objects.get(k), DeviceObject)]
        want = {k: self._objects[k] for k in keys if k in self._objects}
        have = [self._observed[k] for k in keys if k in self._observed]
        return diff(want, have, keys=keys)  # type: ignore[arg-type]

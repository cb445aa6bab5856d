"""Kubernetes events, and the cluster tables they keep current.

An event is `Upsert(record)` (a watch ADDED or MODIFIED) or `Delete(kind, key)`; `event_from_object`
makes one from an object as the API prints it. `LiveCluster` holds the tables a `ClusterSnapshot`
holds, mutable, plus the indexes incremental planning asks of them: EndpointSlices by Service (in
table order, as `ClusterSnapshot.slices_for` gives them), the nodes each slice has ready endpoints
on, the Services ready on each node, and the LoadBalancer IPs, sorted.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from intent.cluster import ClusterSnapshot, EndpointSlice, Namespace, NetworkPolicy, Node, Pod, Service, parse_snapshot
from intent.errors import SnapshotError
from intent.model import IPAddress

Record = Node | Namespace | Pod | Service | EndpointSlice | NetworkPolicy
_TABLES = {Node: "nodes", Namespace: "namespaces", Pod: "pods", Service: "services",
           EndpointSlice: "endpoint_slices", NetworkPolicy: "network_policies"}
_KINDS = {"Node": "nodes", "Namespace": "namespaces", "Pod": "pods", "Service": "services",
          "EndpointSlice": "endpoint_slices", "NetworkPolicy": "network_policies"}


@dataclass(frozen=True)
class Upsert:
    """An object was added or changed (a watch ADDED or MODIFIED)."""

    obj: Record


@dataclass(frozen=True)
class Delete:
    """An object was deleted: its kind (`Node`, `Pod`, ...) and key (`name` or `namespace/name`)."""

    kind: str
    key: str


Event = Upsert | Delete


def target(event: Event) -> tuple[str, str, Record | None]:
    """(table, key, new record or None) of an event."""
    if isinstance(event, Upsert):
        return _TABLES[type(event.obj)], record_key(event.obj), event.obj
    if event.kind not in _KINDS:
        raise SnapshotError(f"cannot delete a {event.kind!r}: not a kind fabric-intent follows")
    return _KINDS[event.kind], event.key, None


def record_key(obj: Record) -> str:
    return obj.name if isinstance(obj, (Node, Namespace)) else f"{obj.namespace}/{obj.name}"


def event_from_object(obj: dict, *, deleted: bool = False, source: str = "event") -> Event:
    """An event from one Kubernetes object as the API prints it (a watch event's `object`)."""
    snap = parse_snapshot([(source, obj)])
    for attr in _KINDS.values():
        for key, record in getattr(snap, attr).items():
            return Delete(type(record).__name__, key) if deleted else Upsert(record)
    raise SnapshotError(f"{source}: {obj.get('kind')!r} is not a kind fabric-intent follows")


class LiveCluster:
    """The cluster tables as they are now, and the indexes the events need (kept on every event)."""

    def __init__(self, snap: ClusterSnapshot) -> None:
        self.tables: dict[str, dict[str, Record]] = {attr: dict(getattr(snap, attr)) for attr in _KINDS.values()}
        self.notices = snap.notices
        self._seq = itertools.count()
        self.slice_seq: dict[str, int] = {}  # slice key -> table position, for `slices_for` order
        self.slices: dict[tuple[str, str], set[str]] = {}  # (namespace, service) -> slice keys
        self.ready: dict[str, frozenset[str]] = {}  # slice key -> nodes with a ready endpoint
        self.on_node: dict[str, dict[str, int]] = {}  # node -> Service key -> slices ready on it
        self.lb: dict[IPAddress, set[str]] = {}  # LoadBalancer IP -> keys of LoadBalancer Services
        self.lb_ints: dict[int, list[int]] = {4: [], 6: []}  # the LoadBalancer IPs, sorted
        for key, eps in snap.endpoint_slices.items():
            self._index_slice(key, None, eps)
        for key, service in snap.services.items():
            self._index_service(key, None, service)

    @property
    def nodes(self) -> dict[str, Node]:
        return self.tables["nodes"]  # type: ignore[return-value]

    @property
    def services(self) -> dict[str, Service]:
        return self.tables["services"]  # type: ignore[return-value]

    def slices_for(self, namespace: str, service: str) -> list[EndpointSlice]:
        """What `ClusterSnapshot.slices_for` answers, from the index."""
        keys = sorted(self.slices.get((namespace, service), ()), key=self.slice_seq.__getitem__)
        return [self.tables["endpoint_slices"][k] for k in keys]  # type: ignore[misc]

    def put(self, attr: str, key: str, obj: Record | None) -> Record | None:
        """Set (or with None delete) one object; returns the one it replaced."""
        table = self.tables[attr]
        old = table.pop(key, None) if obj is None else table.get(key)
        if obj is not None:
            table[key] = obj
        if attr == "endpoint_slices":
            self._index_slice(key, old, obj)  # type: ignore[arg-type]
        elif attr == "services":
            self._index_service(key, old, obj)  # type: ignore[arg-type]
        return old

    def _index_slice(self, key: str, old: EndpointSlice | None, new: EndpointSlice | None) -> None:
        if old is not None:
            self.slices[(old.namespace, old.service_name)].discard(key)
            self._count(f"{old.namespace}/{old.service_name}", self.ready.pop(key, frozenset()), -1)
        if new is None:
            self.slice_seq.pop(key, None)
            return
        if key not in self.slice_seq:
            self.slice_seq[key] = next(self._seq)
        self.slices.setdefault((new.namespace, new.service_name), set()).add(key)
        self.ready[key] = frozenset(e.node_name for e in new.endpoints if e.ready and e.node_name)
        self._count(f"{new.namespace}/{new.service_name}", self.ready[key], +1)

    def _count(self, service: str, nodes: Iterable[str], step: int) -> None:
        for node in nodes:
            counts = self.on_node.setdefault(node, {})
            counts[service] = counts.get(service, 0) + step
            if not counts[service]:
                del counts[service]

    def _index_service(self, key: str, old: Service | None, new: Service | None) -> None:
        for service, step in ((old, -1), (new, +1)):
            if service is None or service.type != "LoadBalancer":
                continue
            for address in service.load_balancer_ips:
                users = self.lb.setdefault(address, set())
                (users.add if step > 0 else users.discard)(key)
                ints = self.lb_ints[address.version]
                i = bisect.bisect_left(ints, int(address))
                if step > 0 and len(users) == 1 and not (i < len(ints) and ints[i] == int(address)):
                    ints.insert(i, int(address))
                elif step < 0 and not users:
                    del self.lb[address]
                    if i < len(ints) and ints[i] == int(address):
                        del ints[i]

    def lb_inside(self, node: Node) -> bool:
        """True if a LoadBalancer IP lies inside one of the node's pod subnets."""
        for cidr in node.pod_cidrs:
            ints = self.lb_ints[cidr.version]
            i = bisect.bisect_left(ints, int(cidr.network_address))
            if i < len(ints) and ints[i] <= int(cidr.broadcast_address):
                return True
        return False

    def snapshot(self) -> ClusterSnapshot:
        return ClusterSnapshot(**{attr: dict(table) for attr, table in self.tables.items()},  # type: ignore[arg-type]
                               notices=self.notices)

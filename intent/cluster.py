"""Typed view of the Kubernetes objects fabric-intent reads, and the pure parser that makes it.

A snapshot can hold 150,000 pods, so these records are slotted dataclasses (and `Pod` a named
tuple) rather than pydantic models: parsing stays near the cost of reading the JSON. Every record
keeps what it needs for intent and policy, nothing more. The parser takes documents already read
from files (see `reconciler.files`) and names the file and the object in every error.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from intent.errors import SnapshotError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: kind -> apiVersion group fabric-intent understands
KINDS = ("Node", "Namespace", "Pod", "Service", "EndpointSlice", "NetworkPolicy")


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """A Kubernetes object by kind, namespace and name (`Pod web/api-1`, `Node worker-3`)."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    labels: Mapping[str, str]
    pod_cidrs: tuple[IPNetwork, ...]
    addresses: tuple[tuple[str, str], ...]  # (type, address) in status order
    ready: bool


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ContainerPort:
    name: str
    port: int
    protocol: str


class Pod(NamedTuple):
    """A pod; a named tuple, as a snapshot holds 150,000 of them and a tuple is the cheapest record."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    node_name: str
    ips: tuple[IPAddress, ...]
    host_network: bool
    phase: str
    ports: tuple[ContainerPort, ...] = ()


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str
    external_traffic_policy: str
    load_balancer_ips: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True)
class Endpoint:
    addresses: tuple[str, ...]
    node_name: str
    ready: bool


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    namespace: str
    name: str
    service_name: str
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    namespace: str
    name: str
    spec: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """Everything fabric-intent knows of one cluster at one moment; keyed `name` or `ns/name`."""

    nodes: Mapping[str, Node] = field(default_factory=dict)
    namespaces: Mapping[str, Namespace] = field(default_factory=dict)
    pods: Mapping[str, Pod] = field(default_factory=dict)
    services: Mapping[str, Service] = field(default_factory=dict)
    endpoint_slices: Mapping[str, EndpointSlice] = field(default_factory=dict)
    network_policies: Mapping[str, NetworkPolicy] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    # (namespace, service) -> its slices; built on the first `slices_for` (the tables never change).
    _slices_by_service: dict[tuple[str, str], list[EndpointSlice]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @property
    def is_empty(self) -> bool:
        """True when the view holds no Node: such a view must never cause deletions."""
        return not self.nodes

    def slices_for(self, namespace: str, service: str) -> list[EndpointSlice]:
        """EndpointSlices owned by one Service (label `kubernetes.io/service-name`), in table order."""
        index = self._slices_by_service
        if not index and self.endpoint_slices:
            for eps in self.endpoint_slices.values():
                index.setdefault((eps.namespace, eps.service_name), []).append(eps)
        return list(index.get((namespace, service), ()))


class _Bad(Exception):
    """Internal: one field of one object is wrong; turned into a SnapshotError line."""


def _ip(value: Any, where: str) -> IPAddress:
    # Fast path (a snapshot holds 150,000 pod IPs): a dotted quad of exactly the octets ipaddress
    # accepts (decimal 0-255, no leading zeros: the keys of _OCTETS), at a third of the cost.
    if type(value) is str:
        try:
            a, b, c, d = value.split(".")
            return ipaddress.IPv4Address((_OCTETS[a] << 24) | (_OCTETS[b] << 16) | (_OCTETS[c] << 8) | _OCTETS[d])
        except (ValueError, KeyError):
            pass
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise _Bad(f"{where} {value!r} is not an IP address") from None


_OCTETS = {str(i): i for i in range(256)}


def _cidr(value: Any, where: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise _Bad(f"{where} {value!r} is not a valid CIDR ({exc})") from None


def _map(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{where} must be a list, got {type(value).__name__}")
    return value


def _maps(value: Any, where: str) -> list[dict[str, Any]]:
    """A list of mappings (`status.addresses`, `endpoints`, ...); an item that is not one is named by index."""
    items = _list(value, where)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Bad(f"{where}[{index}] must be a mapping, got {type(item).__name__}")
    return items


def _labels(meta: dict[str, Any]) -> dict[str, str]:
    labels = _map(meta.get("labels"), "metadata.labels")
    for k, v in labels.items():
        if type(k) is not str or type(v) is not str:
            return {str(k): "" if v is None else str(v) for k, v in labels.items()}
    return labels.copy()  # the common case, all strings: a C-level copy


def _parse_node(obj: dict[str, Any], meta: dict[str, Any]) -> Node:
    spec = _map(obj.get("spec"), "spec")
    status = _map(obj.get("status"), "status")
    cidrs = _list(spec.get("podCIDRs"), "spec.podCIDRs")
    where = "spec.podCIDRs[]"
    if not cidrs and spec.get("podCIDR"):
        cidrs, where = [spec["podCIDR"]], "spec.podCIDR"
    addresses = tuple(
        (str(a.get("type", "")), str(a.get("address", ""))) for a in _maps(status.get("addresses"), "status.addresses")
    )
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in _maps(status.get("conditions"), "status.conditions")
    )
    return Node(meta["name"], _labels(meta), tuple(_cidr(c, where) for c in cidrs), addresses, ready)


def _parse_pod(obj: dict[str, Any], meta: dict[str, Any]) -> Pod:
    spec = _map(obj.get("spec"), "spec")
    status = _map(obj.get("status"), "status")
    ips = [p.get("ip") for p in _maps(status.get("podIPs"), "status.podIPs")]
    where = "status.podIPs[].ip"
    if not ips and status.get("podIP"):
        ips, where = [status["podIP"]], "status.podIP"
    ports = tuple([
        _port(str(p.get("name", "")), int(p["containerPort"]), str(p.get("protocol", "TCP")))
        for c in _maps(spec.get("containers"), "spec.containers")
        for p in _maps(c.get("ports"), "spec.containers[].ports")
        if "containerPort" in p
    ])
    return Pod(
        meta["namespace"], meta["name"], _labels(meta), str(spec.get("nodeName") or ""),
        tuple([_ip(ip, where) for ip in ips]), bool(spec.get("hostNetwork", False)),
        str(status.get("phase", "")), ports,
    )




#: The replicas of a workload declare the same ports: share one frozen record per distinct port.
_port = functools.lru_cache(maxsize=4096)(ContainerPort)


def _parse_service(obj: dict[str, Any], meta: dict[str, Any]) -> Service:
    spec = _map(obj.get("spec"), "spec")
    lb = _map(_map(obj.get("status"), "status").get("loadBalancer"), "status.loadBalancer")
    ips = tuple(
        _ip(i["ip"], "status.loadBalancer.ingress[].ip")
        for i in _maps(lb.get("ingress"), "status.loadBalancer.ingress")
        if i.get("ip")
    )
    return Service(
        meta["namespace"], meta["name"], str(spec.get("type", "ClusterIP")),
        str(spec.get("externalTrafficPolicy", "Cluster")), ips,
    )


def _parse_slice(obj: dict[str, Any], meta: dict[str, Any]) -> EndpointSlice:
    endpoints = tuple([
        Endpoint(
            tuple(map(str, _list(e.get("addresses"), "endpoints[].addresses"))),
            str(e.get("nodeName") or ""),
            # An absent `ready` condition means ready (discovery.k8s.io/v1 semantics).
            _map(e.get("conditions"), "endpoints[].conditions").get("ready") is not False,
        )
        for e in _maps(obj.get("endpoints"), "endpoints")
    ])
    service = _labels(meta).get("kubernetes.io/service-name", "")
    return EndpointSlice(meta["namespace"], meta["name"], service, endpoints)


def _parse_namespace(obj: dict[str, Any], meta: dict[str, Any]) -> Namespace:
    return Namespace(meta["name"], _labels(meta))


def _parse_policy(obj: dict[str, Any], meta: dict[str, Any]) -> NetworkPolicy:
    return NetworkPolicy(meta["namespace"], meta["name"], _map(obj.get("spec"), "spec"))


_PARSERS = {
    "Node": ("nodes", False, _parse_node),
    "Namespace": ("namespaces", False, _parse_namespace),
    "Pod": ("pods", True, _parse_pod),
    "Service": ("services", True, _parse_service),
    "EndpointSlice": ("endpoint_slices", True, _parse_slice),
    "NetworkPolicy": ("network_policies", True, _parse_policy),
}


def is_list(document: dict[str, Any]) -> bool:
    """True for a `List` (or `NodeList`, ...) with items; any other mapping is one object."""
    kind = document.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "items" in document


def iter_objects(document: Any, source: str) -> Iterator[dict[str, Any]]:
    """Flatten one document: a `List` (or `NodeList`, ...) yields its items, an object itself."""
    if document is None:
        return
    if not isinstance(document, dict):
        raise SnapshotError(f"{source}: expected a Kubernetes object or List, got {type(document).__name__}")
    if not is_list(document):
        yield document
        return
    kind = document["kind"]
    items = document["items"] or []
    if not isinstance(items, list):
        raise SnapshotError(f"{source}: {kind}.items must be a list")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise SnapshotError(f"{source}: {kind}.items[{index}] is not an object")
        # Typed lists (`NodeList`) may omit `kind` on their items.
        yield item if "kind" in item or kind == "List" else {**item, "kind": kind[: -len("List")]}


def parse_snapshot(documents: Iterable[tuple[str, Any]]) -> ClusterSnapshot:
    """Build a `ClusterSnapshot` from `(source name, document)` pairs, as kubectl prints them.

    Unknown kinds are skipped with a notice. Every malformed object is reported, each line naming
    the source and the object; if any is found a `SnapshotError` lists them all.
    """
    tables: dict[str, dict[str, Any]] = {attr: {} for attr, _, _ in _PARSERS.values()}
    origin: dict[str, dict[str, str]] = {attr: {} for attr in tables}  # table -> key -> where first defined
    notices: list[str] = []
    problems: list[str] = []
    for source, document in documents:
        if isinstance(document, dict) and ("items" not in document or not is_list(document)):  # one object
            _parse_one(document, source, tables, origin, notices, problems)
            continue
        for obj in iter_objects(document, source):
            _parse_one(obj, source, tables, origin, notices, problems)
    if problems:
        raise SnapshotError(problems)
    return ClusterSnapshot(**tables, notices=tuple(notices))


def _parse_one(obj: dict[str, Any], source: str, tables: dict[str, dict[str, Any]],
               origin: dict[str, dict[str, str]], notices: list[str], problems: list[str]) -> None:
    kind = obj.get("kind")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    entry = _PARSERS.get(kind) if isinstance(kind, str) else None
    if entry is None:
        ref = _ref(kind, meta)
        if not isinstance(kind, str) or not kind:  # never skip what may be a Node: its routes would be withdrawn
            problems.append(f"{source}: object {ref.namespace + '/' if ref.namespace else ''}{ref.name} has no kind")
        else:
            notices.append(f"{source}: skipped {ref} (kind {kind!r} is not used by fabric-intent)")
        return
    attr, namespaced, parse = entry
    name = meta.get("name")
    if not name:
        problems.append(f"{source}: {kind} without metadata.name")
        return
    if namespaced:
        namespace = meta.get("namespace")
        if not namespace:
            problems.append(f"{source}: {_ref(kind, meta)}: metadata.namespace is missing")
            return
        key = f"{namespace}/{name}"
    else:
        key = str(name)
    first = origin[attr]
    if key in first:
        problems.append(f"{source}: {_ref(kind, meta)} is also defined in {first[key]}")
        return
    try:
        tables[attr][key] = parse(obj, meta)
    except _Bad as bad:
        problems.append(f"{source}: {_ref(kind, meta)}: {bad}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problems.append(f"{source}: {_ref(kind, meta)}: malformed object ({type(exc).__name__}: {exc})")
    first[key] = source


def _ref(kind: Any, meta: dict[str, Any]) -> ObjectRef:
    """The object as messages name it (built only for a message: 150,000 pods need none)."""
    return ObjectRef(str(kind), str(meta.get("namespace") or ""), str(meta.get("name") or "?"))

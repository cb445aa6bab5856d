"""Synthetic clusters for benchmarks and tests: kubectl-style documents plus the matching inventory.

Pure and deterministic: the same `Scale` (seed included) always gives the same documents. The
documents look like what `kubectl get <kind> -A -o json` prints (a `kind: List` per resource),
kept lean: every field fabric-intent reads, plus the few that make an object recognisable.

Address plan (all IPv4):

* rack `r` has leaves `leaf-<r>a`, `leaf-<r>b`, ... and node subnet `172.16.0.0/12` cut per rack;
* node `i` sits in rack `i % racks`, its InternalIP the `i // racks`-th host of that subnet, its
  podCIDR the `i`-th block of `10.128.0.0/9` (a /24 unless the pods per node need more);
* Services take ClusterIPs from `10.96.0.0/12` and LoadBalancer IPs from `198.18.0.0/15`.

Because node `i` has a fixed place, `node_object(layout, i)` gives the node that a cluster of
`i` nodes would add next: what incremental benchmarks and tests feed in as an event.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

Document = dict[str, Any]
RACK_LABEL = "topology.kubernetes.io/zone"
POD_SPACE = ipaddress.IPv4Network("10.128.0.0/9")
NODE_SPACE = ipaddress.IPv4Network("172.16.0.0/12")
SERVICE_SPACE = ipaddress.IPv4Network("10.96.0.0/12")
VIP_POOL = ipaddress.IPv4Network("198.18.0.0/15")
ENDPOINTS_PER_SLICE = 100  # the EndpointSlice controller's default maxEndpointsPerSlice


@dataclass(frozen=True)
class Scale:
    """What to generate. `racks` defaults to one rack per 40 nodes."""

    nodes: int = 5_000
    pods: int = 150_000
    services: int = 10_000
    policies: int = 10_000
    racks: int | None = None
    leaves_per_rack: int = 2
    mode: Literal["static", "bgp"] = "static"
    vrf: str = "default"
    lb_share: float = 0.10  # share of Services of type LoadBalancer
    local_share: float = 0.30  # share of those with externalTrafficPolicy Local
    cluster_policy_nodes: Literal["endpoints", "all"] = "endpoints"
    seed: int = 1


@dataclass(frozen=True)
class Layout:
    """The address plan derived from a `Scale`."""

    scale: Scale
    racks: int
    rack_prefixlen: int
    pod_prefixlen: int

    @property
    def rack_capacity(self) -> int:
        return 2 ** (32 - self.rack_prefixlen) - 12  # hosts .10 and up, broadcast excluded

    def rack_subnet(self, rack: int) -> ipaddress.IPv4Network:
        size = 2 ** (32 - self.rack_prefixlen)
        return ipaddress.IPv4Network((int(NODE_SPACE.network_address) + rack * size, self.rack_prefixlen))

    def pod_cidr(self, node: int) -> ipaddress.IPv4Network:
        size = 2 ** (32 - self.pod_prefixlen)
        return ipaddress.IPv4Network((int(POD_SPACE.network_address) + node * size, self.pod_prefixlen))

    def node_ip(self, node: int) -> str:
        rack, slot = node % self.racks, node // self.racks
        if slot >= self.rack_capacity:
            raise ValueError(f"rack {rack} has no address left for node {node}")
        return str(self.rack_subnet(rack).network_address + 10 + slot)


def layout(scale: Scale) -> Layout:
    """Rack and pod subnet sizes that fit the scale, with room for as many nodes again."""
    if scale.nodes < 1 or scale.pods < 0 or scale.services < 0 or scale.policies < 0:
        raise ValueError("nodes must be at least 1; pods, services and policies at least 0")
    racks = scale.racks or max(1, -(-scale.nodes // 40))
    per_rack = -(-scale.nodes // racks)
    rack_prefixlen = min(24, 32 - (2 * per_rack + 12 - 1).bit_length())
    per_node = -(-scale.pods // scale.nodes)
    pod_prefixlen = min(24, 32 - (2 * per_node + 16 + 3 - 1).bit_length())
    if racks * 2 ** (32 - rack_prefixlen) > NODE_SPACE.num_addresses:
        raise ValueError(f"{racks} racks of {per_rack} nodes do not fit in {NODE_SPACE}")
    if 2 * scale.nodes * 2 ** (32 - pod_prefixlen) > POD_SPACE.num_addresses:
        raise ValueError(f"{scale.nodes} nodes of {per_node} pods do not fit in {POD_SPACE}")
    if scale.services >= SERVICE_SPACE.num_addresses - 16:
        raise ValueError(f"{scale.services} Services do not fit in {SERVICE_SPACE}")
    return Layout(scale, racks, rack_prefixlen, pod_prefixlen)


# -- names -------------------------------------------------------------------------------------
def rack_name(rack: int) -> str:
    return f"rack-{rack:03d}"


def leaf_name(rack: int, leaf: int) -> str:
    return f"leaf-{rack:03d}{chr(ord('a') + leaf)}"


def node_name(node: int) -> str:
    return f"worker-{node:05d}"


def namespace_name(index: int) -> str:
    return f"team-{index:04d}"


def service_name(index: int) -> str:
    return f"svc-{index:05d}"


def namespace_count(scale: Scale) -> int:
    return max(1, scale.services // 20)


class Rng:
    """splitmix64: a small deterministic generator (intent/ keeps away from the global `random`)."""

    _MASK = 2**64 - 1

    def __init__(self, seed: int) -> None:
        self._state = seed & self._MASK

    def bits64(self) -> int:
        self._state = z = (self._state + 0x9E3779B97F4A7C15) & self._MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """A float in [0, 1)."""
        return (self.bits64() >> 11) / 2**53

    def below(self, n: int) -> int:
        """An int in [0, n) (the modulo bias is far below anything a benchmark notices)."""
        return self.bits64() % n


_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def _uid(rng: Rng) -> str:
    h = f"{rng.bits64():016x}{rng.bits64():016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def _suffix(rng: Rng) -> str:
    n, chars = rng.bits64(), []
    for _ in range(5):
        n, i = divmod(n, len(_SUFFIX_CHARS))
        chars.append(_SUFFIX_CHARS[i])
    return "".join(chars)


def _list(items: list[Document]) -> Document:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


# -- objects -----------------------------------------------------------------------------------
def node_object(lay: Layout, index: int, rng: Rng | None = None) -> Document:
    """Node `index` of the address plan, Ready, with its rack label, podCIDR and InternalIP."""
    rng = rng or Rng(index)
    name, cidr = node_name(index), str(lay.pod_cidr(index))
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": _uid(rng), "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/worker": "", RACK_LABEL: rack_name(index % lay.racks)}},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": lay.node_ip(index)}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


def pod_object(namespace: str, name: str, app: str, node: str, ip: str | None, ready: bool,
               rng: Rng) -> Document:
    """A Deployment's pod: Running with an IP (ready or not), or Pending without one."""
    status: Document = {"phase": "Running" if ip else "Pending",
                        "conditions": [{"type": "Ready", "status": "True" if ready and ip else "False"}]}
    if ip:
        status |= {"podIP": ip, "podIPs": [{"ip": ip}]}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": _uid(rng),
                     "labels": {"app": app, "pod-template-hash": "7d4b9c"}},
        "spec": {"nodeName": node, "containers": [{
            "name": "app", "image": f"registry.example.net/{app}:1.0",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
        "status": status,
    }


def endpoint(pod: Document) -> Document:
    """The EndpointSlice entry for a pod that has an IP."""
    meta, ready = pod["metadata"], pod["status"]["conditions"][0]["status"] == "True"
    return {"addresses": [pod["status"]["podIP"]], "nodeName": pod["spec"]["nodeName"],
            "conditions": {"ready": ready, "serving": ready, "terminating": False},
            "targetRef": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"]}}


def slice_object(namespace: str, service: str, name: str, endpoints: list[Document]) -> Document:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": name, "namespace": namespace, "labels": {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def _service(lay: Layout, index: int, lb_ip: str | None, local: bool) -> Document:
    name, spec_ip = service_name(index), str(SERVICE_SPACE.network_address + 16 + index)
    spec: Document = {"type": "LoadBalancer" if lb_ip else "ClusterIP", "clusterIP": spec_ip, "clusterIPs": [spec_ip],
                      "selector": {"app": name},
                      "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    if lb_ip:
        spec["externalTrafficPolicy"] = "Local" if local else "Cluster"
    lb = {"ingress": [{"ip": lb_ip, "ipMode": "VIP"}]} if lb_ip else {}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace_name(index % namespace_count(lay.scale))},
            "spec": spec, "status": {"loadBalancer": lb}}


def _policy(lay: Layout, index: int, rng: Rng) -> Document:
    services = max(1, lay.scale.services)
    target = index % services
    namespace = namespace_name(target % namespace_count(lay.scale))
    if index % 10 == 0:  # one in ten: a namespace's default deny
        spec: Document = {"podSelector": {}, "policyTypes": ["Ingress"]}
    else:
        peer = rng.below(services)
        spec = {"podSelector": {"matchLabels": {"app": service_name(target)}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": service_name(peer)}},
                                       "namespaceSelector": {"matchLabels": {
                                           "kubernetes.io/metadata.name": namespace_name(
                                               peer % namespace_count(lay.scale))}}}],
                             "ports": [{"protocol": "TCP", "port": 8080}]}]}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"np-{index:05d}", "namespace": namespace}, "spec": spec}


# -- the cluster -------------------------------------------------------------------------------
def generate(scale: Scale) -> dict[str, Document]:
    """The cluster as kubectl `List` documents, by file stem (`nodes`, `pods`, ...)."""
    lay, rng = layout(scale), Rng(scale.seed)
    nodes = [node_object(lay, i, rng) for i in range(scale.nodes)]
    pods = _pods(lay, rng)
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": namespace_name(i), "labels": {"kubernetes.io/metadata.name": namespace_name(i)}}}
        for i in range(namespace_count(scale))]
    services, slices = _services(lay, pods, rng)
    policies = [_policy(lay, i, rng) for i in range(scale.policies)]
    return {"nodes": _list(nodes), "namespaces": _list(namespaces), "pods": _list(pods),
            "services": _list(services), "endpointslices": _list(slices), "networkpolicies": _list(policies)}


def _pods(lay: Layout, rng: Rng) -> list[Document]:
    scale = lay.scale
    capacity = 2 ** (32 - lay.pod_prefixlen) - 3  # .0 network, .1 gateway, broadcast
    used = [0] * scale.nodes
    pods: list[Document] = []
    for j in range(scale.pods):
        svc = j % scale.services if scale.services else j
        node = rng.below(scale.nodes)
        while used[node] >= capacity:
            node = (node + 1) % scale.nodes
        used[node] += 1
        roll = rng.random()
        ip = None if roll < 0.01 else str(lay.pod_cidr(node).network_address + 1 + used[node])
        app = service_name(svc)
        pods.append(pod_object(namespace_name(svc % namespace_count(scale)), f"{app}-{_suffix(rng)}-{j:06d}",
                               app, node_name(node), ip, roll >= 0.02, rng))
    return pods


def _services(lay: Layout, pods: list[Document], rng: Rng) -> tuple[list[Document], list[Document]]:
    scale = lay.scale
    members: list[list[Document]] = [[] for _ in range(scale.services)]
    for j, pod in enumerate(pods):
        if scale.services:
            members[j % scale.services].append(pod)
    services, slices, lb_count = [], [], 0
    for s in range(scale.services):
        lb_ip = None
        if rng.random() < scale.lb_share:
            lb_ip, lb_count = str(VIP_POOL.network_address + 1 + lb_count), lb_count + 1
        service = _service(lay, s, lb_ip, rng.random() < scale.local_share)
        services.append(service)
        ready = [endpoint(p) for p in members[s] if "podIP" in p["status"]]
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        for start in range(0, max(1, len(ready)), ENDPOINTS_PER_SLICE):
            chunk = ready[start:start + ENDPOINTS_PER_SLICE]
            slices.append(slice_object(namespace, name, f"{name}-{_suffix(rng)}", chunk))
    return services, slices


# -- the fabric --------------------------------------------------------------------------------
def inventory(scale: Scale, state_file: str = "sim-fabric.json") -> Document:
    """The fabric inventory matching `generate(scale)`: racks of leaves on the simulated fabric."""
    lay = layout(scale)
    spines = [{"name": f"spine-{i + 1}", "role": "spine", "driver": "sim", "asn": 4200000000} for i in range(4)]
    leaves = [{"name": leaf_name(r, leaf), "role": "leaf", "driver": "sim", "asn": 4200100000 + r}
              for r in range(lay.racks) for leaf in range(scale.leaves_per_rack)]
    racks = [{"name": rack_name(r), "leaves": [leaf_name(r, leaf) for leaf in range(scale.leaves_per_rack)],
              "node_subnets": [str(lay.rack_subnet(r))], "node_asn": 4200200000 + r} for r in range(lay.racks)]
    return {
        "fabric": "bench", "cluster": "synthetic", "vrf": scale.vrf,
        "routing": {"mode": scale.mode, "route_tag": 64512},
        "bgp": {"node_asn": {"scheme": "per-rack"}, "max_prefix": 100},
        "vips": {"advertise": True, "pools": [str(VIP_POOL)], "cluster_policy_nodes": scale.cluster_policy_nodes},
        "rack_label": RACK_LABEL, "node_address": {"types": ["InternalIP"]}, "unattached_nodes": "error",
        "switches": spines + leaves, "racks": racks, "drivers": {"sim": {"state_file": state_file}},
    }

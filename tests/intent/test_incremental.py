"""The incremental planner agrees with a full rebuild after every kind of event.

Each test drives `IncrementalPlanner` with events on a generated cluster and, after every event,
checks three things against an independent model of the cluster (plain dicts the test updates
itself): the planner's tables equal the model, its graph equals `build_intent` on the model
(objects and warnings), and its changes equal the full diff between the graphs before and after.
Unsafe events must raise exactly the full build's error, and the planner must recover once the
cluster is safe again. Nothing here is timed.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any

import pytest

from intent import synthetic
from intent.build import build_intent
from intent.cluster import ClusterSnapshot, parse_snapshot
from intent.errors import IntentError
from intent.incremental import Delete, IncrementalPlanner, Update, Upsert, event_from_object, record_key
from intent.inventory import parse_inventory
from intent.model import IntentGraph
from intent.plan import diff

TABLES = ("nodes", "namespaces", "pods", "services", "endpoint_slices", "network_policies")
SCALES = {
    "static": synthetic.Scale(nodes=24, pods=240, services=30, policies=12, racks=3, lb_share=0.5, seed=7),
    "bgp-vrf": synthetic.Scale(nodes=24, pods=240, services=30, policies=12, racks=4, mode="bgp", vrf="pods",
                               lb_share=0.5, seed=8),
    "all-nodes-one-leaf": synthetic.Scale(nodes=16, pods=120, services=20, policies=4, racks=2, leaves_per_rack=1,
                                          lb_share=0.6, cluster_policy_nodes="all", seed=9),
}


class Harness:
    """The planner under test beside a model of the cluster kept by the test."""

    def __init__(self, scale: synthetic.Scale) -> None:
        self.layout = synthetic.layout(scale)
        self.docs = synthetic.generate(scale)
        self.inventory = parse_inventory(synthetic.inventory(scale), "inventory")
        snap = parse_snapshot(sorted(self.docs.items()))
        self.model: dict[str, dict[str, Any]] = {t: dict(getattr(snap, t)) for t in TABLES}
        self.graph = build_intent(snap, self.inventory)
        self.planner = IncrementalPlanner(snap, self.inventory, observed=self.graph.realized())
        self.rng = synthetic.Rng(scale.seed)

    def snapshot(self) -> ClusterSnapshot:
        return ClusterSnapshot(**{t: dict(v) for t, v in self.model.items()})

    def send(self, obj: dict[str, Any], deleted: bool = False) -> Update:
        """One event from a kubectl-style object; checks the planner against a full rebuild."""
        event = event_from_object(copy.deepcopy(obj), deleted=deleted)
        table = self.model[_table(event)]
        if isinstance(event, Upsert):
            table[record_key(event.obj)] = event.obj
        else:
            table.pop(event.key)
        update = self.planner.apply(event)
        self.check(update)
        return update

    def check(self, update: Update) -> None:
        assert {t: dict(getattr(self.planner.snapshot(), t)) for t in TABLES} == self.model
        expected = build_intent(self.snapshot(), self.inventory)
        got = self.planner.graph()
        assert [o.key for o in got.objects] == [o.key for o in expected.objects]
        assert got.objects == expected.objects
        assert got.warnings == expected.warnings
        full = diff(expected.realized(), self.graph.realized())
        assert _changes(update.changes) == _changes(full)
        self.planner.acknowledge(update.changes)
        self.graph = expected

    # -- objects to send -------------------------------------------------------------------------
    def items(self, stem: str) -> list[dict[str, Any]]:
        return self.docs[stem]["items"]

    def new_node(self, index: int) -> dict[str, Any]:
        return synthetic.node_object(self.layout, index)

    def lb_service(self, local: bool) -> dict[str, Any]:
        """A LoadBalancer Service (with its policy) that has ready endpoints."""
        for svc in self.items("services"):
            spec = svc["spec"]
            lb = spec["type"] == "LoadBalancer" and (spec["externalTrafficPolicy"] == "Local") == local
            if lb and self.ready_nodes(svc):
                return svc
        raise AssertionError("the generated cluster has no such Service")

    def slice_of(self, svc: dict[str, Any]) -> dict[str, Any]:
        name = svc["metadata"]["name"]
        return next(s for s in self.items("endpointslices")
                    if s["metadata"]["labels"]["kubernetes.io/service-name"] == name)

    def ready_nodes(self, svc: dict[str, Any]) -> set[str]:
        return {e["nodeName"] for e in self.slice_of(svc)["endpoints"] if e["conditions"]["ready"]}


def _table(event: Upsert | Delete) -> str:
    kind = type(event.obj).__name__ if isinstance(event, Upsert) else event.kind
    return {"Node": "nodes", "Namespace": "namespaces", "Pod": "pods", "Service": "services",
            "EndpointSlice": "endpoint_slices", "NetworkPolicy": "network_policies"}[kind]


def _changes(changes: Any) -> list[tuple[Any, ...]]:
    """Changes as comparable rows. What a device holds has no provenance, so `before` is compared
    by configuration (the planner's observed objects keep the provenance of the change that made them)."""
    return [(c.action, c.key, c.before.config() if c.before else None, c.after, c.details,
             c.provenance if c.action != "delete" else ()) for c in changes]


@pytest.fixture(params=sorted(SCALES))
def h(request: pytest.FixtureRequest) -> Harness:
    return Harness(SCALES[request.param])


def test_starts_equal_to_the_full_build(h: Harness) -> None:
    assert h.planner.graph() == h.graph
    assert len(h.graph.objects) > 50  # a cluster with something in it


def test_node_added_changed_and_deleted(h: Harness) -> None:
    n = h.layout.scale.nodes
    added = h.new_node(n)
    update = h.send(added)
    name, address = added["metadata"]["name"], added["status"]["addresses"][0]["address"]
    assert any(c.action == "create" for c in update.changes)
    assert all(name in c.key or f"{address}" in c.key for c in update.changes)
    vips = sum(1 for k in h.graph.keys() if k.startswith("service-vip:"))  # noqa: SIM118 (a graph is no dict)
    all_nodes = h.inventory.vips.cluster_policy_nodes == "all"  # then every Cluster VIP gains the node
    assert len(update.keys) <= 12 + (vips if all_nodes else 0)  # its own objects, not the cluster's

    moved = copy.deepcopy(added)  # into the next rack, with an address there
    rack = (n + 1) % h.layout.racks
    moved["metadata"]["labels"][synthetic.RACK_LABEL] = synthetic.rack_name(rack)
    moved["status"]["addresses"][0]["address"] = str(h.layout.rack_subnet(rack).network_address + 200)
    h.send(moved)

    no_cidr = copy.deepcopy(moved)
    no_cidr["spec"] = {}
    update = h.send(no_cidr)
    assert update.changes  # its routes go, or its prefix-list shrinks
    assert any("no spec.podCIDRs yet" in w for w in h.planner.graph().warnings)

    update = h.send(no_cidr, deleted=True)
    assert all(c.action == "delete" for c in update.changes)


def test_deleting_and_moving_nodes_that_serve_vips(h: Harness) -> None:
    for local in (True, False):
        svc = h.lb_service(local)
        node_name = min(h.ready_nodes(svc))
        index = int(node_name.removeprefix("worker-"))
        node = h.new_node(index)
        rack = (index + 1) % h.layout.racks
        node["metadata"]["labels"][synthetic.RACK_LABEL] = synthetic.rack_name(rack)
        node["status"]["addresses"][0]["address"] = str(h.layout.rack_subnet(rack).network_address + 201 + local)
        h.send(node)
        update = h.send(node, deleted=True)
        assert any(c.action == "delete" for c in update.changes)


def test_pods_added_and_deleted_change_only_the_tables(h: Harness) -> None:
    pod = copy.deepcopy(h.items("pods")[0])
    pod["metadata"]["name"] += "-extra"
    assert h.send(pod).changes == ()
    assert h.send(pod, deleted=True).changes == ()


def test_pod_added_with_its_endpoint(h: Harness) -> None:
    """A new ready replica on a node that did not serve the Service: the VIP gains that node."""
    for local in (True, False):
        svc = h.lb_service(local)
        serving = h.ready_nodes(svc)
        node_index = next(i for i in range(h.layout.scale.nodes) if synthetic.node_name(i) not in serving)
        node = synthetic.node_name(node_index)
        ip = str(h.layout.pod_cidr(node_index).network_address + 250)
        app = svc["metadata"]["name"]
        pod = synthetic.pod_object(svc["metadata"]["namespace"], f"{app}-new", app, node, ip, True, h.rng)
        assert h.send(pod).changes == ()
        eps = copy.deepcopy(h.slice_of(svc))
        eps["endpoints"].append(synthetic.endpoint(pod))
        update = h.send(eps)
        if local or h.inventory.vips.cluster_policy_nodes != "all":  # else every node announces it already
            assert any(c.action in ("create", "update") for c in update.changes)
        assert len(update.keys) < len(h.graph.objects) // 4


def test_endpoints_not_ready_then_slice_deleted_and_back(h: Harness) -> None:
    svc = h.lb_service(True)
    eps = copy.deepcopy(h.slice_of(svc))
    for endpoint in eps["endpoints"]:
        endpoint["conditions"]["ready"] = False
    h.send(eps)
    assert any("no ready endpoint" in w for w in h.planner.graph().warnings)
    h.send(eps, deleted=True)
    h.send(h.slice_of(svc))


def test_services_added_changed_and_deleted(h: Harness) -> None:
    svc = copy.deepcopy(h.lb_service(False))
    svc["spec"]["externalTrafficPolicy"] = "Local"
    h.send(svc)
    svc["status"]["loadBalancer"]["ingress"][0]["ip"] = str(synthetic.VIP_POOL.network_address + 5000)
    h.send(svc)
    svc["status"]["loadBalancer"]["ingress"].append({"ip": "203.0.113.9"})  # outside vips.pools: a warning
    h.send(svc)
    assert any("outside vips.pools" in w for w in h.planner.graph().warnings)
    svc["spec"]["type"] = "ClusterIP"
    h.send(svc)
    h.send(svc, deleted=True)

    other = copy.deepcopy(h.lb_service(True))  # a second Service sharing a VIP with an existing one
    shared_ip = other["status"]["loadBalancer"]["ingress"][0]["ip"]
    other["metadata"]["name"] = "shared-vip"
    h.send(other)
    assert "shared-vip" in h.planner.graph().get(f"service-vip:{shared_ip}").service
    h.send(other, deleted=True)


def test_namespaces_and_policies_change_only_the_tables(h: Harness) -> None:
    policy = copy.deepcopy(h.items("networkpolicies")[1])
    policy["spec"]["podSelector"] = {}
    assert h.send(policy).changes == ()
    assert h.send(policy, deleted=True).changes == ()
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "extra"}}
    assert h.send(namespace).changes == ()
    assert h.send(namespace, deleted=True).changes == ()


def test_overlapping_pod_cidr_is_refused_like_the_full_build_then_recovers(h: Harness) -> None:
    bad = h.new_node(h.layout.scale.nodes)
    bad["spec"]["podCIDRs"] = [str(h.layout.pod_cidr(3))]  # node 3's subnet
    bad["spec"]["podCIDR"] = bad["spec"]["podCIDRs"][0]
    _refused_like_full_build(h, bad)
    pod = copy.deepcopy(h.items("pods")[0])  # while refused, every event is refused the same way
    pod["metadata"]["name"] += "-extra"
    _refused_like_full_build(h, pod)
    update = h.send(bad, deleted=True)  # safe again: the planner recovers and plans from scratch
    assert update.changes == ()
    h.send(h.new_node(h.layout.scale.nodes + 1))


def test_vip_inside_a_pod_subnet_is_refused_then_recovers(h: Harness) -> None:
    svc = copy.deepcopy(h.lb_service(True))
    svc["metadata"]["name"] = "in-pod-subnet"
    svc["status"]["loadBalancer"]["ingress"][0]["ip"] = str(h.layout.pod_cidr(2).network_address + 7)
    _refused_like_full_build(h, svc)
    h.send(svc, deleted=True)
    node = h.new_node(h.layout.scale.nodes)  # a new node whose podCIDR holds an existing VIP
    vip = h.lb_service(False)["status"]["loadBalancer"]["ingress"][0]["ip"]
    node["spec"]["podCIDRs"] = [f"{vip}/32"]
    node["spec"]["podCIDR"] = f"{vip}/32"
    _refused_like_full_build(h, node)
    h.send(node, deleted=True)


def test_duplicate_node_address_is_refused_in_bgp_mode() -> None:
    h = Harness(SCALES["bgp-vrf"])
    twin = h.new_node(h.layout.scale.nodes + h.layout.racks)  # same rack as the next new node
    twin["status"]["addresses"][0]["address"] = h.items("nodes")[h.layout.scale.nodes % h.layout.racks][
        "status"]["addresses"][0]["address"]
    _refused_like_full_build(h, twin)


def _refused_like_full_build(h: Harness, obj: dict[str, Any]) -> None:
    event = event_from_object(obj)
    assert isinstance(event, Upsert)
    h.model[_table(event)][record_key(event.obj)] = event.obj
    with pytest.raises(IntentError) as expected:
        build_intent(h.snapshot(), h.inventory)
    with pytest.raises(IntentError) as got:
        h.planner.apply(event)
    assert got.value.problems == expected.value.problems
    with pytest.raises(IntentError):
        h.planner.graph()


def test_a_random_walk_of_events_stays_equal_to_the_full_build() -> None:
    h = Harness(SCALES["static"])
    rng, extra = random.Random(3), h.layout.scale.nodes
    for _ in range(40):
        roll = rng.random()
        if roll < 0.25:
            h.send(h.new_node(extra))
            extra += 1
        elif roll < 0.4 and extra > h.layout.scale.nodes:
            extra -= 1
            h.send(h.new_node(extra), deleted=True)
        elif roll < 0.7:
            eps = copy.deepcopy(rng.choice(h.items("endpointslices")))
            for endpoint in eps["endpoints"]:
                endpoint["conditions"]["ready"] = rng.random() < 0.6
                endpoint["nodeName"] = synthetic.node_name(rng.randrange(extra))
            h.send(eps)
        else:
            svc = copy.deepcopy(rng.choice(h.items("services")))
            spec = svc["spec"]
            spec["type"] = rng.choice(["LoadBalancer", "ClusterIP"])
            spec["externalTrafficPolicy"] = rng.choice(["Local", "Cluster"])
            ip = str(synthetic.VIP_POOL.network_address + 1 + rng.randrange(40))  # collisions share a VIP
            svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip}]}}
            h.send(svc)


def test_graph_is_a_real_intent_graph() -> None:
    h = Harness(SCALES["static"])
    assert isinstance(h.planner.graph(), IntentGraph)
    assert dataclasses.is_dataclass(h.planner.snapshot())


def test_services_with_several_slices_keep_slice_order() -> None:
    """150 pods per Service make two slices each; updating the first keeps its place (and provenance order)."""
    h = Harness(synthetic.Scale(nodes=10, pods=300, services=2, policies=0, racks=2, lb_share=1.0, seed=4))
    slices = h.items("endpointslices")
    assert len(slices) == 4
    first = copy.deepcopy(slices[0])
    first["endpoints"][0]["conditions"]["ready"] = not first["endpoints"][0]["conditions"]["ready"]
    h.send(first)
    h.send(first, deleted=True)  # deleted and added back: now it comes last
    h.send(slices[0])


def test_synthetic_clusters_are_deterministic_and_consistent() -> None:
    scale = SCALES["static"]
    docs = synthetic.generate(scale)
    assert docs == synthetic.generate(scale)
    assert docs != synthetic.generate(dataclasses.replace(scale, seed=scale.seed + 1))
    snap = parse_snapshot(sorted(docs.items()))
    assert (len(snap.nodes), len(snap.pods), len(snap.services), len(snap.network_policies)) == (
        scale.nodes, scale.pods, scale.services, scale.policies)
    for pod in snap.pods.values():  # pod IPs inside their node's podCIDR
        assert all(ip in snap.nodes[pod.node_name].pod_cidrs[0] for ip in pod.ips)
    by_ip = {str(ip): pod for pod in snap.pods.values() for ip in pod.ips}
    for eps in snap.endpoint_slices.values():  # endpoints are the Service's pods, on their nodes
        for e in eps.endpoints:
            pod = by_ip[e.addresses[0]]
            assert (pod.labels["app"], pod.node_name, pod.namespace) == (eps.service_name, e.node_name, eps.namespace)
    lbs = [s for s in snap.services.values() if s.type == "LoadBalancer"]
    assert lbs and all(ip in synthetic.VIP_POOL for s in lbs for ip in s.load_balancer_ips)
    assert {s.external_traffic_policy for s in lbs} == {"Local", "Cluster"}
    inventory = parse_inventory(synthetic.inventory(scale), "inventory")
    graph = build_intent(snap, inventory)  # attaches every node, refuses nothing
    assert sum(1 for k in graph.keys() if k.startswith("node-attachment:")) == scale.nodes  # noqa: SIM118

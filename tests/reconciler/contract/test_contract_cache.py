"""Scenario contract for the cluster cache: what a real API server does, the cache must follow."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest
from contract_cluster import ContractCluster
from fakeapi import FakeApiServer, wait_until

from reconciler.kube import SOURCES, ClusterCache, WatchEvent

TIMEOUT = 20.0


def node(cluster: ContractCluster, base: str, cidr: str, address: str, rack: str = "rack-a") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": cluster.name(base), "labels": {"topology.kubernetes.io/zone": rack}},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}


def ready_status(address: str) -> dict[str, Any]:
    return {"addresses": [{"type": "InternalIP", "address": address}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready",
                            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}


@pytest.fixture
def events() -> list[WatchEvent]:
    return []


@pytest.fixture
def cache(cluster: ContractCluster, events: list[WatchEvent]) -> Iterator[ClusterCache]:
    one = ClusterCache(cluster.client, on_event=events.append, backoff_base=0.05, backoff_cap=0.5, read_timeout=30)
    one.start()
    try:
        assert one.wait_synced(TIMEOUT)
        if cluster.faults is not None:
            assert cluster.faults.wait_for_watchers(len(SOURCES))
        yield one
    finally:
        one.stop()


def test_node_added_then_deleted(cluster: ContractCluster, cache: ClusterCache, events: list[WatchEvent]) -> None:
    name = cluster.name("worker-1")
    cluster.create(node(cluster, "worker-1", "10.250.1.0/24", "192.0.2.11"))
    cluster.patch_status("Node", name, ready_status("192.0.2.11"))
    assert wait_until(lambda: name in cache.snapshot().nodes and cache.snapshot().nodes[name].ready, TIMEOUT)
    seen = cache.snapshot().nodes[name]
    assert seen.pod_cidrs == (ipaddress.ip_network("10.250.1.0/24"),)
    assert ("InternalIP", "192.0.2.11") in seen.addresses
    cluster.delete("Node", name)
    assert wait_until(lambda: name not in cache.snapshot().nodes, TIMEOUT)
    mine = [e.type for e in events if e.kind == "Node" and e.name == name]
    assert mine[0] == "ADDED" and mine[-1] == "DELETED" and "MODIFIED" in mine


def test_load_balancer_ip_assigned(cluster: ContractCluster, cache: ClusterCache) -> None:
    ns = cluster.namespace
    cluster.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
                    "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                             "ports": [{"port": 80, "protocol": "TCP"}]}})
    key = f"{ns}/web"
    assert wait_until(lambda: key in cache.snapshot().services, TIMEOUT)
    assert cache.snapshot().services[key].load_balancer_ips == ()
    cluster.patch_status("Service", "web", {"loadBalancer": {"ingress": [{"ip": "198.51.100.77"}]}}, ns)
    assert wait_until(lambda: cache.snapshot().services[key].load_balancer_ips, TIMEOUT)
    service = cache.snapshot().services[key]
    assert service.load_balancer_ips == (ipaddress.ip_address("198.51.100.77"),)
    assert service.type == "LoadBalancer" and service.external_traffic_policy == "Local"


def test_namespaced_kinds_arrive(cluster: ContractCluster, cache: ClusterCache) -> None:
    ns = cluster.namespace
    cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-0", "namespace": ns,
                                                                   "labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "registry.example/api:1",
                                             "ports": [{"name": "http", "containerPort": 8080}]}]}})
    cluster.create({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "api-abcde", "namespace": ns, "labels": {"kubernetes.io/service-name": "api"}},
                    "addressType": "IPv4", "endpoints": [{"addresses": ["10.250.1.5"], "nodeName": "worker-1",
                                                          "conditions": {"ready": True}}]})
    cluster.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": "default-deny", "namespace": ns},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    assert wait_until(lambda: f"{ns}/api-0" in cache.snapshot().pods
                      and f"{ns}/api-abcde" in cache.snapshot().endpoint_slices
                      and f"{ns}/default-deny" in cache.snapshot().network_policies, TIMEOUT)
    snapshot = cache.snapshot()
    assert snapshot.pods[f"{ns}/api-0"].labels == {"app": "api"}
    assert [p.port for p in snapshot.pods[f"{ns}/api-0"].ports] == [8080]
    assert [s.name for s in snapshot.slices_for(ns, "api")] == ["api-abcde"]
    assert snapshot.network_policies[f"{ns}/default-deny"].spec["policyTypes"] == ["Ingress"]
    assert ns in snapshot.namespaces


def test_cut_stream_loses_nothing(cluster: ContractCluster, cache: ClusterCache, faults: FakeApiServer) -> None:
    faults.cut_watches()
    name = cluster.name("worker-2")
    cluster.create(node(cluster, "worker-2", "10.250.2.0/24", "192.0.2.12"))  # maybe before the watch is back
    assert wait_until(lambda: name in cache.snapshot().nodes, TIMEOUT)
    assert cache.broken_since() is None or wait_until(lambda: cache.broken_since() is None, TIMEOUT)


def test_410_relists_once_without_duplicates(cluster: ContractCluster, cache: ClusterCache,
                                             events: list[WatchEvent], faults: FakeApiServer) -> None:
    keep, gone = cluster.name("keep"), cluster.name("gone")
    cluster.create(node(cluster, "keep", "10.250.3.0/24", "192.0.2.13"))
    cluster.create(node(cluster, "gone", "10.250.4.0/24", "192.0.2.14"))
    assert wait_until(lambda: {keep, gone} <= set(cache.snapshot().nodes), TIMEOUT)
    faults.go_down()
    faults.delete("Node", gone)
    faults.compact()
    faults.come_back()
    assert wait_until(lambda: sum(1 for e in events if e.kind == "Node" and e.type == "RELISTED") == 2, TIMEOUT)
    assert keep in cache.snapshot().nodes and gone not in cache.snapshot().nodes
    assert sum(1 for e in events if e.kind == "Node" and e.name == keep and e.type == "ADDED") == 1


def test_outage_holds_the_view(cluster: ContractCluster, cache: ClusterCache, faults: FakeApiServer) -> None:
    name = cluster.name("worker-5")
    cluster.create(node(cluster, "worker-5", "10.250.5.0/24", "192.0.2.15"))
    assert wait_until(lambda: name in cache.snapshot().nodes, TIMEOUT)
    faults.go_down()
    assert wait_until(lambda: cache.broken_since() is not None, TIMEOUT)
    assert name in cache.snapshot().nodes and cache.synced
    faults.come_back()
    assert wait_until(lambda: cache.broken_since() is None, TIMEOUT)
    cluster.delete("Node", name)
    assert wait_until(lambda: name not in cache.snapshot().nodes, TIMEOUT)

"""End to end: the service as `fabric-intent run` wires it, through the official client and the fake API
server over HTTP on 127.0.0.1, converging the sim fabric."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeApiServer
from loop_support import SimFabric, value, wait_for
from memcluster import node, sample_objects
from run_support import (
    LEASE,
    crash,
    get,
    holder,
    make_service,
    owned_snapshot,
    processes,
    replica_process,
    serving,
    writes_of,
)

from drivers.fabric import Fabric
from intent.build import build_intent
from intent.cluster import parse_snapshot


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.load(sample_objects())
        yield server


@pytest.fixture
def sim(tmp_path: Path) -> SimFabric:
    return SimFabric.create(tmp_path)


def converged(sim: SimFabric, count: int = 16) -> None:
    wait_for(lambda: len(sim.owned()) == count, what=f"{count} owned objects on the fabric")


def plan_from_api(api: FakeApiServer, sim: SimFabric) -> Any:
    """What a one-shot plan makes of the API server's objects against the fabric as it is."""
    objects = [o for kind in ("Node", "Namespace", "Pod", "Service", "EndpointSlice", "NetworkPolicy")
               for o in api.objects(kind)]
    snapshot = parse_snapshot([("api", {"apiVersion": "v1", "kind": "List", "items": objects})])
    fabric = Fabric.from_inventory(sim.inventory(), sim.folder)
    return fabric.plan(build_intent(snapshot, sim.inventory()), fabric.observe(), cluster_nodes=len(snapshot.nodes))


def test_node_added_gets_its_route_and_an_event(api: FakeApiServer, sim: SimFabric) -> None:
    with serving(make_service(api, sim, "replica-a")) as (service,):
        converged(sim)
        api.create(node("worker-a4", "rack-a", "192.168.1.14", "10.244.10.0/24"))
        wait_for(lambda: "10.244.10.0/24" in sim.prefixes("leaf-a1"), what="the new node's route")
        assert service.recorder.flush()
    events = [e for e in api.events() if e["regarding"]["name"] == "worker-a4"]
    assert [(e["reason"], e["regarding"]["kind"], e["metadata"]["namespace"]) for e in events] == [
        ("FabricProgrammed", "Node", "default")]
    assert "10.244.10.0/24" in events[0]["note"] and events[0]["reportingController"] == "fabric-intent.io/reconciler"


def test_node_deleted_is_withdrawn(api: FakeApiServer, sim: SimFabric) -> None:
    with serving(make_service(api, sim, "replica-a")) as (service,):
        converged(sim)
        api.delete("Node", "worker-a3")
        wait_for(lambda: "10.244.3.0/24" not in sim.prefixes("leaf-a1"), what="the route withdrawn")
        assert service.recorder.flush()
    assert not plan_from_api(api, sim).has_changes
    withdrawn = [e for e in api.events() if e["reason"] == "FabricWithdrawn"]
    assert [(e["regarding"]["kind"], e["regarding"]["name"]) for e in withdrawn] == [("Node", "worker-a3")]
    assert withdrawn[0]["note"] == "leaf-a1: - static route 10.244.3.0/24 via 192.168.1.13"


def test_load_balancer_ip_assigned_is_advertised(api: FakeApiServer, sim: SimFabric) -> None:
    service_obj = next(o for o in api.objects("Service") if o["metadata"]["name"] == "payments-api")
    assigned = service_obj["status"]["loadBalancer"]["ingress"]
    service_obj["status"]["loadBalancer"] = {}
    api.replace(service_obj)
    with serving(make_service(api, sim, "replica-a")):
        converged(sim, 15)
        assert "198.51.100.20/32" not in sim.prefixes("leaf-b1")
        service_obj["status"]["loadBalancer"] = {"ingress": assigned}
        api.replace(service_obj)
        wait_for(lambda: "198.51.100.20/32" in sim.prefixes("leaf-b1"), what="the VIP's route on leaf-b1")
        wait_for(lambda: any("198.51.100.20/32" in str(e.get("entries")) for e in sim.owned("leaf-c1")),
                 what="the VIP in the BGP node's prefix-list on leaf-c1")


def test_api_server_down_beyond_the_hold_time_withdraws_nothing(api: FakeApiServer, sim: SimFabric) -> None:
    with serving(make_service(api, sim, "replica-a", hold_after=0.5, resync_interval=0.3)) as (service,):
        converged(sim)
        api.go_down()
        wait_for(lambda: service.loop.holding is not None, what="the loop to hold")
        api.delete("Node", "worker-a3")  # happens while the replica cannot see it
        state = sim.state()
        edited = next(e for e in state["devices"]["leaf-a1"] if e.get("owner") == "fabric-intent")
        edited["tag"] = 999  # a hand edit a resync would repair, were it not holding
        sim.write_state(state)
        before = owned_snapshot(sim)
        time.sleep(1.0)  # several resync periods: none of them may write
        assert owned_snapshot(sim) == before
        assert value(service.metrics, "fabric_intent_holding") == 1
        held = value(service.metrics, "fabric_intent_reconcile_duration_seconds_count", outcome="held")
        assert held >= 2, "the resyncs during the outage did run, and held"
        api.come_back()
        wait_for(lambda: "10.244.3.0/24" not in sim.prefixes("leaf-a1"), what="the withdrawal after reconnect")
        wait_for(lambda: all(e.get("tag") != 999 for e in sim.owned("leaf-a1")), what="the hand edit repaired")
        assert service.loop.holding is None


def test_410_gone_relists_without_duplicate_or_lost_changes(api: FakeApiServer, sim: SimFabric) -> None:
    with serving(make_service(api, sim, "replica-a")) as (service,):
        converged(sim)
        assert api.wait_for_watchers(6)
        lists_before = sum(1 for m, path, q in api.requests if m == "GET" and path == "/api/v1/nodes"
                           and "watch" not in q)
        api.create(node("worker-a4", "rack-a", "192.168.1.14", "10.244.10.0/24"))
        api.compact()
        api.cut_watches()  # the watch resumes from a compacted resourceVersion: 410, then a re-list
        api.delete("Node", "worker-a3")  # one route: the mass-delete guard stays quiet
        api.create(node("worker-b4", "rack-b", "192.168.2.14", "10.244.11.0/24"))
        wait_for(lambda: "10.244.11.0/24" in sim.prefixes("leaf-b1") and "10.244.3.0/24" not in sim.prefixes(
            "leaf-a1") and "10.244.10.0/24" in sim.prefixes("leaf-a1"), what="every change on the fabric")
        lists_after = sum(1 for m, path, q in api.requests if m == "GET" and path == "/api/v1/nodes"
                          and "watch" not in q)
        assert lists_after > lists_before, "the node watch did not re-list after 410"
        assert service.cache.snapshot().nodes.keys() == {o["metadata"]["name"] for o in api.objects("Node")}
    routes = [(e["device"], e["prefix"], e["next_hop"]) for e in sim.owned() if e["kind"] == "static-route"]
    assert len(routes) == len(set(routes))
    assert not plan_from_api(api, sim).has_changes


def test_two_replicas_exactly_one_writes(api: FakeApiServer, sim: SimFabric) -> None:
    with serving(make_service(api, sim, "replica-a"), make_service(api, sim, "replica-b")) as services:
        converged(sim)
        api.create(node("worker-a4", "rack-a", "192.168.1.14", "10.244.10.0/24"))
        wait_for(lambda: "10.244.10.0/24" in sim.prefixes("leaf-a1"), what="the new node's route")
        leaders = [s for s in services if s.elector.is_leader]
        assert len(leaders) == 1 and holder(api) == leaders[0].settings.lease.identity
        assert [writes_of(s) > 0 for s in services] == [s is leaders[0] for s in services]
        follower = next(s for s in services if s is not leaders[0])
        wait_for(lambda: follower.cache.synced, what="the follower's cache to sync (it keeps it warm)")
        assert get(follower, "/readyz")[0] == 200
        assert value(follower.metrics, "fabric_intent_leader") == 0


def test_leader_killed_the_other_takes_over_within_the_lease_time(api: FakeApiServer, sim: SimFabric) -> None:
    with serving(make_service(api, sim, "replica-a"), make_service(api, sim, "replica-b")) as services:
        converged(sim)
        wait_for(lambda: any(s.elector.is_leader for s in services), what="a leader")
        leader = next(s for s in services if s.elector.is_leader)
        other = next(s for s in services if s is not leader)
        crash(leader)
        killed = time.monotonic()
        api.create(node("worker-a4", "rack-a", "192.168.1.14", "10.244.10.0/24"))
        wait_for(lambda: other.elector.is_leader, timeout=10, what="the other replica to take the Lease")
        took_over = time.monotonic() - killed
        wait_for(lambda: "10.244.10.0/24" in sim.prefixes("leaf-a1"), what="the new leader's write")
    assert took_over <= LEASE["duration"] + 2 * LEASE["retry_period"] + 0.5, f"takeover took {took_over:.2f} s"
    assert holder(api) in ("", other.settings.lease.identity)


def test_hand_edit_of_an_owned_object_is_repaired_at_resync(api: FakeApiServer, sim: SimFabric) -> None:
    with serving(make_service(api, sim, "replica-a", resync_interval=0.5)) as (service,):
        converged(sim)
        state = sim.state()
        leaf = state["devices"]["leaf-b1"]
        removed = next(e for e in leaf if e.get("owner") == "fabric-intent")
        leaf.remove(removed)
        sim.write_state(state)
        wait_for(lambda: removed in sim.owned("leaf-b1"), what="the removed object restored")
        assert value(service.metrics, "fabric_intent_last_success_timestamp_seconds") > 0


def test_a_killed_leader_process_is_replaced_within_the_lease_time(api: FakeApiServer, sim: SimFabric) -> None:
    duration = 3.0
    with processes(replica_process(api, sim, "proc-a", duration), replica_process(api, sim, "proc-b", duration)) as (
            a, b):
        wait_for(lambda: holder(api) in ("proc-a", "proc-b") and len(sim.owned()) == 16, timeout=60,
                 what="a leader and convergence")
        leader, other = (a, "proc-b") if holder(api) == "proc-a" else (b, "proc-a")
        leader.send_signal(signal.SIGKILL)  # no goodbye: the Lease is not released
        killed = time.monotonic()
        leader.wait(5)
        api.create(node("worker-a4", "rack-a", "192.168.1.14", "10.244.10.0/24"))
        wait_for(lambda: holder(api) == other, timeout=15, what="the other process to take the Lease")
        took_over = time.monotonic() - killed
        wait_for(lambda: "10.244.10.0/24" in sim.prefixes("leaf-a1"), timeout=15, what="the new leader's write")
    assert took_over <= duration + 1.0, f"takeover took {took_over:.2f} s"

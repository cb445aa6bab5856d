"""Leader election on a Lease against the fake API server, with short lease timings."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakeapi import FakeApiServer, wait_until
from kubernetes.client import CoordinationV1Api

from reconciler.leader import ClusterAccessError, LeaderElector, ensure_namespace

LEASE, RENEW, RETRY = 1.0, 0.6, 0.1
NS = "fabric-intent"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer(bookmark_interval=None) as server:
        ensure_namespace(server.client(), NS)
        yield server


@pytest.fixture
def elector(api: FakeApiServer) -> Iterator[Callable[..., LeaderElector]]:
    made: list[LeaderElector] = []

    def make(identity: str, **options: Any) -> LeaderElector:
        settings = {"lease_duration": LEASE, "renew_deadline": RENEW, "retry_period": RETRY, **options}
        one = LeaderElector(api.client(), namespace=NS, identity=identity, **settings)
        made.append(one)
        return one

    yield make
    for one in made:
        one.stop(release=False)


def lease(api: FakeApiServer) -> dict[str, Any]:
    return next(o for o in api.objects("Lease") if o["metadata"]["name"] == "fabric-intent")


def leaders(*electors: LeaderElector) -> list[str]:
    return [e.identity for e in electors if e.is_leader]


def test_two_replicas_exactly_one_leads(api: FakeApiServer, elector: Callable[..., LeaderElector]) -> None:
    a, b = elector("replica-a"), elector("replica-b")
    a.start()
    b.start()
    assert wait_until(lambda: len(leaders(a, b)) == 1)
    winner = leaders(a, b)[0]
    deadline = time.monotonic() + 2 * LEASE  # two lease periods: never two, never a change of leader
    while time.monotonic() < deadline:
        assert leaders(a, b) == [winner]
        time.sleep(RETRY / 4)
    spec = lease(api)["spec"]
    assert spec["holderIdentity"] == winner and spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0


def test_lease_is_a_valid_typed_object(api: FakeApiServer, elector: Callable[..., LeaderElector]) -> None:
    a = elector("replica-a", lease_duration=15, renew_deadline=10, retry_period=2)
    a.start()
    assert wait_until(lambda: a.is_leader)
    read = CoordinationV1Api(api.client()).read_namespaced_lease("fabric-intent", NS)
    assert read.spec.holder_identity == "replica-a" and read.spec.lease_duration_seconds == 15
    assert read.spec.renew_time.tzinfo is not None and read.spec.acquire_time <= read.spec.renew_time
    assert lease(api)["spec"]["renewTime"].endswith("Z") and len(lease(api)["spec"]["renewTime"]) == 27


def test_release_on_stop_hands_over_at_once(api: FakeApiServer, elector: Callable[..., LeaderElector]) -> None:
    stopped = threading.Event()
    a = elector("replica-a", on_stopped_leading=stopped.set)
    a.start()
    assert wait_until(lambda: a.is_leader)
    b = elector("replica-b")
    b.start()
    time.sleep(2 * RETRY)  # b has seen a's Lease
    a.stop()
    assert stopped.is_set() and not a.is_leader
    released = time.monotonic()
    assert wait_until(lambda: b.is_leader, timeout=LEASE)
    assert time.monotonic() - released < LEASE / 2, "a released Lease is taken without waiting out the lease"
    spec = lease(api)["spec"]
    assert spec["holderIdentity"] == "replica-b" and spec["leaseTransitions"] == 1


def test_stop_clears_the_holder(api: FakeApiServer, elector: Callable[..., LeaderElector]) -> None:
    a = elector("replica-a")
    a.start()
    assert wait_until(lambda: a.is_leader)
    a.stop()
    assert lease(api)["spec"]["holderIdentity"] == ""


def test_killed_leader_is_replaced_after_the_lease_time(api: FakeApiServer,
                                                        elector: Callable[..., LeaderElector]) -> None:
    a, b = elector("replica-a"), elector("replica-b")
    a.start()
    assert wait_until(lambda: a.is_leader)
    b.start()
    time.sleep(2 * RETRY)
    a.stop(release=False)  # as if the process died: the Lease still names it
    killed = time.monotonic()
    assert wait_until(lambda: b.is_leader, timeout=LEASE + 5 * RETRY)
    took = time.monotonic() - killed
    assert LEASE - 2 * RETRY <= took <= LEASE + 5 * RETRY, took
    assert lease(api)["spec"]["holderIdentity"] == "replica-b"


def test_unreachable_api_ends_leadership_before_another_can_start(api: FakeApiServer,
                                                                  elector: Callable[..., LeaderElector]) -> None:
    events: list[str] = []
    a = elector("replica-a", on_started_leading=lambda: events.append("started"),
                on_stopped_leading=lambda: events.append("stopped"))
    a.start()
    assert wait_until(lambda: a.is_leader)
    api.go_down()
    lost = time.monotonic()
    assert wait_until(lambda: not a.is_leader, timeout=LEASE)
    assert time.monotonic() - lost < LEASE, "stepped down before the Lease could expire for others"
    assert wait_until(lambda: events == ["started", "stopped"])
    api.come_back()
    assert wait_until(lambda: a.is_leader, timeout=5)
    assert wait_until(lambda: events == ["started", "stopped", "started"])


def test_failing_api_is_polled_at_the_retry_period(api: FakeApiServer,
                                                  elector: Callable[..., LeaderElector]) -> None:
    a = elector("replica-a")
    a.start()
    assert wait_until(lambda: a.is_leader)
    api.fail(500, times=10_000, path="/leases/")
    assert wait_until(lambda: not a.is_leader, timeout=LEASE)
    before = len(api.requests)
    time.sleep(10 * RETRY)
    polls = len(api.requests) - before
    assert 4 <= polls <= 12, f"{polls} Lease requests in 10 retry periods"


def test_follower_never_writes_a_held_lease(api: FakeApiServer, elector: Callable[..., LeaderElector]) -> None:
    a = elector("replica-a")
    a.start()
    assert wait_until(lambda: a.is_leader)
    b = elector("replica-b")
    b.start()
    first = lease(api)["spec"]
    deadline = time.monotonic() + 2 * LEASE  # longer than the lease: a's renewals keep it held
    while time.monotonic() < deadline:
        spec = lease(api)["spec"]
        assert spec["holderIdentity"] == "replica-a" and spec["leaseTransitions"] == 0 and not b.is_leader
        time.sleep(RETRY / 2)
    assert lease(api)["spec"]["renewTime"] > first["renewTime"] and a.is_leader


def test_lost_race_is_a_409(api: FakeApiServer, elector: Callable[..., LeaderElector]) -> None:
    a = elector("replica-a")
    a.start()
    assert wait_until(lambda: a.is_leader)
    leases = CoordinationV1Api(api.client())
    stale = leases.read_namespaced_lease("fabric-intent", NS)
    assert wait_until(lambda: lease(api)["metadata"]["resourceVersion"] != stale.metadata.resource_version)
    stale.spec.holder_identity = "intruder"
    with pytest.raises(Exception) as info:
        leases.replace_namespaced_lease("fabric-intent", NS, stale)
    assert getattr(info.value, "status", None) == 409
    assert lease(api)["spec"]["holderIdentity"] == "replica-a" and a.is_leader


def test_elector_that_loses_the_race_stays_follower(api: FakeApiServer, elector: Callable[..., LeaderElector]) -> None:
    b = elector("replica-b")
    # b read the free Lease, then another replica took it before b wrote: b's write carries a stale version
    api.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "fabric-intent", "namespace": NS}, "spec": {"holderIdentity": ""}})
    seen = lease(api)
    taken = {**seen, "spec": {"holderIdentity": "replica-a", "leaseDurationSeconds": 1}}
    api.replace(taken)
    assert not b._write("PUT", b._path(b.name), b._lease_body(seen, time.monotonic()), time.monotonic())
    assert not b.is_leader and lease(api)["spec"]["holderIdentity"] == "replica-a"


def test_ensure_namespace(api: FakeApiServer) -> None:
    client = api.client()
    ensure_namespace(client, "network-ops")
    ensure_namespace(client, "network-ops")  # idempotent
    assert "network-ops" in [o["metadata"]["name"] for o in api.objects("Namespace")]
    api.forbid("get", "namespaces")
    ensure_namespace(client, "network-ops")  # reading forbidden, but it exists: 409 on create
    api.forbid("create", "namespaces")
    with pytest.raises(ClusterAccessError, match="may not create it .403 Forbidden.*--lease-namespace"):
        ensure_namespace(client, "missing")


def test_ensure_namespace_when_unreachable(api: FakeApiServer) -> None:
    api.go_down()
    with pytest.raises(ClusterAccessError, match="cannot reach the Kubernetes API"):
        ensure_namespace(api.client(), "network-ops")


@pytest.mark.parametrize(("lease_s", "renew", "retry"), [(10, 10, 2), (15, 10, 10), (15, 10, 0)])
def test_timings_must_nest(api: FakeApiServer, lease_s: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline > retry_period"):
        LeaderElector(api.client(), namespace=NS, identity="a", lease_duration=lease_s, renew_deadline=renew,
                      retry_period=retry)

"""Scenario contract for leader election on a Lease."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from contract_cluster import ContractCluster
from fakeapi import FakeApiServer, wait_until
from kubernetes.client import CoordinationV1Api
from kubernetes.client.exceptions import ApiException

from reconciler.leader import LeaderElector

LEASE, RENEW, RETRY = 2.0, 1.2, 0.2


@pytest.fixture
def elector(cluster: ContractCluster) -> Iterator[Callable[..., LeaderElector]]:
    made: list[LeaderElector] = []

    def make(identity: str, **callbacks: Any) -> LeaderElector:
        one = LeaderElector(cluster.client, namespace=cluster.namespace, name="contract", identity=identity,
                            lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY, **callbacks)
        made.append(one)
        one.start()
        return one

    yield make
    for one in made:
        one.stop()


def test_exactly_one_leader_and_handover(cluster: ContractCluster, elector: Callable[..., LeaderElector]) -> None:
    a, b = elector("replica-a"), elector("replica-b")
    assert wait_until(lambda: a.is_leader or b.is_leader, 10)
    leader, follower = (a, b) if a.is_leader else (b, a)
    deadline = time.monotonic() + LEASE
    while time.monotonic() < deadline:
        assert leader.is_leader and not follower.is_leader
        time.sleep(RETRY / 2)
    leader.stop()
    assert wait_until(lambda: follower.is_leader, LEASE)
    read = CoordinationV1Api(cluster.client).read_namespaced_lease("contract", cluster.namespace)
    assert read.spec.holder_identity == follower.identity and read.spec.lease_transitions == 1


def test_stale_lease_update_conflicts(cluster: ContractCluster, elector: Callable[..., LeaderElector]) -> None:
    a = elector("replica-a")
    assert wait_until(lambda: a.is_leader, 10)
    leases = CoordinationV1Api(cluster.client)
    stale = leases.read_namespaced_lease("contract", cluster.namespace)
    assert wait_until(lambda: leases.read_namespaced_lease("contract", cluster.namespace).metadata.resource_version
                      != stale.metadata.resource_version, 10)
    stale.spec.holder_identity = "intruder"
    with pytest.raises(ApiException) as info:
        leases.replace_namespaced_lease("contract", cluster.namespace, stale)
    assert info.value.status == 409


def test_leader_steps_down_when_the_api_is_gone(elector: Callable[..., LeaderElector], faults: FakeApiServer) -> None:
    a = elector("replica-a")
    assert wait_until(lambda: a.is_leader, 10)
    faults.go_down()
    lost = time.monotonic()
    assert wait_until(lambda: not a.is_leader, LEASE)
    assert time.monotonic() - lost < LEASE
    faults.come_back()
    assert wait_until(lambda: a.is_leader, 10)

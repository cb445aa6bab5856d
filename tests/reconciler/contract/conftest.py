"""The cluster the scenario contract runs against: the fake API server, or a real one.

With `FABRIC_INTENT_TEST_KUBECONFIG` set, the scenarios run against that cluster instead (they make
their own namespace and uniquely named Nodes, and delete them afterwards); scenarios that need to
break the API server (cut streams, compaction, outages) are skipped there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import kubernetes
import pytest
from contract_cluster import ENV, ContractCluster
from fakeapi import FakeApiServer


@pytest.fixture
def cluster() -> Iterator[ContractCluster]:
    kubeconfig = os.environ.get(ENV)
    if kubeconfig:
        with kubernetes.config.new_client_from_config(config_file=kubeconfig) as client:
            yield from _prepared(ContractCluster(client, None))
        return
    with FakeApiServer(bookmark_interval=0.5) as server, server.client() as client:
        yield from _prepared(ContractCluster(client, server))


def _prepared(cluster: ContractCluster) -> Iterator[ContractCluster]:
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster.namespace}})
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def faults(cluster: ContractCluster) -> FakeApiServer:
    """The fake server's fault hooks; the scenario is skipped against a real cluster."""
    if cluster.faults is None:
        pytest.skip("fault injection needs the fake API server")
    return cluster.faults

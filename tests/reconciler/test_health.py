"""/healthz, /readyz, /metrics and /plan over HTTP, on a loop fed by an in-memory cluster source."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from loop_support import SimFabric, running, settings, wait_for
from memcluster import MemoryCluster, sample_objects

from reconciler.health import HealthServer, Probes
from reconciler.loop import Reconciler
from reconciler.metrics import Metrics


def fetch(server: HealthServer, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[MemoryCluster, Reconciler, HealthServer]]:
    sim = SimFabric.create(tmp_path)
    cluster = MemoryCluster(sample_objects(), synced=False)
    loop = Reconciler(sim.inventory(), dict(sim.fabric().drivers), cluster, settings=settings(), metrics=Metrics())
    cluster.on_event = loop.notify
    server = HealthServer(Probes(loop.metrics, loop, lambda: cluster.synced), address="127.0.0.1", port=0)
    server.start()
    try:
        yield cluster, loop, server
    finally:
        server.stop()


def test_healthz_fails_until_the_loop_runs(parts: tuple[MemoryCluster, Reconciler, HealthServer]) -> None:
    _, loop, server = parts
    assert fetch(server, "/healthz")[0] == 503
    with running(loop):
        assert fetch(server, "/healthz")[:1] == (200,)
    assert fetch(server, "/healthz")[0] == 503


def test_readyz_waits_for_the_synced_cluster_view(parts: tuple[MemoryCluster, Reconciler, HealthServer]) -> None:
    cluster, loop, server = parts
    with running(loop):
        status, _, body = fetch(server, "/readyz")
        assert (status, body) == (503, "the cluster view is not synced\n")
        cluster.mark_synced()
        assert fetch(server, "/readyz")[0] == 200


def test_metrics_are_served_in_the_prometheus_format(parts: tuple[MemoryCluster, Reconciler, HealthServer]) -> None:
    cluster, loop, server = parts
    cluster.mark_synced()
    with running(loop):
        wait_for(lambda: "fabric_intent_cache_synced 1.0" in fetch(server, "/metrics")[2], what="synced metric")
        wait_for(lambda: loop.last_plan is not None, what="a plan")
    status, content_type, text = fetch(server, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    assert 'fabric_intent_plan_changes{action="create"} 16.0' in text
    assert 'fabric_intent_mode{mode="apply"} 1.0' in text


def test_plan_is_published_as_json(parts: tuple[MemoryCluster, Reconciler, HealthServer]) -> None:
    cluster, loop, server = parts
    assert fetch(server, "/plan")[0] == 404
    cluster.mark_synced()
    loop.reconcile()
    status, content_type, body = fetch(server, "/plan")
    document = json.loads(body)
    assert (status, content_type) == (200, "application/json")
    assert document["summary"]["add"] == 16 and document["format"] == "fabric-intent/plan@1"
    assert fetch(server, "/nothing")[0] == 404

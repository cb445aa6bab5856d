"""ClusterCache against the fake API server: list, watch, resume, re-list, backoff, the synced gate."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeApiServer, wait_until

from reconciler.files import load_cluster
from reconciler.kube import SOURCES, ClusterCache, WatchEvent, _backoff, _older

REAL = Path(__file__).resolve().parents[1] / "intent" / "data" / "real-apiserver"
NODES = "/api/v1/nodes"


def node(name: str, cidr: str = "10.244.1.0/24", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.11"}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


class Recorder:
    """Collects the cache's events (thread-safe)."""

    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: WatchEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: str, type_: str | None = None) -> list[WatchEvent]:
        with self._lock:
            return [e for e in self.events if e.kind == kind and type_ in (None, e.type)]


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer(bookmark_interval=None) as server:
        yield server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_cache(api: FakeApiServer, recorder: Recorder) -> Iterator[Callable[..., ClusterCache]]:
    caches: list[ClusterCache] = []

    def make(**options: Any) -> ClusterCache:
        settings = {"backoff_base": 0.02, "backoff_cap": 0.2, "page_size": 2, "read_timeout": 10.0, **options}
        cache = ClusterCache(api.client(), on_event=recorder, **settings)
        caches.append(cache)
        cache.start()
        return cache

    yield make
    for cache in caches:
        cache.stop()


def synced_cache(make_cache: Callable[..., ClusterCache], api: FakeApiServer, **options: Any) -> ClusterCache:
    cache = make_cache(**options)
    assert cache.wait_synced(5)
    assert api.wait_for_watchers(len(SOURCES))
    return cache


def test_initial_list_pages_and_fills_the_snapshot(api: FakeApiServer, make_cache: Callable[..., ClusterCache],
                                                   recorder: Recorder) -> None:
    for i in range(5):
        api.create(node(f"worker-{i}", f"10.244.{i}.0/24"))
    cache = make_cache()
    started = time.monotonic()
    assert cache.wait_synced(10)
    assert time.monotonic() - started < 5, "wait_synced wakes when the last kind syncs, not at its timeout"
    assert sorted(cache.snapshot().nodes) == [f"worker-{i}" for i in range(5)]
    pages = api.calls("GET", NODES, watch=False)
    assert [q.get("limit") for q in pages] == ["2", "2", "2"] and "continue" in pages[1]
    assert all("resourceVersion" not in q for q in pages), "lists are consistent reads"
    assert [e.type for e in recorder.of("Node")] == ["RELISTED"]
    assert {e.kind for e in recorder.events if e.type == "RELISTED"} == {s.kind for s in SOURCES}


@pytest.mark.parametrize("name", ["cluster-with-managed-fields.json", "cluster.yaml"])
def test_snapshot_equals_the_file_loader(api: FakeApiServer, make_cache: Callable[..., ClusterCache],
                                         name: str) -> None:
    api.store.tables = {res: {} for res in api.store.tables}  # exactly the real server's objects
    api.load(json.loads((REAL / "cluster-with-managed-fields.json").read_text())["items"])
    cache = synced_cache(make_cache, api)
    snapshot = cache.snapshot()
    assert snapshot == load_cluster(REAL / name)
    assert len(snapshot.nodes) == 9 and len(snapshot.pods) == 7 and len(snapshot.network_policies) == 3


def test_watch_applies_add_modify_delete(api: FakeApiServer, make_cache: Callable[..., ClusterCache],
                                         recorder: Recorder) -> None:
    cache = synced_cache(make_cache, api)
    api.create(node("worker-1"))
    assert wait_until(lambda: "worker-1" in cache.snapshot().nodes)
    not_ready = node("worker-1")
    not_ready["status"]["conditions"][0]["status"] = "False"
    api.replace(not_ready)
    assert wait_until(lambda: not cache.snapshot().nodes["worker-1"].ready)
    api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "default"},
                "spec": {"nodeName": "worker-1"}, "status": {"podIP": "10.244.1.5", "phase": "Running"}})
    api.delete("Node", "worker-1")
    assert wait_until(lambda: "worker-1" not in cache.snapshot().nodes and cache.snapshot().pods)
    assert str(cache.snapshot().pods["default/web-0"].ips[0]) == "10.244.1.5"
    assert [(e.type, e.name) for e in recorder.of("Node")][1:] == [
        ("ADDED", "worker-1"), ("MODIFIED", "worker-1"), ("DELETED", "worker-1")]
    assert [(e.type, e.namespace, e.name) for e in recorder.of("Pod")][1:] == [("ADDED", "default", "web-0")]
    assert cache.resource_versions()["Node"] == str(api.resource_version)


def test_bookmark_advances_the_resource_version(api: FakeApiServer, make_cache: Callable[..., ClusterCache]) -> None:
    cache = synced_cache(make_cache, api)
    before = cache.resource_versions()["Node"]
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    api.bookmark()
    assert wait_until(lambda: cache.resource_versions()["Node"] == str(api.resource_version))
    assert int(cache.resource_versions()["Node"]) > int(before)
    api.cut_watches()
    assert wait_until(lambda: len(api.calls("GET", NODES, watch=True)) == 2)
    assert api.calls("GET", NODES, watch=True)[-1]["resourceVersion"] == str(api.resource_version)
    assert all(q["allowWatchBookmarks"] == "true" and 300 <= int(q["timeoutSeconds"]) <= 600
               for q in api.calls("GET", NODES, watch=True))


def test_cut_stream_resumes_from_the_last_resource_version(api: FakeApiServer, recorder: Recorder,
                                                           make_cache: Callable[..., ClusterCache]) -> None:
    cache = synced_cache(make_cache, api)
    api.create(node("worker-1"))
    assert wait_until(lambda: "worker-1" in cache.snapshot().nodes)
    seen = cache.resource_versions()["Node"]
    assert api.cut_watches() == len(SOURCES)
    assert api.wait_for_watchers(len(SOURCES))
    api.create(node("worker-2", "10.244.2.0/24"))
    assert wait_until(lambda: "worker-2" in cache.snapshot().nodes)
    watches = api.calls("GET", NODES, watch=True)
    assert watches[-1]["resourceVersion"] == seen
    assert len(api.calls("GET", NODES, watch=False)) == 1, "a resumed watch needs no new list"
    assert [e.name for e in recorder.of("Node", "ADDED")] == ["worker-1", "worker-2"]
    assert cache.broken_since() is None


@pytest.mark.parametrize("as_http", [False, True], ids=["error-event", "http-status"])
def test_410_relists_without_losing_or_duplicating(api: FakeApiServer, make_cache: Callable[..., ClusterCache],
                                                   recorder: Recorder, as_http: bool) -> None:
    api.expired_as_http = as_http
    for i in range(3):
        api.create(node(f"worker-{i}", f"10.244.{i}.0/24"))
    cache = synced_cache(make_cache, api)
    api.go_down()  # while the watches are away: changes, then compaction (as after an apiserver restart)
    api.delete("Node", "worker-0")
    api.replace(node("worker-1", "10.244.1.0/24", rack="b"))
    api.create(node("worker-3", "10.244.3.0/24"))
    api.compact()
    api.come_back()
    assert wait_until(lambda: len(recorder.of("Node", "RELISTED")) == 2)
    assert api.wait_for_watchers(len(SOURCES))
    nodes = cache.snapshot().nodes
    assert sorted(nodes) == ["worker-1", "worker-2", "worker-3"]
    assert nodes["worker-1"].labels == {"rack": "b"}
    assert len(api.calls("GET", NODES, watch=False)) == 4, "a list and one re-list, two pages each"
    assert cache.resource_versions()["Node"] == str(api.resource_version)
    assert [e.type for e in recorder.of("Node")] == ["RELISTED", "RELISTED"]


def test_outage_sets_broken_since_and_keeps_the_view(api: FakeApiServer, make_cache: Callable[..., ClusterCache],
                                                     recorder: Recorder) -> None:
    api.create(node("worker-1"))
    cache = synced_cache(make_cache, api)
    assert cache.broken_since() is None
    api.go_down()
    assert wait_until(lambda: cache.broken_since() is not None)
    broken = cache.broken_since()
    assert cache.synced and "worker-1" in cache.snapshot().nodes, "an outage empties nothing"
    assert cache.broken_since() == broken, "broken_since stays the time the stream was lost"
    api.create(node("worker-2", "10.244.2.0/24"))
    api.come_back()
    assert wait_until(lambda: cache.broken_since() is None)
    assert wait_until(lambda: "worker-2" in cache.snapshot().nodes), "the resumed watch replays what it missed"
    assert len(recorder.of("Node", "RELISTED")) == 1, "resumed, not re-listed"


def test_failures_back_off_exponentially(api: FakeApiServer, make_cache: Callable[..., ClusterCache],
                                         caplog: pytest.LogCaptureFixture) -> None:
    api.fail(500, times=5, path=NODES)
    caplog.set_level(logging.WARNING, "fabric_intent.kube")
    cache = make_cache(backoff_base=0.03, backoff_cap=10.0)
    assert cache.wait_synced(10)
    lists = [t for (m, p, q), t in zip(api.requests, api.request_times, strict=True) if p == NODES and m == "GET"]
    gaps = [b - a for a, b in zip(lists, lists[1:], strict=False)][:5]
    assert len(gaps) == 5
    # equal jitter: the n-th wait lies in [base * 2**(n-1) / 2, base * 2**(n-1)]
    for n, gap in enumerate(gaps, start=1):
        assert gap >= 0.03 * 2 ** (n - 1) / 2, gaps
    assert gaps[-1] > gaps[0]
    assert "HTTP 500" in caplog.text and "Bearer" not in caplog.text


def test_retry_after_is_honoured(api: FakeApiServer, make_cache: Callable[..., ClusterCache]) -> None:
    api.fail(429, times=1, path=NODES, retry_after=1)  # urllib3 retries a 429 itself after Retry-After
    api.fail(500, times=1, path=NODES, retry_after=1)
    cache = make_cache()
    assert not cache.wait_synced(0.5)
    assert cache.wait_synced(5)


def test_synced_gate_waits_for_every_kind(api: FakeApiServer, make_cache: Callable[..., ClusterCache]) -> None:
    api.forbid("list", "networkpolicies")
    cache = make_cache()
    assert wait_until(lambda: cache.snapshot().namespaces and cache.broken_since() is not None)
    assert not cache.synced and not cache.wait_synced(0.3)
    api.permit("list", "networkpolicies")
    assert cache.wait_synced(5) and cache.synced
    assert wait_until(lambda: cache.broken_since() is None)


def test_malformed_object_keeps_its_last_good_version(api: FakeApiServer, make_cache: Callable[..., ClusterCache],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    api.create(node("worker-1"))
    cache = synced_cache(make_cache, api)
    bad = node("worker-1")
    bad["status"]["addresses"] = "not-a-list"
    api.replace(bad)
    api.create(node("worker-2", "10.244.2.0/24"))
    assert wait_until(lambda: "worker-2" in cache.snapshot().nodes)
    assert cache.snapshot().nodes["worker-1"].addresses == (("InternalIP", "192.168.1.11"),)
    assert "worker-1" in caplog.text and "status.addresses must be a list" in caplog.text


def test_listener_failure_does_not_stop_the_watch(api: FakeApiServer) -> None:
    def explode(event: WatchEvent) -> None:
        raise RuntimeError("listener bug")

    cache = ClusterCache(api.client(), on_event=explode, backoff_base=0.02)
    cache.start()
    try:
        assert cache.wait_synced(5)
        api.create(node("worker-1"))
        assert wait_until(lambda: "worker-1" in cache.snapshot().nodes)
    finally:
        cache.stop()


def test_stop_ends_open_watches(api: FakeApiServer, make_cache: Callable[..., ClusterCache]) -> None:
    cache = synced_cache(make_cache, api)
    started = time.monotonic()
    cache.stop(timeout=5)
    assert time.monotonic() - started < 2
    assert not any(t.is_alive() for t in cache._threads)


@pytest.mark.parametrize("failures", [1, 2, 5, 12])
def test_backoff_bounds(failures: int) -> None:
    ceiling = min(30.0, 0.5 * 2 ** (failures - 1))
    for _ in range(50):
        assert ceiling / 2 <= _backoff(failures, 0.5, 30.0, None) <= ceiling
    assert _backoff(failures, 0.5, 30.0, 20.0) >= min(20.0, 30.0)
    assert _backoff(failures, 0.5, 30.0, 120.0) == 30.0


def test_resource_versions_compare_only_as_integers() -> None:
    assert _older("99", "100") and not _older("100", "100") and not _older("101", "100")
    assert not _older("opaque-1", "100") and not _older("99", "")


def test_watch_closed_at_once_backs_off(api: FakeApiServer, make_cache: Callable[..., ClusterCache]) -> None:
    cache = synced_cache(make_cache, api, backoff_base=0.2, backoff_cap=0.2)
    api.watch_timeout = 0.0  # every new watch now ends at once, cleanly and empty
    api.cut_watches()
    time.sleep(1.0)
    reconnects = len(api.calls("GET", NODES, watch=True))
    assert 2 <= reconnects <= 12, f"{reconnects} node watches in a second: no backoff"
    assert wait_until(lambda: cache.broken_since() is not None)
    first = cache.broken_since()
    time.sleep(0.5)
    assert wait_until(lambda: cache.broken_since() == first), "a momentary connection is not a recovery"

"""The live cluster view: list + watch of the kinds fabric-intent reads, kept in memory as informers keep it.

One thread per kind lists (paged, a consistent read) and then watches from the list's
resourceVersion, asking for bookmarks. It resumes a broken watch from the last resourceVersion it
applied; on `410 Gone` it lists again and replaces that kind's table in one step (never going back
in time); it reconnects with jittered exponential backoff. Objects arrive as raw JSON (no client
models) and go through `intent.cluster.parse_snapshot`, the parser the file loader uses, so
`snapshot()` equals what `reconciler.files.load_cluster` makes of the same objects.

`kubernetes.watch.Watch.stream` is not used: it hides when a stream is established (needed for
`broken_since`), swallows the first `410` by retrying the expired resourceVersion, and turns every
event into client models. The stream is read with the client's own line splitter instead. Nor is
`kubernetes.informer.SharedInformer`: it lists without paging, asks for no bookmarks, reconnects
without backoff, has no synced gate, and reports a re-list as per-object events.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from intent.cluster import ClusterSnapshot, parse_snapshot
from intent.errors import SnapshotError

log = logging.getLogger("fabric_intent.kube")


@dataclass(frozen=True)
class KindSource:
    """Where a kind is listed and watched, and which snapshot table holds it."""

    kind: str
    api_version: str
    api: str  # class name in kubernetes.client
    list_method: str
    table: str
    namespaced: bool


SOURCES = (
    KindSource("Node", "v1", "CoreV1Api", "list_node", "nodes", False),
    KindSource("Namespace", "v1", "CoreV1Api", "list_namespace", "namespaces", False),
    KindSource("Pod", "v1", "CoreV1Api", "list_pod_for_all_namespaces", "pods", True),
    KindSource("Service", "v1", "CoreV1Api", "list_service_for_all_namespaces", "services", True),
    KindSource("EndpointSlice", "discovery.k8s.io/v1", "DiscoveryV1Api", "list_endpoint_slice_for_all_namespaces",
               "endpoint_slices", True),
    KindSource("NetworkPolicy", "networking.k8s.io/v1", "NetworkingV1Api", "list_network_policy_for_all_namespaces",
               "network_policies", True),
)


@dataclass(frozen=True)
class WatchEvent:
    """One change the cache applied. RELISTED: a list replaced the kind's whole table (name is "")."""

    kind: str
    type: str  # "ADDED" | "MODIFIED" | "DELETED" | "RELISTED"
    namespace: str | None
    name: str
    received: float  # time.monotonic() when the cache applied it


class _Gone(Exception):
    """The resourceVersion held has expired (410): list again."""


class _StreamError(Exception):
    """The server ended a watch with an ERROR event other than 410, or sent what is not an event."""


# What a lost connection, a refused request or a garbled answer raises: retried with backoff.
_TRANSIENT = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError, KeyError, TypeError, _StreamError)


class ClusterCache:
    """In-memory copy of Nodes, Namespaces, Pods, Services, EndpointSlices and NetworkPolicies."""

    def __init__(self, api: kubernetes.client.ApiClient, *, on_event: Callable[[WatchEvent], None] | None = None,
                 backoff_base: float = 0.5, backoff_cap: float = 30.0, page_size: int = 500,
                 watch_timeout: int = 300, read_timeout: float = 90.0, connect_timeout: float = 5.0) -> None:
        """`watch_timeout`: the server ends each watch after 1-2x this (seconds), spreading reconnects;
        `read_timeout`: silence after which a stream counts as lost (real servers bookmark about every minute);
        `on_event` runs on the watch threads and must return quickly."""
        self.on_event = on_event
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.page_size, self.watch_timeout = page_size, watch_timeout
        self.request_timeout = (connect_timeout, read_timeout)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tables: dict[str, dict[str, Any]] = {s.table: {} for s in SOURCES}
        self._stopping = threading.Event()
        self._reflectors = [_Reflector(self, s, getattr(getattr(kubernetes.client, s.api)(api), s.list_method))
                            for s in SOURCES]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """List and watch every kind, each in its own daemon thread."""
        self._stopping.clear()
        self._threads = [threading.Thread(target=r.run, name=f"watch-{r.source.kind}", daemon=True)
                         for r in self._reflectors]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End every watch and wait for the threads."""
        self._stopping.set()
        for reflector in self._reflectors:
            reflector.interrupt()
        with self._changed:
            self._changed.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def synced(self) -> bool:
        """True once every kind's initial list has completed (it stays true through re-lists)."""
        return all(r.synced for r in self._reflectors)

    def wait_synced(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.synced or self._stopping.is_set(), timeout) and self.synced

    def broken_since(self) -> float | None:
        """Monotonic time the longest-broken watch lost its stream (or its list first failed); None if healthy."""
        times = [r.broken_since for r in self._reflectors if r.broken_since is not None]
        return min(times) if times else None

    def resource_versions(self) -> dict[str, str | None]:
        """The resourceVersion each kind's view is at (for logs and tests)."""
        return {r.source.kind: r.rv for r in self._reflectors}

    def snapshot(self) -> ClusterSnapshot:
        """A consistent copy of the cache, the same type (and, for the same objects, value) the file loader gives."""
        with self._lock:
            tables = {table: dict(rows) for table, rows in self._tables.items()}
        return ClusterSnapshot(nodes=tables["nodes"], namespaces=tables["namespaces"], pods=tables["pods"],
                               services=tables["services"], endpoint_slices=tables["endpoint_slices"],
                               network_policies=tables["network_policies"])

    # -- called by the reflectors -----------------------------------------------------------------------------
    def _replace(self, reflector: _Reflector, rows: dict[str, Any]) -> None:
        """Swap in a kind's whole table and mark the kind synced, in one step."""
        with self._changed:
            self._tables[reflector.source.table] = rows
            reflector.synced = True
            self._changed.notify_all()

    def _put(self, source: KindSource, key: str, row: Any | None) -> None:
        with self._lock:
            if row is None:
                self._tables[source.table].pop(key, None)
            else:
                self._tables[source.table][key] = row

    def _row(self, source: KindSource, key: str) -> Any | None:
        with self._lock:
            return self._tables[source.table].get(key)

    def _emit(self, event: WatchEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a faulty listener must not stop the watch
            log.exception("cluster event listener failed on %s %s", event.type, event.kind)


class _Reflector:
    """List and watch one kind into the cache."""

    def __init__(self, cache: ClusterCache, source: KindSource, list_call: Callable[..., Any]) -> None:
        self.cache, self.source, self.list_call = cache, source, list_call
        self.rv: str | None = None  # where the next watch starts; None: list (again)
        self.seen: str | None = None  # the newest resourceVersion applied, kept across re-lists
        self.synced = False
        self.broken_since: float | None = None
        self.failures = 0
        self._response: Any = None
        self._guard = threading.Lock()  # orders setting _response against interrupt()

    def run(self) -> None:
        stopping = self.cache._stopping
        while not stopping.is_set():
            try:
                if self.rv is None:
                    self._list()
                self._watch()
            except _Gone:
                log.info("%s watch: resourceVersion %s expired (410 Gone); listing again", self.source.kind, self.rv)
                self.rv = None
            except _TRANSIENT as exc:
                if stopping.is_set():
                    break
                self._failed(exc)

    def interrupt(self) -> None:
        """Unblock a thread reading a watch stream (on stop)."""
        with self._guard:
            if self._response is not None:
                try:
                    self._response.shutdown()
                except (OSError, ValueError, RuntimeError):  # already closed or released
                    pass

    # -- list ---------------------------------------------------------------------------------------------------
    def _list(self) -> None:
        rv, items = self._list_pages()
        if self.seen is not None and _older(rv, self.seen):
            raise _StreamError(f"list at resourceVersion {rv} is older than the view ({self.seen})")
        for item in items:  # list items carry no kind/apiVersion (the List does)
            item["kind"], item["apiVersion"] = self.source.kind, self.source.api_version
        rows = _parse(self.source, items, f"{self.source.kind} list")
        self.rv = self.seen = rv
        self.cache._replace(self, rows)
        self.broken_since, self.failures = None, 0
        log.info("%s list: %d objects at resourceVersion %s", self.source.kind, len(rows), rv)
        self.cache._emit(WatchEvent(self.source.kind, "RELISTED", None, "", time.monotonic()))

    def _list_pages(self, attempts: int = 3) -> tuple[str, list[dict[str, Any]]]:
        """Every item of one consistent list, page by page; an expired continue token starts it again."""
        for _ in range(attempts):
            items: list[dict[str, Any]] = []
            token: str | None = None
            rv = ""
            try:
                while True:
                    page = self._get_page(token)
                    items.extend(page.get("items") or [])
                    meta = page.get("metadata") or {}
                    rv, token = rv or str(meta["resourceVersion"]), meta.get("continue") or None
                    if not token:
                        return rv, items
            except ApiException as exc:
                if exc.status != 410 or token is None:
                    raise
        raise _StreamError(f"{self.source.kind} list: continue token expired {attempts} times")

    def _get_page(self, token: str | None) -> dict[str, Any]:
        response = self.list_call(limit=self.cache.page_size, _continue=token, _preload_content=False,
                                  _request_timeout=self.cache.request_timeout)
        try:
            page = json.loads(response.data)
        finally:
            response.release_conn()
        if not isinstance(page, dict):
            raise _StreamError(f"{self.source.kind} list: the answer is not a List")
        return page

    # -- watch --------------------------------------------------------------------------------------------------
    def _watch(self) -> None:
        timeout = random.randint(self.cache.watch_timeout, 2 * self.cache.watch_timeout)  # spread reconnects
        try:
            response = self.list_call(watch=True, resource_version=self.rv, allow_watch_bookmarks=True,
                                      timeout_seconds=timeout, _preload_content=False,
                                      _request_timeout=self.cache.request_timeout)
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone from exc
            raise
        with self._guard:
            self._response, lost, self.broken_since = response, self.broken_since, None
        opened, events = time.monotonic(), 0
        try:
            for line in _lines_until(response, self.cache._stopping):
                if line:
                    self._apply(json.loads(line))
                    self.failures, events = 0, events + 1
            if not events and time.monotonic() - opened < 1.0 and not self.cache._stopping.is_set():
                # as client-go: a watch the server closes at once, empty, is a failure (no hot reconnect loop)
                self.broken_since = lost
                raise _StreamError(f"{self.source.kind} watch closed at once with no events")
        finally:
            with self._guard:
                self._response = None
            response.close()  # an unfinished stream must not go back to the pool
            response.release_conn()

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event["type"], event["object"]
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone
            raise _StreamError(f"{self.source.kind} watch: {obj.get('code')} {obj.get('reason')}: {obj.get('message')}")
        rv = str(obj["metadata"]["resourceVersion"])
        if kind == "BOOKMARK":
            self.rv = self.seen = rv
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            raise _StreamError(f"{self.source.kind} watch: unknown event type {kind!r}")
        meta = obj["metadata"]
        namespace = meta.get("namespace") if self.source.namespaced else None
        key = f"{namespace}/{meta['name']}" if namespace else str(meta["name"])
        if kind == "DELETED":
            self.cache._put(self.source, key, None)
        else:
            obj.setdefault("kind", self.source.kind)
            row = _parse(self.source, [obj], f"{self.source.kind} watch").get(key)
            if row is not None:  # a malformed object keeps its last good version (logged by _parse)
                self.cache._put(self.source, key, row)
        self.rv = self.seen = rv
        self.cache._emit(WatchEvent(self.source.kind, kind, namespace, str(meta["name"]), time.monotonic()))

    # -- failure ------------------------------------------------------------------------------------------------
    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.broken_since is None:
            self.broken_since = now
        self.failures += 1
        delay = _backoff(self.failures, self.cache.backoff_base, self.cache.backoff_cap, _retry_after(exc))
        log.warning("%s list/watch failed (%s); retrying in %.2fs from resourceVersion %s",
                    self.source.kind, _describe(exc), delay, self.rv or "(list)")
        self.cache._stopping.wait(delay)


def _lines_until(response: Any, stopping: threading.Event) -> Iterator[str]:
    """The watch stream's lines (the client's own splitter) until stop is asked."""
    if stopping.is_set():  # asked before the stream could be interrupted
        return
    for line in iter_resp_lines(response):
        if stopping.is_set():
            return
        yield line


def _parse(source: KindSource, objects: list[dict[str, Any]], where: str) -> dict[str, Any]:
    """Parse objects of one kind with the snapshot parser; a malformed object is logged and left out."""
    try:
        return dict(getattr(parse_snapshot([(where, {"kind": "List", "items": objects})]), source.table))
    except SnapshotError:
        rows: dict[str, Any] = {}
        for obj in objects:
            rows.update(_parse_each(source, obj, where))
        return rows


def _parse_each(source: KindSource, obj: dict[str, Any], where: str) -> Iterable[tuple[str, Any]]:
    try:
        return getattr(parse_snapshot([(where, obj)]), source.table).items()
    except SnapshotError as exc:
        log.error("ignoring a malformed object from the API server: %s", exc)
        return ()


def _backoff(failures: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential with equal jitter (half fixed, half random), at least the server's Retry-After, at most cap."""
    ceiling = min(cap, base * 2 ** (failures - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    return min(cap, max(delay, retry_after or 0.0))


def _retry_after(exc: BaseException) -> float | None:
    value = (getattr(exc, "headers", None) or {}).get("Retry-After")
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def _older(rv: str, than: str) -> bool:
    """resourceVersions are opaque; compare them only when both are the integers etcd gives."""
    return rv.isdigit() and than.isdigit() and int(rv) < int(than)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):  # never the headers or body: they are not ours to log
        return f"HTTP {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"

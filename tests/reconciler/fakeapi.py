"""A fake Kubernetes API server on 127.0.0.1 that speaks the real REST protocol, for the official client.

List (resourceVersion, limit/continue, label selectors; items without kind/apiVersion, as the real
server sends them), watch (chunked `{"type", "object"}` lines, BOOKMARK events when
allowWatchBookmarks=true, a 410 `Expired` ERROR event for a compacted resourceVersion,
timeoutSeconds), get/create/update/patch/delete with `Status` objects for every error, 409 on a stale
resourceVersion, bearer-token auth, and hooks to break it: cut watches, compact history, answer 5xx,
refuse connections, forbid a verb.

    with FakeApiServer() as api:
        client = api.client()                       # kubernetes.client.ApiClient for this server
        api.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"}})
"""

from __future__ import annotations

import copy
import http.server
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import kubernetes
import yaml
from fakeapi_http import Handler, Watcher
from fakeapi_store import (
    BUILTIN_NAMESPACES,
    BY_API_KIND,
    JSON,
    RESOURCES,
    Resource,
    Store,
)


class FakeApiServer:
    """The server and its test hooks; a context manager. See the module docstring."""

    def __init__(self, *, builtin_namespaces: bool = True, bookmark_interval: float | None = 1.0,
                 expired_as_http: bool = False) -> None:
        self.store = Store()
        self.token = secrets.token_urlsafe(16)
        self.bookmark_interval = bookmark_interval
        self.expired_as_http = expired_as_http  # 410 as the HTTP status of the watch request, not an ERROR event
        self.watch_timeout: float | None = None  # the server ends every watch after this long (cleanly)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.request_times: list[float] = []  # time.monotonic() of each entry of `requests`
        self._lock = threading.Lock()
        self._failures: list[tuple[int, str, float | None]] = []  # (status, path substring, Retry-After)
        self._forbidden: set[tuple[str, str]] = set()
        self._watchers: list[Watcher] = []
        self._connections: set[socket.socket] = set()
        self._pages: dict[str, list[JSON]] = {}
        self._bookmark_gen = 0
        self._down = False
        self._closing = False
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self.port = 0
        if builtin_namespaces:
            for name in BUILTIN_NAMESPACES:
                self.create({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}})

    # -- lifecycle -----------------------------------------------------------------------------------------
    def __enter__(self) -> FakeApiServer:
        self._serve()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closing = True
        self._stop_serving()
        self._drop_connections()

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig for this server (bearer token auth), as `kubectl config view --raw` writes one."""
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                  "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                  "users": [{"name": "fake", "user": {"token": self.token}}],
                  "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def client(self) -> kubernetes.client.ApiClient:
        """An ApiClient of the official client configured for this server."""
        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        configuration.api_key = {"authorization": self.token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return kubernetes.client.ApiClient(configuration)

    # -- objects (test side: no HTTP, same rules) -------------------------------------------------------------
    def create(self, obj: JSON) -> JSON:
        res = _resource_of(obj)
        return self.store.create(res, obj["metadata"].get("namespace", "") if res.namespaced else "",
                                 copy.deepcopy(obj))

    def replace(self, obj: JSON) -> JSON:
        """Replace object and status together, unconditionally (as a controller writing both would)."""
        res, meta = _resource_of(obj), obj["metadata"]
        body = copy.deepcopy(obj)
        body["metadata"].pop("resourceVersion", None)
        return self.store.update(res, meta.get("namespace", "") if res.namespaced else "", meta["name"], body, "*")

    def apply(self, obj: JSON) -> JSON:
        """Create the object, or replace it if it exists."""
        res, meta = _resource_of(obj), obj["metadata"]
        if (meta.get("namespace", "") if res.namespaced else "", meta["name"]) in self.store.tables[res]:
            return self.replace(obj)
        return self.create(obj)

    def load(self, objects: Iterable[JSON]) -> None:
        """Apply many objects (a kubectl List's items), namespaces first."""
        ordered = sorted(objects, key=lambda o: o.get("kind") != "Namespace")
        for obj in ordered:
            clean = copy.deepcopy(obj)
            for key in ("resourceVersion", "uid", "creationTimestamp"):
                clean["metadata"].pop(key, None)
            self.apply(clean)

    def delete(self, kind: str, name: str, namespace: str | None = None, api_version: str | None = None) -> JSON:
        res = _resource_of({"kind": kind, "apiVersion": api_version or _default_version(kind)})
        return self.store.delete(res, namespace or "", name)

    def objects(self, kind: str) -> list[JSON]:
        return [o for r in RESOURCES if r.kind == kind for o in self.store.items(r)]

    def events(self) -> list[JSON]:
        """Events posted by clients, core v1 and events.k8s.io/v1 alike."""
        return self.objects("Event")

    @property
    def resource_version(self) -> int:
        return self.store.rv

    # -- hooks ---------------------------------------------------------------------------------------------
    def compact(self) -> None:
        """Forget history: watching or continuing a list from an older resourceVersion is now 410 Gone."""
        with self.store.changed:
            self.store.compacted = self.store.rv
            self._pages.clear()

    def cut_watches(self) -> int:
        """End every open watch stream abruptly (no final chunk); returns how many were cut."""
        with self.store.changed:
            watchers = list(self._watchers)
            for w in watchers:
                w.cut = True
            self.store.changed.notify_all()
        for w in watchers:
            _shutdown(w.sock)
        return len(watchers)

    def bookmark(self) -> None:
        """Send a BOOKMARK now on every watch that asked for bookmarks."""
        with self.store.changed:
            self._bookmark_gen += 1
            self.store.changed.notify_all()

    def fail(self, status: int = 503, times: int = 1, *, path: str = "", retry_after: float | None = None) -> None:
        """Answer the next `times` requests whose path contains `path` with `status` (a Status object)."""
        with self._lock:
            self._failures.extend([(status, path, retry_after)] * times)

    def forbid(self, verb: str, plural: str) -> None:
        """Answer `verb` (get, list, watch, create, update, patch, delete) on `plural` with 403 Forbidden."""
        self._forbidden.add((verb, plural))

    def permit(self, verb: str, plural: str) -> None:
        """Undo `forbid`."""
        self._forbidden.discard((verb, plural))

    def go_down(self) -> None:
        """Stop listening and drop every connection: clients now get connection refused."""
        self._down = True
        self._stop_serving()
        self._drop_connections()

    def come_back(self) -> None:
        """Listen again on the same port, with the same objects."""
        self._down = False
        self._serve()

    def watchers(self, kind: str | None = None) -> int:
        with self.store.changed:
            return sum(1 for w in self._watchers if kind in (None, w.resource.kind) and not w.cut)

    def wait_for_watchers(self, count: int, kind: str | None = None, timeout: float = 5.0) -> bool:
        """Wait until at least `count` watch streams (of `kind`) are open."""
        return wait_until(lambda: self.watchers(kind) >= count, timeout)

    def calls(self, method: str, path: str, *, watch: bool | None = None) -> list[dict[str, str]]:
        """The query of every request so far to exactly `path` (only watches, only lists/gets, or both)."""
        with self._lock:
            return [q for m, p, q in self.requests if m == method and p == path
                    and (watch is None or (q.get("watch") == "true") == watch)]

    # -- internals -----------------------------------------------------------------------------------------
    def _serve(self) -> None:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        httpd.daemon_threads = True
        self._httpd, self.port = httpd, httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name=f"fakeapi-{self.port}").start()

    def _stop_serving(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def _drop_connections(self) -> None:
        self.cut_watches()
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            _shutdown(sock)

    def _take_failure(self, path: str) -> tuple[int, float | None] | None:
        with self._lock:
            for i, (status, match, retry_after) in enumerate(self._failures):
                if match in path:
                    del self._failures[i]
                    return status, retry_after
        return None


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll `predicate` until it is true or `timeout` passes; its last truth value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(interval)
    return True


def _default_version(kind: str) -> str:
    return next(r.api_version for r in RESOURCES if r.kind == kind)


def _resource_of(obj: JSON) -> Resource:
    try:
        return BY_API_KIND[obj.get("apiVersion") or _default_version(obj["kind"]), obj["kind"]]
    except (KeyError, StopIteration):
        raise ValueError(f"fake API server does not serve {obj.get('apiVersion')} {obj.get('kind')}") from None


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _handler_for(api: FakeApiServer) -> type[http.server.BaseHTTPRequestHandler]:
    return type("BoundHandler", (Handler,), {"api": api})



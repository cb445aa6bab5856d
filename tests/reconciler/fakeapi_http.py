"""The request side of the fake API server: HTTP/1.1 with keep-alive, JSON bodies, chunked watch streams."""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import http.server
import json
import secrets
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fakeapi_store import (
    BY_PATH,
    JSON,
    ApiError,
    Resource,
    expired,
    fields_select,
    merge_patch,
    now_rfc3339,
    parse_field_selector,
    parse_selector,
    selects,
)

if TYPE_CHECKING:
    from fakeapi import FakeApiServer


class Watcher:
    def __init__(self, sock: socket.socket, resource: Resource, bookmarks: bool) -> None:
        self.sock, self.resource, self.bookmarks = sock, resource, bookmarks
        self.cut = False
        self.bookmarks_seen = 0  # the server's bookmark() count when this watch last sent (or began)


def _route(path: str) -> tuple[Resource, str | None, str, str]:
    """`/api/v1/namespaces/shop/pods/web-0/status` -> (pods, "shop", "web-0", "status")."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        prefix, rest = "/api/" + parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        prefix, rest = f"/apis/{parts[1]}/{parts[2]}", parts[3:]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    res = BY_PATH.get((prefix, rest[0]))
    if res is None or len(rest) > 3 or (namespace is not None and not res.namespaced):
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return res, namespace, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""



class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeApiServer

    def setup(self) -> None:
        super().setup()
        with self.api._lock:
            self.api._connections.add(self.connection)

    def finish(self) -> None:
        with self.api._lock:
            self.api._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # the client, or a test hook, dropped the connection
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests read api.requests
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    # -- dispatch -------------------------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        body = self._read_body()
        api = self.api
        with api._lock:
            api.requests.append((method, url.path, query))
            api.request_times.append(time.monotonic())
        if api._down:
            self.close_connection = True
            return
        try:
            self._check_auth()
            failure = api._take_failure(url.path)
            if failure is not None:
                raise _unavailable(*failure)
            res, namespace, name, sub = _route(url.path)
            watching = method == "GET" and not name and query.get("watch") in ("true", "True", "1")
            verb = ("watch" if watching else "list") if method == "GET" and not name else VERBS[method]
            if (verb, res.plural) in api._forbidden:
                raise _forbidden(verb, res, namespace)
            if watching:
                self._watch(res, namespace, query)
                return
            code, answer = self._dispatch(method, res, namespace, name, sub, query, body)
            self._send(code, answer)
        except ApiError as err:
            headers = {"Retry-After": str(int(err.details["retryAfterSeconds"]))} if err.details and \
                "retryAfterSeconds" in err.details else {}
            self._send(err.code, err.status(), headers)
        except OSError:  # the client went away mid-answer
            self.close_connection = True

    def _dispatch(self, method: str, res: Resource, namespace: str | None, name: str, sub: str,
                  query: dict[str, str], body: Any) -> tuple[int, JSON]:
        store, ns = self.api.store, namespace or ""
        if method == "GET" and not name:
            return 200, self._list(res, namespace, query)
        if method == "GET":
            return 200, store.get(res, ns, name)
        if not isinstance(body, dict):
            if method != "DELETE":
                raise ApiError(400, "BadRequest", "the request body must be a JSON object")
            body = {}
        if method == "POST" and not name:
            if res.namespaced and namespace is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource")
            return 201, store.create(res, ns, body)
        if method == "PUT" and name:
            return 200, store.update(res, ns, name, body, sub)
        if method == "PATCH" and name:
            old = store.get(res, ns, name)
            return 200, store.update(res, ns, name, merged(old, body, self.headers.get("Content-Type", "")), sub)
        if method == "DELETE" and name:
            return 200, store.delete(res, ns, name)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # -- list and watch ---------------------------------------------------------------------------------------
    def _list(self, res: Resource, namespace: str | None, query: dict[str, str]) -> JSON:
        api, store = self.api, self.api.store
        limit = _int_rv(query.get("limit") or "0", "limit")
        selector = _selector(query)
        token = query.get("continue")
        with store.changed:
            if token:
                rv, items = self._continued(token)
            else:
                rv = self._list_rv(query)
                items = [_bare(o) for o in store.items(res, namespace) if _matches(selector, o)]
        meta: JSON = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            key = secrets_key(rv)
            api._pages[key] = items[limit:]
            meta.update({"continue": _continue_token(rv, key), "remainingItemCount": len(items) - limit})
            items = items[:limit]
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta, "items": items}

    def _continued(self, token: str) -> tuple[int, list[JSON]]:
        api = self.api
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            rv, key = int(decoded["rv"]), str(decoded["key"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ApiError(400, "BadRequest", "continue key is not valid: illegal base64 data") from None
        if rv < api.store.compacted or key not in api._pages:
            raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent "
                           "list result. You can start a new list without the continue parameter.")
        return rv, api._pages.pop(key)

    def _list_rv(self, query: dict[str, str]) -> int:
        store, given, match = self.api.store, query.get("resourceVersion", ""), query.get("resourceVersionMatch")
        if given in ("", "0"):
            return store.rv
        rv = _int_rv(given)
        if match == "Exact":
            if rv < store.compacted:
                raise expired(rv, store.compacted)
            if rv != store.rv:
                raise ApiError(500, "InternalError", "fake API server: an Exact list of a past resourceVersion "
                               "is not implemented")
        elif rv > store.rv:
            raise ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {store.rv}")
        return store.rv

    def _watch(self, res: Resource, namespace: str | None, query: dict[str, str]) -> None:
        api, store = self.api, self.api.store
        selector = _selector(query)
        given = query.get("resourceVersion", "")
        limits = [float(query["timeoutSeconds"])] if query.get("timeoutSeconds") else []
        limits += [api.watch_timeout] if api.watch_timeout is not None else []
        timeout = min(limits) if limits else None
        watcher = Watcher(self.connection, res, query.get("allowWatchBookmarks") in ("true", "True", "1"))
        initial: list[JSON] = []
        with store.changed:
            if given in ("", "0"):  # the real server starts such a watch with the current objects
                start = store.rv
                initial = [{"type": "ADDED", "object": o} for o in store.items(res, namespace) if _matches(selector, o)]
            else:
                start = _int_rv(given)
                if start < store.compacted:
                    if api.expired_as_http:
                        raise expired(start, store.compacted)
                    self._start_chunks()
                    self._chunk(expired_event(start, store.compacted))
                    self._end_chunks()
                    return
            watcher.bookmarks_seen = api._bookmark_gen
            api._watchers.append(watcher)
        try:
            self._start_chunks()
            for event in initial:
                self._chunk(event)
            deadline = time.monotonic() + timeout if timeout is not None else None
            for event in _watch_lines(api, watcher, start, namespace, selector, deadline):
                self._chunk(event)
            if watcher.cut or api._closing:
                self.close_connection = True  # abrupt: no final chunk
            else:
                self._end_chunks()
        finally:
            with store.changed:
                api._watchers.remove(watcher)

    # -- wire -----------------------------------------------------------------------------------------------
    def _check_auth(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.api.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def _send(self, code: int, body: JSON, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_chunks(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, event: JSON) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")


VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def secrets_key(rv: int) -> str:
    return f"{rv}-{secrets.token_hex(4)}"


def _selector(query: dict[str, str]) -> tuple[Any, Any]:
    return parse_selector(query.get("labelSelector", "")), parse_field_selector(query.get("fieldSelector", ""))


def _matches(selector: tuple[Any, Any], obj: JSON | None) -> bool:
    return selects(selector[0], obj) and fields_select(selector[1], obj)


def _bare(obj: JSON) -> JSON:
    """A list item as the real server sends it: without kind and apiVersion."""
    obj = copy.copy(obj)
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    return obj


def _int_rv(text: str, what: str = "resource version") -> int:
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, "BadRequest", f'invalid {what} "{text}"') from None


def _unavailable(status: int, retry_after: float | None) -> ApiError:
    reasons = {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout", 429: "TooManyRequests"}
    details = {"retryAfterSeconds": int(retry_after)} if retry_after is not None else None
    return ApiError(status, reasons.get(status, "InternalError"), f"fake outage ({now_rfc3339()})", details)


def _forbidden(verb: str, res: Resource, namespace: str | None) -> ApiError:
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError(403, "Forbidden", f'{res.qualified} is forbidden: User "system:serviceaccount:fabric-intent:'
                    f'fabric-intent" cannot {verb} resource "{res.plural}" in API group "{res.group}" {scope}',
                    {"kind": res.plural, "group": res.group})


def _continue_token(rv: int, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "key": key}).encode()).decode()


def _watch_lines(api: FakeApiServer, watcher: Watcher, start: int, namespace: str | None,
                 selector: tuple[Any, Any], deadline: float | None) -> Iterator[JSON]:
    """Events after resourceVersion `start` for one watch, plus bookmarks; ends at `deadline` or a cut."""
    store, res = api.store, watcher.resource
    with store.changed:
        index = bisect.bisect_right([c.rv for c in store.history], start)
    last_bookmark = time.monotonic()
    while True:
        with store.changed:
            while True:
                now = time.monotonic()
                if watcher.cut or api._closing or (deadline is not None and now >= deadline):
                    return
                due = watcher.bookmarks and (api._bookmark_gen != watcher.bookmarks_seen or (
                    api.bookmark_interval is not None and now - last_bookmark >= api.bookmark_interval))
                if len(store.history) > index or due:
                    break
                store.changed.wait(0.05)
            changes, index, rv = store.history[index:], len(store.history), store.rv
            watcher.bookmarks_seen = api._bookmark_gen
        for change in changes:
            event = _event_for(change, res, namespace, selector)
            if event is not None:
                yield event
        if due:
            last_bookmark = time.monotonic()
            yield {"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.api_version,
                                                  "metadata": {"resourceVersion": str(rv)}}}


def _event_for(change: Any, res: Resource, namespace: str | None, selector: tuple[Any, Any]) -> JSON | None:
    if change.resource != res or namespace not in (None, change.obj["metadata"].get("namespace")):
        return None
    now_in = change.type != "DELETED" and _matches(selector, change.obj)
    was_in = change.type != "ADDED" and _matches(selector, change.old)
    if not now_in and not was_in:
        return None
    kind = change.type if now_in == was_in or change.type == "DELETED" else ("ADDED" if now_in else "DELETED")
    return {"type": kind, "object": change.obj}


def expired_event(rv: int, oldest: int) -> JSON:
    return {"type": "ERROR", "object": expired(rv, oldest).status()}


def merged(old: JSON, patch: Any, content_type: str) -> JSON:
    if content_type.startswith("application/json-patch+json"):
        raise ApiError(415, "UnsupportedMediaType", "the fake API server takes merge and strategic merge patches")
    return merge_patch(old, patch)

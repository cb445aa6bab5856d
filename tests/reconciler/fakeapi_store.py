"""The object store behind the fake API server: resources, resourceVersions, history, selectors, Status objects.

It behaves as kube-apiserver with etcd does where fabric-intent can tell: one cluster-wide
resourceVersion counter, a history of changes that watches replay from a resourceVersion, compaction
after which older resourceVersions are `410 Gone`, optimistic concurrency (`409 Conflict` on a stale
`metadata.resourceVersion`), no-op updates that do not bump the resourceVersion, and `podCIDR` that
cannot change once set.
"""

from __future__ import annotations

import copy
import datetime
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """One REST resource: where it lives and what it holds."""

    prefix: str  # "/api/v1" or "/apis/<group>/<version>"
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return "v1" if self.prefix == "/api/v1" else self.prefix[len("/apis/"):]

    @property
    def group(self) -> str:
        return "" if self.prefix == "/api/v1" else self.api_version.split("/")[0]

    @property
    def qualified(self) -> str:
        """`nodes` or `leases.coordination.k8s.io`, as Status messages name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = (
    Resource("/api/v1", "nodes", "Node", False),
    Resource("/api/v1", "namespaces", "Namespace", False),
    Resource("/api/v1", "pods", "Pod", True),
    Resource("/api/v1", "services", "Service", True),
    Resource("/api/v1", "events", "Event", True),
    Resource("/apis/discovery.k8s.io/v1", "endpointslices", "EndpointSlice", True),
    Resource("/apis/networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True),
    Resource("/apis/coordination.k8s.io/v1", "leases", "Lease", True),
    Resource("/apis/events.k8s.io/v1", "events", "Event", True),
)
BY_PATH = {(r.prefix, r.plural): r for r in RESOURCES}
BY_API_KIND = {(r.api_version, r.kind): r for r in RESOURCES}
BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


class ApiError(Exception):
    """A request the server refuses; carries the `Status` object it answers with."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.details = code, reason, details

    def status(self) -> JSON:
        body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": str(self), "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', {"name": name, "kind": res.plural})


def expired(rv: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {rv} ({oldest})")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- label selectors (equality- and set-based, as labels.Parse accepts them) ----------------------------------
_REQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def parse_selector(text: str) -> list[tuple[str, str, frozenset[str]]]:
    """`app=web,tier in (a,b),!legacy` -> [(key, op, values)]; `ApiError` 400 for what the server rejects."""
    requirements = []
    for part in re.split(r",(?![^(]*\))", text.strip()) if text.strip() else []:
        m = _REQ.match(part)
        if not m or (m.group(1) and (m.group(3) or m.group(5))):
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        neg, key, eq, value, setop, values = m.groups()
        if setop:
            requirements.append((key, setop, frozenset(v.strip() for v in values.split(","))))
        elif eq:
            requirements.append((key, "!=" if eq == "!=" else "=", frozenset([value])))
        else:
            requirements.append((key, "!" if neg else "exists", frozenset()))
    return requirements


def selects(requirements: list[tuple[str, str, frozenset[str]]], obj: JSON | None) -> bool:
    if obj is None:
        return False
    labels = obj.get("metadata", {}).get("labels") or {}
    for key, op, values in requirements:
        has, value = key in labels, labels.get(key)
        ok = {"=": has and value in values, "in": has and value in values, "!=": value not in values,
              "notin": value not in values, "exists": has, "!": not has}[op]
        if not ok:
            return False
    return True


FIELDS = ("metadata.name", "metadata.namespace")


def parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    """`metadata.name=web` -> [(field, equal, value)]; the fields every resource supports, else 400."""
    requirements = []
    for part in [p for p in text.split(",") if p.strip()]:
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {part!r}")
        if m.group(1) not in FIELDS:
            raise ApiError(400, "BadRequest", f'field label not supported: "{m.group(1)}"')
        requirements.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return requirements


def fields_select(requirements: list[tuple[str, bool, str]], obj: JSON | None) -> bool:
    if obj is None:
        return False
    meta = obj.get("metadata", {})
    return all((meta.get(f.split(".")[1]) or "") == value if equal else (meta.get(f.split(".")[1]) or "") != value
               for f, equal, value in requirements)


# -- the store ---------------------------------------------------------------------------------------------
@dataclass
class Change:
    """One entry of the history a watch replays."""

    rv: int
    resource: Resource
    type: str  # ADDED | MODIFIED | DELETED
    obj: JSON
    old: JSON | None


@dataclass
class Store:
    """Objects per resource, one resourceVersion counter, the change history and its compaction point."""

    rv: int = 100
    compacted: int = 0  # watching or listing from a resourceVersion below this is 410 Gone
    tables: dict[Resource, dict[tuple[str, str], JSON]] = field(default_factory=lambda: {r: {} for r in RESOURCES})
    history: list[Change] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def get(self, res: Resource, namespace: str, name: str) -> JSON:
        obj = self.tables[res].get((namespace, name))
        if obj is None:
            raise not_found(res, name)
        return copy.deepcopy(obj)

    def items(self, res: Resource, namespace: str | None = None) -> list[JSON]:
        table = self.tables[res]
        return [copy.deepcopy(table[key]) for key in sorted(table) if namespace in (None, key[0])]

    def create(self, res: Resource, namespace: str, obj: JSON) -> JSON:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{res.kind} \"\" is invalid: metadata.name: Required value: name or "
                           "generateName is required")
        self._check_namespace(res, namespace, meta)
        if (namespace, name) in self.tables[res]:
            raise ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists',
                           {"name": name, "group": res.group, "kind": res.plural})
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339())
        meta.pop("resourceVersion", None)
        if res.namespaced:
            meta["namespace"] = namespace
        return self._commit(res, namespace, obj, None)

    def update(self, res: Resource, namespace: str, name: str, obj: JSON, subresource: str = "") -> JSON:
        """PUT semantics; `subresource` "" keeps status, "status" changes only status, "*" both (test helpers)."""
        old = self.get(res, namespace, name)
        meta = obj.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        given = meta.get("resourceVersion")
        if given not in (None, "") and given != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": the object '
                           "has been modified; please apply your changes to the latest version and try again",
                           {"name": name, "group": res.group, "kind": res.plural})
        if subresource == "status":  # only status changes through /status; only the rest through the object
            obj = {**old, "status": obj.get("status", {})}
        elif subresource == "" and "status" in old and res.kind in ("Node", "Pod", "Service", "Namespace"):
            obj = {**obj, "status": old["status"]}
        keep = {k: old["metadata"][k] for k in ("uid", "creationTimestamp", "namespace") if k in old["metadata"]}
        obj["metadata"] = {**obj.get("metadata", {}), **keep, "name": name}
        _check_immutable(res, old, obj)
        if _same(old, obj):
            return old
        return self._commit(res, namespace, obj, old)

    def delete(self, res: Resource, namespace: str, name: str) -> JSON:
        old = self.get(res, namespace, name)
        if res.kind == "Namespace":
            for child in [r for r in RESOURCES if r.namespaced]:
                for key in [k for k in self.tables[child] if k[0] == name]:
                    self.delete(child, *key)
        with self.changed:
            self.rv += 1
            old["metadata"]["resourceVersion"] = str(self.rv)
            del self.tables[res][(namespace, name)]
            self.history.append(Change(self.rv, res, "DELETED", copy.deepcopy(old), old))
            self.changed.notify_all()
        return old

    def _check_namespace(self, res: Resource, namespace: str, meta: JSON) -> None:
        if not res.namespaced:
            return
        if meta.get("namespace") not in (None, namespace):
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                           "sent on the request")
        if (("", namespace) not in self.tables[BY_PATH["/api/v1", "namespaces"]]):
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                           {"name": namespace, "kind": "namespaces"})

    def _commit(self, res: Resource, namespace: str, obj: JSON, old: JSON | None) -> JSON:
        obj["kind"], obj["apiVersion"] = res.kind, res.api_version
        with self.changed:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.tables[res][(namespace, obj["metadata"]["name"])] = obj
            self.history.append(Change(self.rv, res, "MODIFIED" if old else "ADDED", copy.deepcopy(obj), old))
            self.changed.notify_all()
        return copy.deepcopy(obj)


def _same(old: JSON, new: JSON) -> bool:
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}  # noqa: E731
    return strip(old) == strip({**new, "kind": old.get("kind"), "apiVersion": old.get("apiVersion")})


def _check_immutable(res: Resource, old: JSON, new: JSON) -> None:
    if res.kind != "Node":
        return
    before, after = old.get("spec", {}), new.get("spec", {})
    for key in ("podCIDR", "podCIDRs"):
        if before.get(key) and before.get(key) != after.get(key):
            name = old["metadata"]["name"]
            raise ApiError(422, "Invalid", f'Node "{name}" is invalid: spec.{key}: Forbidden: node updates may not '
                           f"change {key} except from \"\" to valid", {"name": name, "kind": "Node"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (also used for strategic merge patch: lists are replaced whole)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result

"""A small stateful NSX-T Policy manager speaking the documented API, for `transport=` injection.

It answers session create (JSESSIONID cookie + X-XSRF-TOKEN), Policy list calls with cursor paging,
single GETs, the hierarchical `PATCH /policy/api/v1/infra` (applied whole or not at all, unknown
properties refused with error 287, dangling references with 500012) and realization status.
Errors use NSX's body: {"httpStatus", "error_code", "module_name", "error_message"}.
Faults, the request log and poisoning come from `FakeController`.
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any
from urllib.parse import parse_qs

import httpx
from rest.fake_controller import FakeController

POLICY = "/policy/api/v1"
STATUS_TEXT = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 429: "TOO_MANY_REQUESTS",
               500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}
FOLDERS = {"StaticRoutes": "static-routes", "PrefixList": "prefix-lists", "LocaleServices": "locale-services",
           "BgpNeighborConfig": "neighbors", "Group": "groups", "SecurityPolicy": "security-policies", "Rule": "rules"}
ALLOWED = {
    "Tier0": {"resource_type", "id", "display_name", "description", "tags", "vrf_config", "children"},
    "StaticRoutes": {"resource_type", "id", "display_name", "description", "tags", "network", "next_hops"},
    "PrefixList": {"resource_type", "id", "display_name", "description", "tags", "prefixes"},
    "LocaleServices": {"resource_type", "id", "display_name", "tags", "children"},
    "BgpRoutingConfig": {"resource_type", "id", "tags", "children", "local_as_num"},
    "BgpNeighborConfig": {"resource_type", "id", "display_name", "description", "tags", "neighbor_address",
                          "remote_as_num", "route_filtering", "password"},
    "Group": {"resource_type", "id", "display_name", "description", "tags", "expression"},
    "SecurityPolicy": {"resource_type", "id", "display_name", "description", "tags", "category", "stateful",
                       "children"},
    "Rule": {"resource_type", "id", "display_name", "description", "tags", "source_groups", "destination_groups",
             "scope", "direction", "action", "ip_protocol", "sequence_number", "services", "service_entries"},
}


def nsx_error(status: int, code: int, message: str, module: str = "Policy") -> httpx.Response:
    body = {"httpStatus": STATUS_TEXT.get(status, str(status)), "error_code": code, "module_name": module,
            "error_message": message}
    return httpx.Response(status, json=body)


class Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


class FakeNsxManager(FakeController):
    """One NSX manager; `objects` maps policy path -> body (with `_revision`)."""

    USER, PASSWORD = "admin", "fake-nsx-Passw0rd"
    LOGIN = "/api/session/create"
    STATE = "objects"
    STATE_FILE = "nsx-manager.json"

    def __init__(self, objects: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.objects: dict[str, dict[str, Any]] = copy.deepcopy(objects or {})
        self.sessions: dict[str, str] = {}  # JSESSIONID -> XSRF token
        self.realization = "SUCCESS"
        self.clock = 1_700_000_000_000

    # -- HTTP -------------------------------------------------------------------------------------
    def _logged_body(self, request: httpx.Request) -> Any:
        return super()._logged_body(request) if request.method != "POST" else None  # POST: the login form

    def _dropped(self, request: httpx.Request) -> httpx.TransportError:
        return httpx.RemoteProtocolError("peer closed connection without sending complete message body",
                                         request=request)

    def _poisoned_answer(self) -> httpx.Response:
        return nsx_error(500, 100, "the fake manager was poisoned by the test")

    def _serve(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == self.LOGIN and request.method == "POST":
            return self._login(request)
        if not self._authorized(request):
            return nsx_error(401, 403, "The credentials were incorrect or the account specified has been locked.",
                             "common-services")
        try:
            if request.method == "PATCH" and path == f"{POLICY}/infra":
                return self._patch(json.loads(request.content))
            if request.method == "GET" and path == f"{POLICY}/infra/realized-state/status":
                return self._realization(request.url.params.get("intent_path", ""))
            if request.method == "GET" and path.startswith(f"{POLICY}/infra/"):
                return self._get(path.removeprefix(POLICY), request.url.params)
        except Refused as refused:
            return refused.response
        return nsx_error(400, 201, f"Unknown URL or method: {request.method} {path}", "common-services")

    def _login(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        if form.get("j_username") != [self.USER] or form.get("j_password") != [self.PASSWORD]:
            return nsx_error(403, 403, "The credentials were incorrect or the account specified has been locked.",
                             "common-services")
        session, xsrf = secrets.token_hex(16).upper(), str(secrets.token_hex(16))
        self.sessions[session] = xsrf
        return httpx.Response(200, headers={"set-cookie": f"JSESSIONID={session}; Path=/; Secure; HttpOnly; "
                                                          "SameSite=Lax", "x-xsrf-token": xsrf})

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def _authorized(self, request: httpx.Request) -> bool:
        cookie = request.headers.get("cookie", "")
        session = next((c.split("=", 1)[1] for c in cookie.split("; ") if c.startswith("JSESSIONID=")), "")
        return bool(session) and self.sessions.get(session) == request.headers.get("x-xsrf-token")

    # -- reads ------------------------------------------------------------------------------------
    def _get(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        if path in self.objects:
            return httpx.Response(200, json=self.objects[path])
        parent, _, folder = path.rpartition("/")
        if parent != "/infra" and parent not in self.objects:
            return nsx_error(404, 500012, f"The path=[{parent}] is invalid")
        prefix = f"{path}/"
        results = [o for p, o in sorted(self.objects.items()) if p.startswith(prefix) and "/" not in p[len(prefix):]]
        start = int(params.get("cursor", "0"))
        size = int(params.get("page_size", "1000"))
        page = results[start:start + size]
        body: dict[str, Any] = {"results": page, "result_count": len(results), "sort_by": "display_name",
                                "sort_ascending": True}
        if start + size < len(results):
            body["cursor"] = f"{start + size:08d}"
        return httpx.Response(200, json=body)

    def _realization(self, intent_path: str) -> httpx.Response:
        if intent_path not in self.objects:
            return nsx_error(404, 500012, f"The path=[{intent_path}] is invalid")
        return httpx.Response(200, json={"consolidated_status": {"consolidated_status": self.realization},
                                         "intent_path": intent_path, "publish_status": "REALIZED"
                                         if self.realization == "SUCCESS" else self.realization})

    # -- the hierarchical PATCH -------------------------------------------------------------------
    def _patch(self, body: dict[str, Any]) -> httpx.Response:
        staged = copy.deepcopy(self.objects)
        for node in body.get("children", []):
            self._apply_node(staged, "/infra", node)
        self._check_references(staged)
        self.objects = staged
        return httpx.Response(200)

    def _apply_node(self, staged: dict[str, dict[str, Any]], parent: str, node: dict[str, Any]) -> None:
        kind = node.get("resource_type", "")
        if kind == "ChildResourceReference":
            target = self._path(parent, node["target_type"], node["id"])
            if target not in staged:
                raise Refused(nsx_error(400, 500012, f"The path=[{target}] is invalid"))
            for sub in node.get("children", []):
                self._apply_node(staged, target, sub)
            return
        inner = kind.removeprefix("Child")
        obj = node.get(inner)
        if not kind.startswith("Child") or not isinstance(obj, dict):
            raise Refused(nsx_error(400, 287, f"Json de-serialization error: property {kind} is unrecognized.",
                                    "common-services"))
        unknown = sorted(set(obj) - ALLOWED.get(inner, set()))
        if unknown:
            raise Refused(nsx_error(400, 287, f"Json de-serialization error: property {unknown[0]} is unrecognized.",
                                    "common-services"))
        path = self._path(parent, inner, obj["id"])
        if node.get("marked_for_delete"):
            for gone in [p for p in staged if p == path or p.startswith(f"{path}/")]:
                del staged[gone]
            return
        self._upsert(staged, path, parent, inner, {k: v for k, v in obj.items() if k not in ("children", "password")})
        for sub in obj.get("children", []):
            self._apply_node(staged, path, sub)

    def _upsert(self, staged: dict[str, dict[str, Any]], path: str, parent: str, kind: str,
                fields: dict[str, Any]) -> None:
        self.clock += 1000
        old = staged.get(path)
        meta = {"path": path, "parent_path": parent, "relative_path": fields["id"], "_last_modified_time": self.clock,
                "_last_modified_user": self.USER, "_system_owned": False, "_protection": "NOT_PROTECTED"}
        if old is None:
            staged[path] = {**fields, **meta, "_create_time": self.clock, "_create_user": self.USER, "_revision": 0}
        else:
            staged[path] = {**old, **fields, **meta, "_revision": old["_revision"] + 1}
        staged[path].setdefault("display_name", fields["id"])

    def _check_references(self, staged: dict[str, dict[str, Any]]) -> None:
        for obj in staged.values():
            for filtering in obj.get("route_filtering") or []:
                for target in filtering.get("in_route_filters") or []:
                    if target not in staged:
                        raise Refused(nsx_error(400, 500012, f"The path=[{target}] is invalid"))
            for name in ("source_groups", "destination_groups", "scope"):
                for target in obj.get(name) or [] if obj.get("resource_type") == "Rule" else []:
                    if target != "ANY" and target not in staged:
                        raise Refused(nsx_error(400, 500012, f"The path=[{target}] is invalid"))
            tier0 = (obj.get("vrf_config") or {}).get("tier0_path")
            if tier0 and tier0 not in staged:
                raise Refused(nsx_error(400, 500012, f"The path=[{tier0}] is invalid"))

    @staticmethod
    def _path(parent: str, kind: str, ident: str) -> str:
        if kind == "Tier0":
            return f"/infra/tier-0s/{ident}"
        if kind == "Domain":
            return f"/infra/domains/{ident}"
        if kind == "BgpRoutingConfig":
            return f"{parent}/bgp"
        return f"{parent}/{FOLDERS[kind]}/{ident}"

    # -- views for tests --------------------------------------------------------------------------
    def under(self, gateway: str) -> dict[str, dict[str, Any]]:
        """Every object of a Tier-0 and of its VRF gateways, by path."""
        roots = [f"/infra/tier-0s/{gateway}"] + [p for p, o in self.objects.items()
                                                 if (o.get("vrf_config") or {}).get("tier0_path") ==
                                                 f"/infra/tier-0s/{gateway}"]
        return {p: o for p, o in sorted(self.objects.items()) if any(p == r or p.startswith(f"{r}/") for r in roots)}

"""A small stateful Apstra server speaking the documented API, for `transport=` injection.

Blueprints hold a staging graph (written by the driver) and a deployed copy (what the devices run).
It answers `POST /api/aaa/login` (token for the `AuthToken` header), the routing-zone, routing-policy
and connectivity-template endpoints, `errors`, `diff-status`, `PUT deploy?async=full` (a task to
poll) and `GET deploy`. Errors use Apstra's `{"errors": ...}` body; validation failures are 422.
Every staging write moves the staging version on; deploy copies staging to deployed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

import httpx
from rest.fake_controller import FakeController

Graph = dict[str, dict[str, dict[str, Any]]]  # collection -> id -> object
COLLECTIONS = ("security-zones", "routing-policies", "templates")


def apstra_error(status: int, errors: Any) -> httpx.Response:
    return httpx.Response(status, json={"errors": errors})


class FakeApstraServer(FakeController):
    USER, PASSWORD = "admin", "fake-apstra-Passw0rd"
    LOGIN = "/api/aaa/login"
    STATE = "blueprints"
    STATE_FILE = "apstra-server.json"

    def __init__(self, blueprints: dict[str, Graph]) -> None:
        super().__init__()
        self.staging: dict[str, Graph] = copy.deepcopy(blueprints)
        self.deployed: dict[str, Graph] = copy.deepcopy(blueprints)
        self.version = dict.fromkeys(blueprints, 1)
        self.deployed_version = dict.fromkeys(blueprints, 1)
        self.tokens: set[str] = set()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.build_errors: dict[str, Any] = {}
        self.task_outcome = "succeeded"
        self.serial = 0

    # -- HTTP -------------------------------------------------------------------------------------
    def _dropped(self, request: httpx.Request) -> httpx.TransportError:
        return httpx.ReadError("[Errno 104] Connection reset by peer", request=request)

    def _poisoned_answer(self) -> httpx.Response:
        return apstra_error(500, "the fake server was poisoned by the test")

    def _serve(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        body = json.loads(request.content) if request.content else None
        if path == self.LOGIN and method == "POST":
            return self._login(body or {})
        if request.headers.get("authtoken") not in self.tokens:
            return apstra_error(401, "Invalid or expired token")
        parts = path.removeprefix("/api/blueprints/").split("/")
        if not path.startswith("/api/blueprints/") or parts[0] not in self.staging:
            return apstra_error(404, f"Blueprint {parts[0]} of type staging not found")
        handler = self._route(method, parts[1:])
        if handler is None:
            return apstra_error(404, f"Resource not found: {method} {path}")
        return handler(parts[0], parts[2:] if len(parts) > 2 else [], body)

    def _route(self, method: str, rest: list[str]) -> Callable[[str, list[str], Any], httpx.Response] | None:
        head = rest[0] if rest else ""
        table: dict[tuple[str, str], Callable[[str, list[str], Any], httpx.Response]] = {
            ("GET", ""): self._blueprint, ("GET", "security-zones"): self._list_zones,
            ("POST", "security-zones"): self._create_zone, ("DELETE", "security-zones"): self._delete("security-zones"),
            ("GET", "routing-policies"): self._list_policies, ("POST", "routing-policies"): self._create_policy,
            ("PUT", "routing-policies"): self._update_policy,
            ("DELETE", "routing-policies"): self._delete("routing-policies"),
            ("GET", "obj-policy-export"): self._export, ("POST", "obj-policy-import"): self._import,
            ("DELETE", "endpoint-policies"): self._delete_template, ("GET", "errors"): self._errors,
            ("GET", "diff-status"): self._diff_status, ("PUT", "deploy"): self._deploy,
            ("GET", "deploy"): self._deploy_state, ("GET", "tasks"): self._task,
        }
        return table.get((method, head))

    def _login(self, body: dict[str, Any]) -> httpx.Response:
        if body.get("username") != self.USER or body.get("password") != self.PASSWORD:
            return apstra_error(401, "Invalid credentials")
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return httpx.Response(201, json={"token": token, "id": "a4e3c3b2-user-0000-0000-000000000001"})

    def expire_sessions(self) -> None:
        """Every token handed out stops working."""
        self.tokens.clear()

    # -- reads ------------------------------------------------------------------------------------
    def _blueprint(self, bp: str, _rest: list[str], _body: Any) -> httpx.Response:
        return httpx.Response(200, json={"id": bp, "label": bp, "design": "two_stage_l3clos",
                                         "version": self.version[bp], "last_modified_at": "2026-11-26T10:00:00Z"})

    def _list_zones(self, bp: str, _rest: list[str], _body: Any) -> httpx.Response:
        return httpx.Response(200, json={"items": self.staging[bp]["security-zones"]})

    def _list_policies(self, bp: str, _rest: list[str], _body: Any) -> httpx.Response:
        return httpx.Response(200, json={"items": list(self.staging[bp]["routing-policies"].values())})

    def _export(self, bp: str, _rest: list[str], _body: Any) -> httpx.Response:
        return httpx.Response(200, json={"policies": list(self.staging[bp]["templates"].values())})

    def _errors(self, bp: str, _rest: list[str], _body: Any) -> httpx.Response:
        return httpx.Response(200, json={"relationships": {}, "nodes": {}, **self.build_errors})

    def _diff_status(self, bp: str, _rest: list[str], _body: Any) -> httpx.Response:
        return httpx.Response(200, json={
            "status": "undeployed" if self.version[bp] != self.deployed_version[bp] else "deployed",
            "logical_diff_supported": True, "deployed_version": self.deployed_version[bp],
            "staging_version": self.version[bp], "cache_diff_supported": True, "deploy_config_version": 0,
            "deploy_status_version": 0, "operation_version": 0, "deploy_status": "success", "deploy_error": None})

    # -- staging writes ---------------------------------------------------------------------------
    def _new_id(self) -> str:
        self.serial += 1
        return hashlib.sha1(f"apstra-object-{self.serial}".encode()).hexdigest()[:20]

    def _written(self, bp: str) -> None:
        self.version[bp] += 1

    def _create_zone(self, bp: str, _rest: list[str], body: dict[str, Any]) -> httpx.Response:
        zones = self.staging[bp]["security-zones"]
        if any(z.get("label") == body.get("label") for z in zones.values()):
            return apstra_error(422, {"label": f"Security zone with label '{body.get('label')}' already exists"})
        ident = self._new_id()
        zones[ident] = {**body, "id": ident, "vni_id": 10000 + self.serial, "vlan_id": None, "routing_policy_id": ""}
        self._written(bp)
        return httpx.Response(201, json={"id": ident})

    def _create_policy(self, bp: str, _rest: list[str], body: dict[str, Any]) -> httpx.Response:
        policies = self.staging[bp]["routing-policies"]
        if any(p.get("label") == body.get("label") for p in policies.values()):
            return apstra_error(422, {"label": f"Routing policy with label '{body.get('label')}' already exists"})
        ident = self._new_id()
        policies[ident] = {**body, "id": ident}
        self._written(bp)
        return httpx.Response(201, json={"id": ident})

    def _update_policy(self, bp: str, rest: list[str], body: dict[str, Any]) -> httpx.Response:
        policies = self.staging[bp]["routing-policies"]
        if not rest or rest[0] not in policies:
            return apstra_error(404, f"Routing policy {rest[0] if rest else ''} not found")
        policies[rest[0]] = {**body, "id": rest[0]}
        self._written(bp)
        return httpx.Response(204)

    def _delete(self, collection: str) -> Callable[[str, list[str], Any], httpx.Response]:
        def delete(bp: str, rest: list[str], _body: Any) -> httpx.Response:
            objects = self.staging[bp][collection]
            if not rest or rest[0] not in objects:
                return apstra_error(404, f"{rest[0] if rest else ''} not found")
            if self._referenced(bp, rest[0]):
                return apstra_error(422, f"Object {rest[0]} is in use by connectivity templates")
            del objects[rest[0]]
            self._written(bp)
            return httpx.Response(204)
        return delete

    def _referenced(self, bp: str, ident: str) -> bool:
        return any(ident in (t.get("attributes") or {}).values() for t in self.staging[bp]["templates"].values())

    def _import(self, bp: str, _rest: list[str], body: dict[str, Any]) -> httpx.Response:
        known = set(self.staging[bp]["security-zones"]) | set(self.staging[bp]["routing-policies"])
        for policy in body.get("policies", []):
            for name in ("security_zone", "rp_to_attach"):
                ref = (policy.get("attributes") or {}).get(name)
                if name in (policy.get("attributes") or {}) and ref not in known:
                    return apstra_error(422, {"policies": {policy["id"]: {name: f"No node with id: '{ref}'"}}})
        for policy in body.get("policies", []):
            self.staging[bp]["templates"][policy["id"]] = policy
        self._written(bp)
        return httpx.Response(204)

    def _delete_template(self, bp: str, rest: list[str], _body: Any) -> httpx.Response:
        templates = self.staging[bp]["templates"]
        if not rest or rest[0] not in templates:
            return apstra_error(404, f"Endpoint policy {rest[0] if rest else ''} not found")
        for sub in templates[rest[0]].get("attributes", {}).get("subpolicies", []):
            templates.pop(sub, None)
        del templates[rest[0]]
        self._written(bp)
        return httpx.Response(204)

    # -- deploy -----------------------------------------------------------------------------------
    def _deploy(self, bp: str, _rest: list[str], body: dict[str, Any]) -> httpx.Response:
        if body.get("version") != self.version[bp]:
            return apstra_error(422, f"Version mismatch: staging version is {self.version[bp]}, "
                                     f"not {body.get('version')}")
        task = f"task-{self._new_id()}"
        self.tasks[task] = {"id": task, "status": self.task_outcome, "type": "blueprint.facade.PUT./deploy",
                            "detailed_status": {"errors": [] if self.task_outcome == "succeeded"
                                                else ["leaf-1: commit check failed: syntax error"]}}
        if self.task_outcome == "succeeded":
            self.deployed[bp] = copy.deepcopy(self.staging[bp])
            self.deployed_version[bp] = self.version[bp]
        return httpx.Response(202, json={"id": bp, "task_id": task})

    def _task(self, bp: str, rest: list[str], _body: Any) -> httpx.Response:
        if not rest or rest[0] not in self.tasks:
            return apstra_error(404, f"Task {rest[0] if rest else ''} not found")
        return httpx.Response(200, json=self.tasks[rest[0]])

    def _deploy_state(self, bp: str, _rest: list[str], _body: Any) -> httpx.Response:
        ok = self.deployed_version[bp] == self.version[bp] or self.task_outcome == "succeeded"
        return httpx.Response(200, json={"state": "success" if ok else "failure",
                                         "version": self.deployed_version[bp], "error": None})

"""Juniper Apstra driver: one blueprint per inventory switch; changes go to the staging blueprint, then deploy.

`load_candidate` writes the plan into staging object by object (undoing the ones already written if
one fails); `commit` checks Apstra's build errors, deploys the staging version with `PUT .../deploy`
(`async=full`) and follows the task; `rollback` undoes the staging writes. With `deploy: false` the
driver only stages: Apstra's own uncommitted diff is then the dry run, for review in Apstra.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from drivers.base import Capabilities
from drivers.rest.apstra_steps import Step, inverse_step, step_for
from drivers.rest.apstra_translate import (
    DEFAULT_VRF,
    ApstraScope,
    check_supported,
    object_from_template,
    plain,
    prefix_list_from_policy,
    revision_of,
    vrf_from_zone,
)
from drivers.rest.controller import ControllerDriver, LoginAuth
from drivers.rest.http import ControllerError
from intent.errors import ApplyError, DeviceUnreachableError, DriverError, FabricIntentError
from intent.model import DeviceObject, Vrf
from intent.plan import Change, DevicePlan, FabricState

log = logging.getLogger("fabric_intent.drivers.apstra")
FINAL_TASK_STATES = ("succeeded", "failed", "timeout")


class ApstraAuth(LoginAuth):
    """`POST /api/aaa/login` -> token, sent as the `AuthToken` header; a 401 means log in again."""

    def login(self, client: httpx.Client) -> None:
        password = self.password()
        client.headers.pop("AuthToken", None)
        response = client.post("/api/aaa/login", json={"username": self.username, "password": password})
        self.check_login(response, "POST /api/aaa/login")
        token = str(response.json().get("token", ""))
        self.keep(token)
        client.headers["AuthToken"] = token

    def is_expired(self, response: httpx.Response) -> bool:
        return response.status_code == 401


class ApstraDriver(ControllerDriver):
    """A blueprint on an Apstra server."""

    name: ClassVar[str] = "apstra"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=("vrf", "prefix-list", "bgp-peering", "static-route"), transactional=True, rollback=True,
        description="Juniper Apstra: routing zones, routing policies and connectivity templates in the staging "
                    "blueprint, made live by one deploy")

    def read_options(self) -> None:
        self.scope = ApstraScope(device=self.device, blueprint=str(self.options.get("blueprint", self.device)),
                                 cluster=self.inventory.cluster)
        self.deploy = bool(self.options.get("deploy", True))
        self.deploy_timeout = float(self.options.get("deploy_timeout", 600))
        self.ids: dict[str, str] = {}  # key -> id of an owned object, or name -> id of a routing zone / policy
        self._done: list[Step] = []
        self._new_zones: set[str] = set()

    @property
    def base(self) -> str:
        return f"/api/blueprints/{self.scope.blueprint}"

    def login_auth(self, username: str, password: Callable[[], str]) -> ApstraAuth:
        return ApstraAuth(username, password, self.device)

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        response = self.client.request("GET", f"{self.base}{path}", params=params, ok=(200,))
        body = response.json() if response.content else {}
        if not isinstance(body, dict):
            raise DriverError(f"{self.device}: Apstra answered GET {self.base}{path} with a JSON {type(body).__name__}")
        return body

    # -- reading ---------------------------------------------------------------------------------
    def observe(self) -> FabricState:
        self._get("")  # the blueprint exists (404 names it otherwise)
        zones = _items(self._get("/security-zones"))
        policies = _items(self._get("/routing-policies"))
        templates = self._get("/obj-policy-export").get("policies") or []
        names = {**{z["id"]: str(z.get("vrf_name") or z.get("label")) for z in zones},
                 **{p["id"]: str(p.get("label")) for p in policies}}
        self.ids = self._ids(zones, policies)
        objects: dict[str, DeviceObject] = {}
        for zone in zones:
            if self.scope.owns(zone):
                self._keep(objects, vrf_from_zone(zone, self.scope), zone["id"])
        for policy in policies:
            if self.scope.owns(policy):
                self._keep(objects, prefix_list_from_policy(policy, self.scope), policy["id"])
        by_id = {t["id"]: t for t in templates}
        vrfs = {z["id"]: str(z.get("vrf_name")) for z in zones}
        labels = {p["id"]: str(p.get("label")) for p in policies}
        for batch in templates:
            if batch.get("visible") and self.scope.owns(batch):
                obj = object_from_template(batch, by_id, vrfs, labels, self.scope)
                self._keep(objects, obj, batch["id"])
                self.ids[f"{obj.key}#zone"] = _zone_of(batch, by_id)
        foreign = {f"vrf:{self.device}:{z.get('label')}" for z in zones if not self.scope.owns(z)} | {
            f"prefix-list:{self.device}:{p.get('label')}" for p in policies if not self.scope.owns(p)}
        revision = revision_of([plain(o, names) for o in [*zones, *policies, *templates]])
        return FabricState(device=self.device, revision=revision, objects=tuple(objects[k] for k in sorted(objects)),
                           foreign=frozenset(foreign - set(objects)))

    def _ids(self, zones: list[dict[str, Any]], policies: list[dict[str, Any]]) -> dict[str, str]:
        """Routing zone per VRF name (fabric-intent's own first; `default` is the default zone) and
        routing policy per name, for the templates that refer to them."""
        ids: dict[str, str] = {}
        for zone in sorted(zones, key=lambda z: self.scope.owns(z)):
            name = DEFAULT_VRF if zone.get("sz_type") == "l3_fabric" else str(zone.get("vrf_name"))
            ids[f"zone:{name}"] = str(zone["id"])
        for policy in sorted(policies, key=lambda p: self.scope.owns(p)):
            ids[f"policy:{policy.get('label')}"] = str(policy["id"])
        return ids

    def _keep(self, objects: dict[str, DeviceObject], obj: DeviceObject, ident: str) -> None:
        objects[obj.key] = obj
        self.ids[obj.key] = ident

    # -- rendering -------------------------------------------------------------------------------
    def plan(self, desired: Sequence[DeviceObject] | Mapping[str, DeviceObject], observed: FabricState) -> DevicePlan:
        """As `Driver.plan`; routing zones the plan creates get their id from Apstra only when applied."""
        wanted = desired.values() if isinstance(desired, Mapping) else desired
        have = {o.key for o in observed.objects}
        self._new_zones = {f"zone:{o.name}" for o in wanted if isinstance(o, Vrf) and o.key not in have}
        try:
            return super().plan(desired, observed)
        finally:
            self._new_zones = set()

    def render(self, change: Change) -> tuple[str, ...]:
        known = {k: v for k, v in self.ids.items() if k not in self._new_zones}
        return step_for(change, self.scope, known, self.base).native(known)

    # -- staging -----------------------------------------------------------------------------------
    def load_candidate(self, changes: Sequence[Change]) -> None:
        """Write every change into the staging blueprint, in plan order."""
        for change in changes:
            if change.after is not None:
                check_supported(change.after, self.scope)
        self._done = []
        for change in changes:
            step = step_for(change, self.scope, self.ids, self.base)
            try:
                self._run(step)
            except DeviceUnreachableError:
                self._done.append(step)  # the answer was lost: Apstra may or may not have made the change
                raise
            self._done.append(step)

    def _run(self, step: Step) -> None:
        response = self.client.request(step.method, step.resolved_path(self.ids), params=step.params,
                                         json=step.resolved(self.ids),
                                         ok=(200, 201, 202, 204))
        if step.method == "POST" and step.creates is not None:
            self.ids[step.creates] = str(response.json()["id"])
            if step.name_key:
                self.ids[step.name_key] = self.ids[step.creates]

    def commit(self) -> str:
        errors = self._get("/errors")
        problems = _build_errors(errors)
        if problems:
            raise ApplyError(f"{self.device}: Apstra reports build errors in the staged blueprint "
                             f"{self.scope.blueprint}: {problems}")
        status = self._get("/diff-status")
        staged = int(status.get("staging_version", 0))
        log.info("%s: staged blueprint %s version %s (deployed %s)", self.device, self.scope.blueprint, staged,
                 status.get("deployed_version"))
        if self.deploy:
            self._deploy(staged)
        self._done = []
        return self.observe().revision

    def _deploy(self, version: int) -> None:
        description = f"fabric-intent: cluster {self.inventory.cluster}"
        response = self.client.request("PUT", f"{self.base}/deploy", params={"async": "full"},
                                         json={"version": version, "description": description}, ok=(200, 201, 202))
        task = str((response.json() if response.content else {}).get("task_id", ""))
        if task:
            self._await_task(task)
        state = self._get("/deploy")
        if state.get("state") != "success" or int(state.get("version", -1)) != version:
            raise ApplyError(f"{self.device}: Apstra did not deploy staging version {version} of blueprint "
                             f"{self.scope.blueprint}: state {state.get('state')}, version {state.get('version')}, "
                             f"error {state.get('error')}")

    def _await_task(self, task: str) -> None:
        waited = 0.0
        while True:
            body = self._get(f"/tasks/{task}")
            status = str(body.get("status", ""))
            if status in FINAL_TASK_STATES:
                break
            if waited >= self.deploy_timeout:
                raise ApplyError(f"{self.device}: the deploy task {task} is still {status or 'pending'} after "
                                 f"{self.deploy_timeout:.0f}s")
            self._sleep(1.0)
            waited += 1.0
        if status != "succeeded":
            detail = body.get("detailed_status") or {}
            raise ApplyError(f"{self.device}: the deploy task {task} {status}: "
                             f"{detail.get('errors') or detail.get('error_code') or 'no detail given'}")

    def rollback(self) -> None:
        """Undo the staging writes already made, newest first; says exactly what is left if that fails."""
        done, self._done = self._done, []
        left: list[str] = []
        for step in reversed(done):
            undo = inverse_step(step, self.base)
            try:
                self._run(undo)
            except ControllerError as exc:
                if not (undo.method == "DELETE" and exc.status == 404):  # 404: the change never happened
                    left.append(f"{step.summary} ({exc})")
            except FabricIntentError as exc:
                left.append(f"{step.summary} ({exc})")
        if left:
            raise ApplyError(f"{self.device}: could not undo every staged change; the staging blueprint "
                             f"{self.scope.blueprint} may still hold: {'; '.join(left)}; revert it in Apstra")
        if done:
            log.warning("%s: undid %d staged change(s) in blueprint %s", self.device, len(done), self.scope.blueprint)


def _items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A collection answer: `{"items": {id: obj}}` or `{"items": [obj]}`; each object carries its id."""
    items = body.get("items") or {}
    if isinstance(items, dict):
        return [{**value, "id": value.get("id", key)} for key, value in items.items()]
    return list(items)


def _zone_of(batch: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> str:
    """The routing zone a template's primitives name."""
    for ident in batch["attributes"]["subpolicies"]:
        zone = (by_id.get(ident) or {}).get("attributes", {}).get("security_zone")
        if zone:
            return str(zone)
    return ""


def _build_errors(body: Mapping[str, Any]) -> str:
    found = []
    for scope in ("nodes", "relationships"):
        for node, errors in (body.get(scope) or {}).items():
            found += [f"{node}: {e.get('message', e)}" for e in errors] if isinstance(errors, list) else [node]
    return "; ".join(found)

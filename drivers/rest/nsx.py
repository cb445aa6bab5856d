"""VMware NSX-T Policy driver: one Tier-0 gateway per inventory switch, a whole plan in one hierarchical PATCH.

Reads list the gateway's static routes, prefix lists and BGP neighbours (cursor paging) and keep those
tagged `{scope: fabric-intent, tag: <cluster>}`. Apply sends one `PATCH /policy/api/v1/infra` (NSX
applies it as a unit), then polls the realization state; if NSX cannot realize it, the inverse PATCH
restores the objects as they were. Options: see docs/drivers/nsx.md.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from drivers.base import Capabilities
from drivers.rest.controller import ControllerDriver, LoginAuth
from drivers.rest.http import ControllerError
from drivers.rest.nsx_policy import (
    DOMAIN,
    body_for,
    full_body,
    group_from_nsx,
    is_domain_object,
    place_for,
    rule_from_nsx,
    security_policy_body,
)
from drivers.rest.nsx_translate import (
    DEFAULT_VRF,
    POLICY,
    NsxScope,
    Place,
    Write,
    check_supported,
    is_owned,
    native_lines,
    neighbor_from_nsx,
    place_of,
    prefix_list_from_nsx,
    revision_of,
    route_from_nsx,
    route_key,
    tier0_path,
    vrf_from_nsx,
)
from intent.errors import ApplyError, DeviceUnreachableError, DriverError, FabricIntentError
from intent.model import DeviceObject
from intent.plan import Change, FabricState

log = logging.getLogger("fabric_intent.drivers.nsx")
REQUESTS_PER_SECOND = 100.0  # NSX's default client_api_rate_limit per client


class NsxAuth(LoginAuth):
    """Session auth (`POST /api/session/create`, JSESSIONID cookie + X-XSRF-TOKEN) or HTTP basic auth."""

    def __init__(self, username: str, password: Callable[[], str], *, mode: str = "session",
                 controller: str = "nsx") -> None:
        if mode not in ("session", "basic"):
            raise DriverError(f"{controller}: option 'auth' must be 'session' or 'basic', not {mode!r}")
        super().__init__(username, password, controller)
        self.mode = mode

    def login(self, client: httpx.Client) -> None:
        password = self.password()
        if self.mode == "basic":
            token = base64.b64encode(f"{self.username}:{password}".encode()).decode()
            self.keep(token)
            client.headers["Authorization"] = f"Basic {token}"
            return
        client.headers.pop("X-XSRF-TOKEN", None)
        response = client.post("/api/session/create", data={"j_username": self.username, "j_password": password})
        self.check_login(response, "POST /api/session/create (login)")
        xsrf = response.headers.get("x-xsrf-token", "")
        self.keep(xsrf, *client.cookies.values())
        client.headers["X-XSRF-TOKEN"] = xsrf

    def is_expired(self, response: httpx.Response) -> bool:
        return response.status_code in (401, 403)  # session timed out, or a bad XSRF token (403, error 98)


class NsxDriver(ControllerDriver):
    """A Tier-0 gateway on an NSX-T Policy manager."""

    name: ClassVar[str] = "nsx"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=("vrf", "prefix-list", "bgp-peering", "static-route", "address-group", "policy-rule"),
        transactional=True, rollback=True,
        description="VMware NSX-T Policy API: Tier-0 routes, prefix lists, BGP neighbours, VRF gateways, "
                    "distributed-firewall groups and rules (one hierarchical PATCH per plan)")

    requests_per_second: ClassVar[float | None] = REQUESTS_PER_SECOND

    def read_options(self) -> None:
        self.scope = NsxScope(device=self.device, gateway=str(self.options.get("gateway", self.device)),
                              locale_service=str(self.options.get("locale_service", "default")),
                              cluster=self.inventory.cluster)
        self.realization_timeout = float(self.options.get("realization_timeout", 60))
        self._places: dict[str, Place] = {}  # key -> where an observed owned object sits
        self._local_as: int | None = None
        self._writes: list[Write] = []
        self._undo: list[Write] = []
        self._sent = False
        self._base_revision = self._observed_revision = ""
        self._policy_exists = False

    # -- connection ------------------------------------------------------------------------------
    def login_auth(self, username: str, password: Callable[[], str]) -> NsxAuth:
        return NsxAuth(username, password, mode=str(self.options.get("auth", "session")), controller=self.device)

    def _get(self, path: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        response = self.client.request("GET", f"{POLICY}{path}", ok=(200, 404) if missing_ok else (200,))
        return None if response.status_code == 404 else _json(response, self.device)

    def _list(self, path: str, *, missing_ok: bool = False) -> list[dict[str, Any]]:
        """Every result of a Policy list, following `cursor` until NSX gives none."""
        params = {"page_size": str(min(self.settings.page_size, 1000))}
        results: list[dict[str, Any]] = []
        try:
            for page in self.client.paginate(f"{POLICY}{path}", params, _next_cursor):
                results += _json(page, self.device).get("results") or []
        except ControllerError as exc:
            if missing_ok and exc.status == 404:
                return []
            raise
        return results

    # -- reading ---------------------------------------------------------------------------------
    def observe(self) -> FabricState:
        gateways = self._gateways()
        bgp = self._get(f"{tier0_path(self.scope.gateway)}/locale-services/{self.scope.locale_service}/bgp",
                        missing_ok=True) or {}
        self._local_as = int(bgp["local_as_num"]) if bgp.get("local_as_num") else None
        read: list[Mapping[str, Any]] = [*gateways, bgp]
        objects: dict[str, DeviceObject] = {}
        places: dict[str, Place] = {}
        foreign: set[str] = set()
        for gateway in gateways:
            if gateway["id"] != self.scope.gateway and is_owned(gateway, self.scope):
                self._keep(vrf_from_nsx(gateway, self.scope), gateway["id"], "Tier0", False, objects, places)
            elif gateway["id"] != self.scope.gateway and place_of(vrf_from_nsx(gateway, self.scope), self.scope
                                                                  ).id == gateway["id"]:
                foreign.add(vrf_from_nsx(gateway, self.scope).key)
            read += self._read_gateway(gateway, objects, places, foreign)
        read += self._read_policy(objects, places)
        self._places, self._observed_revision = places, revision_of(read)
        return FabricState(device=self.device, revision=self._observed_revision, objects=tuple(objects.values()),
                           foreign=frozenset(foreign - set(objects)))

    def _gateways(self) -> list[dict[str, Any]]:
        """The parent Tier-0 and its VRF gateways."""
        parent = tier0_path(self.scope.gateway)
        tier0s = self._list("/infra/tier-0s")
        found = [g for g in tier0s if g.get("id") == self.scope.gateway]
        if not found:
            raise DriverError(f"{self.device}: NSX has no Tier-0 gateway {self.scope.gateway!r} (option 'gateway')")
        return found + sorted((g for g in tier0s if (g.get("vrf_config") or {}).get("tier0_path") == parent),
                              key=lambda g: str(g["id"]))

    def _read_gateway(self, gateway: dict[str, Any], objects: dict[str, DeviceObject], places: dict[str, Place],
                      foreign: set[str]) -> list[dict[str, Any]]:
        gid = str(gateway["id"])
        vrf = DEFAULT_VRF if gid == self.scope.gateway else str(gateway.get("display_name") or gid)
        routes = self._list(f"{tier0_path(gid)}/static-routes")
        neighbors = self._list(f"{tier0_path(gid)}/locale-services/{self.scope.locale_service}/bgp/neighbors",
                               missing_ok=True)
        lists = self._list(f"{tier0_path(gid)}/prefix-lists") if gid == self.scope.gateway else []
        for body in routes:
            if is_owned(body, self.scope):
                self._keep(route_from_nsx(body, self.scope, vrf), gid, "StaticRoutes", False, objects, places, body)
            elif (key := route_key(body, self.device)) is not None:
                foreign.add(key)
        for body in lists:
            if is_owned(body, self.scope):
                self._keep(prefix_list_from_nsx(body, self.scope), gid, "PrefixList", False, objects, places, body)
        for body in neighbors:
            if is_owned(body, self.scope):
                peer = neighbor_from_nsx(body, self.scope, vrf, self._local_as)
                self._keep(peer, gid, "BgpNeighborConfig", True, objects, places, body)
        return routes + neighbors + lists

    def _read_policy(self, objects: dict[str, DeviceObject], places: dict[str, Place]) -> list[dict[str, Any]]:
        """This gateway's groups (id `<gateway>-...`) and the rules of its security policy."""
        prefix = f"{self.scope.gateway}-"
        groups = [g for g in self._list(f"{DOMAIN}/groups") if str(g.get("id", "")).startswith(prefix)]
        names = {str(g.get("path", "")): str(g.get("display_name")) for g in groups}
        for body in groups:
            if is_owned(body, self.scope):
                self._keep(group_from_nsx(body, self.scope), "", "Group", False, objects, places, body)
        policy = self._get(f"{DOMAIN}/security-policies/{self.scope.security_policy}", missing_ok=True)
        self._policy_exists = policy is not None
        if policy is None:
            return groups
        if not is_owned(policy, self.scope):
            raise DriverError(f"{self.device}: security policy {self.scope.security_policy} exists but is not "
                              f"tagged for fabric-intent cluster {self.scope.cluster}; fabric-intent leaves it alone")
        rules = self._list(f"{DOMAIN}/security-policies/{self.scope.security_policy}/rules")
        for body in rules:
            if is_owned(body, self.scope):
                self._keep(rule_from_nsx(body, self.scope, names), "", "Rule", False, objects, places, body)
        return [*groups, policy, *rules]

    def _keep(self, obj: DeviceObject, gateway: str, kind: str, bgp: bool, objects: dict[str, DeviceObject],
              places: dict[str, Place], body: Mapping[str, Any] | None = None) -> None:
        objects[obj.key] = obj
        places[obj.key] = Place(gateway=gateway, bgp=bgp, resource_type=kind, id=str((body or {}).get("id", gateway)))

    # -- rendering -------------------------------------------------------------------------------
    def _write(self, change: Change) -> Write:
        obj = change.after if change.after is not None else change.before
        assert obj is not None
        place = self._places.get(change.key, place_for(obj, self.scope)) if change.action != "create" \
            else place_for(obj, self.scope)
        if change.action == "delete":
            return Write(place=place, body={}, delete=True)
        return Write(place=place, body={**body_for(obj, self.scope), "id": place.id})

    def render(self, change: Change) -> tuple[str, ...]:
        return native_lines(self._write(change), self.scope)

    # -- writing ---------------------------------------------------------------------------------
    def load_candidate(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.after is not None:
                check_supported(change.after, self.scope, self._local_as)
        self._writes = [self._write(c) for c in changes]
        self._undo = [_inverse(c, w, self.scope) for c, w in zip(changes, self._writes, strict=True)]
        self._policy_lifecycle(changes)
        self._sent = False
        self._base_revision = self._observed_revision  # base.apply observed just before

    def _policy_lifecycle(self, changes: Sequence[Change]) -> None:
        """Create the security policy with its first rule; delete it with its last (and undo either)."""
        rules = {k for k, p in self._places.items() if p.resource_type == "Rule"}
        rules |= {c.key for c in changes if c.kind == "policy-rule" and c.action == "create"}
        rules -= {c.key for c in changes if c.kind == "policy-rule" and c.action == "delete"}
        place = Place(gateway="", resource_type="SecurityPolicy", id=self.scope.security_policy)
        create = Write(place=place, body=security_policy_body(self.scope))
        delete = Write(place=place, body={}, delete=True)
        if rules and not self._policy_exists:
            self._writes.insert(0, create)
            self._undo.insert(0, delete)
        elif self._policy_exists and not rules and any(c.kind == "policy-rule" for c in changes):
            self._writes.append(delete)
            self._undo.append(create)

    def commit(self) -> str:
        if not self._writes:
            raise DriverError(f"{self.device}: nothing staged to commit")
        try:
            self.client.request("PATCH", f"{POLICY}/infra", json=full_body(self._writes, self.scope), ok=(200,))
        except DeviceUnreachableError:
            self._sent = True  # the PATCH may or may not have reached NSX: rollback finds out
            raise
        self._sent = True
        self._await_realization(self._writes)
        self._writes, self._undo, self._sent = [], [], False
        return self.observe().revision

    def rollback(self) -> None:
        """Nothing to do unless the PATCH went through (NSX applies it whole or not at all): then the inverse
        PATCH restores the objects as they were."""
        undo, sent, base = self._undo, self._sent, self._base_revision
        self._writes, self._undo, self._sent = [], [], False
        if not sent or not undo:
            return
        try:
            unchanged = self.observe().revision == base
        except FabricIntentError as exc:
            raise ApplyError(f"{self.device}: the change failed and NSX could not be read back to see whether it "
                             f"took effect ({exc}); observe and plan again") from exc
        if unchanged:
            return  # the PATCH never took effect
        try:
            self.client.request("PATCH", f"{POLICY}/infra", json=full_body(undo, self.scope), ok=(200,))
        except FabricIntentError as exc:
            raise ApplyError(f"{self.device}: the change failed and restoring the previous objects failed too "
                             f"({exc}); NSX may hold the new objects; observe and plan again") from exc
        log.warning("%s: restored the previous objects after a failed apply", self.device)

    def _await_realization(self, writes: Sequence[Write]) -> None:
        """Poll `realized-state/status` of each gateway written until NSX reports SUCCESS (or ERROR, or time out)."""
        gone = {w.place.gateway for w in writes if w.place.resource_type == "Tier0" and w.delete}
        paths = sorted({tier0_path(w.place.gateway) for w in writes
                        if w.place.gateway not in gone and not is_domain_object(w.place)})
        if any(w.place.resource_type == "Rule" for w in writes) and not any(
                w.place.resource_type == "SecurityPolicy" and w.delete for w in writes):
            paths.append(f"{DOMAIN}/security-policies/{self.scope.security_policy}")
        deadline = self.realization_timeout
        for path in paths:
            waited, status = 0.0, ""
            while True:
                body = _json(self.client.request("GET", f"{POLICY}/infra/realized-state/status",
                                                   params={"intent_path": path}), self.device)
                status = str((body.get("consolidated_status") or {}).get("consolidated_status", ""))
                if status == "SUCCESS":
                    break
                if status == "ERROR" or waited >= deadline:
                    reason = "failed to realize" if status == "ERROR" else f"was not realized within {deadline:.0f}s"
                    raise ApplyError(f"{self.device}: NSX accepted the change but {path} {reason} "
                                     f"(consolidated status {status or 'unknown'})")
                self._sleep(1.0)
                waited += 1.0


def _inverse(change: Change, write: Write, scope: NsxScope) -> Write:
    """The write that undoes `write`: delete what it creates, put back what it changes or deletes."""
    if change.action == "create":
        return Write(place=write.place, body={}, delete=True)
    assert change.before is not None
    return Write(place=write.place, body={**body_for(change.before, scope), "id": write.place.id})


def _next_cursor(response: httpx.Response, params: Mapping[str, str]) -> Mapping[str, str] | None:
    if response.status_code != 200:
        return None
    body = response.json()
    cursor = body.get("cursor") if isinstance(body, dict) else None
    return {**params, "cursor": str(cursor)} if cursor and body.get("results") else None


def _json(response: httpx.Response, device: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise DriverError(f"{device}: NSX answered {response.request.url.path} with a body that is not JSON") from exc
    if not isinstance(body, dict):
        raise DriverError(f"{device}: NSX answered {response.request.url.path} with a JSON {type(body).__name__}")
    return body

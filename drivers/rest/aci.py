"""Cisco ACI through the APIC REST API: one driver instance per leaf (an APIC fabric node).

Reads: the leaf's node attachment subtree and its node profile's peers in each L3Out
(`/api/mo/<dn>.json?query-target=subtree`), and the tenant's route-control and BGP prefix policies
(`/api/class/<class>.json` with a `query-target-filter`), page by page; on a leaf listed in
`policy.enforce_on` also the external EPGs of the VRF's L3Out and the tenant's `FI-` contracts and
filters (drivers/rest/aci_policy.py). Writes: the whole plan as
one subtree POST to the tenant (or POSTs of `max_changes_per_post` changes, a failed one undoing
the ones before it). Ownership: `annotation="orchestrator:fabric-intent"`; MOs without
it are never changed or deleted, and a plan that would do so is refused before anything is sent.

Settings (inventory `drivers.aci`, overridden per switch by `options`): `base_url`, `tenant`,
`l3out` (for the inventory's VRF) and/or `l3outs` (VRF -> L3Out), `node_profile`, `node_id`,
`pod` (1), `login_domain`, `credentials` (username + password SecretRef), and the `RestSettings`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers.base import ApplyResult, Capabilities, Driver
from drivers.rest import aci_policy as policy
from drivers.rest.access import controller_options, login_credentials, read_secret, rest_settings
from drivers.rest.aci_translate import Mo, Mos, Placement, children_index, flatten, line, read_objects, render
from drivers.rest.aci_tree import check_ownership, kept_routes, nest, split_dn
from drivers.rest.http import RestClient, status_error
from intent.errors import ApplyError, DeviceUnreachableError, DriverError, FabricIntentError
from intent.inventory import FabricInventory, Switch, format_validation_error
from intent.model import DeviceObject, StaticRoute
from intent.plan import Change, DevicePlan, FabricState, apply_changes, diff, spec_of, with_native

TENANT_CLASSES = ("rtctrlSubjP", "rtctrlProfile", "bgpPeerPfxPol")
PEER_CLASSES = "bgpPeerP,bgpAsP,bgpLocalAsnP,bgpRsPeerPfxPol,bgpRsPeerToProfile"
VOLATILE = frozenset({"modTs", "uid", "lcOwn", "childAction", "status", "monPolDn", "userdom", "extMngdBy"})


class AciOptions(BaseModel):
    """The ACI part of the driver settings."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    l3out: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    l3outs: dict[str, str] = {}
    node_profile: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    node_id: int = Field(ge=101, le=4000)
    pod: int = Field(1, ge=1, le=255)
    login_domain: str | None = None
    max_changes_per_post: int | None = Field(None, ge=1)  # None: the whole plan in one POST


class AciAuth:
    """aaaLogin with the APIC-cookie token; aaaRefresh at half of refreshTimeoutSeconds; any 403 means log in again."""

    def __init__(self, controller: str, username: str, password: Callable[[], str],
                 clock: Callable[[], float]) -> None:
        self.controller, self.username, self._password, self._clock = controller, username, password, clock
        self._secret = ""
        self.token = ""
        self._obtained = 0.0
        self._refresh_after = 0.0

    def login(self, client: httpx.Client) -> None:
        if self.token and "APIC-cookie" in client.cookies and self.refresh_due():
            response = client.get("/api/aaaRefresh.json")
            if response.status_code == 200:
                return self._take(client, response)
        self._secret = self._password()
        body = {"aaaUser": {"attributes": {"name": self.username, "pwd": self._secret}}}
        response = client.post("/api/aaaLogin.json", json=body)
        if response.status_code != 200:
            raise status_error(self.controller, "POST /api/aaaLogin.json (login)", response, self.secrets())
        self._take(client, response)

    def _take(self, client: httpx.Client, response: httpx.Response) -> None:
        try:
            attributes = response.json()["imdata"][0]["aaaLogin"]["attributes"]
            token, timeout = str(attributes["token"]), float(attributes.get("refreshTimeoutSeconds", "600"))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise DriverError(f"{self.controller}: the APIC login answer has no aaaLogin token") from exc
        self.token, self._obtained, self._refresh_after = token, self._clock(), timeout / 2
        client.cookies.clear()
        client.cookies.set("APIC-cookie", token)

    def is_expired(self, response: httpx.Response) -> bool:
        return response.status_code == 403

    def refresh_due(self) -> bool:
        return bool(self.token) and self._clock() - self._obtained >= self._refresh_after

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._secret, self.token) if s)


class AciDriver(Driver):
    """A leaf of an ACI fabric, configured through the APIC."""

    name: ClassVar[str] = "aci"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=("vrf", "prefix-list", "bgp-peering", "static-route", *policy.POLICY_KINDS), transactional=True,
        rollback=True,
        description="Cisco ACI through the APIC REST API: L3Out static routes, BGP peers and route control; "
                    "NetworkPolicy as external EPGs and contracts (one subtree POST per plan)")

    def __init__(self, switch: Switch, inventory: FabricInventory, base_dir: Path, *,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(switch, inventory, base_dir)
        options = controller_options("aci", switch, inventory)
        try:
            aci = AciOptions.model_validate(options)
        except ValidationError as exc:
            raise DriverError(f"{switch.name}: aci settings: {'; '.join(format_validation_error(exc))}") from None
        l3outs = {**({inventory.vrf: aci.l3out} if aci.l3out else {}), **aci.l3outs}
        if not l3outs:
            raise DriverError(f"{switch.name}: aci settings: give 'l3out' (for VRF {inventory.vrf}) or 'l3outs'")
        self.where = Placement(device=switch.name, tenant=aci.tenant, l3outs=l3outs, node_profile=aci.node_profile,
                               pod=aci.pod, node_id=aci.node_id, profile_shared_with=_sharing(aci, switch, inventory),
                               policy_l3out=policy.policy_l3out(aci.tenant, l3outs, switch, inventory))
        self.settings = rest_settings(options, switch, requests_per_second=None)
        self.credentials = login_credentials(switch, options)
        self._login_domain = aci.login_domain
        self._seams: dict[str, Any] = {"transport": transport, "sleep": sleep, "clock": clock}
        self._client: RestClient | None = None
        self._mos: Mos = {}
        self._before: dict[str, DeviceObject] = {}
        self._candidate: list[tuple[Change, ...]] | None = None
        self._left_applied: tuple[str, ...] = ()
        self.max_changes_per_post = aci.max_changes_per_post

    # -- the controller session ------------------------------------------------------------------
    @property
    def client(self) -> RestClient:
        if self._client is None:
            creds = self.credentials
            assert creds.username is not None and creds.password is not None
            user = f"apic#{self._login_domain}\\{creds.username}" if self._login_domain else creds.username
            ref = creds.password
            auth = AciAuth(self.device, user, lambda: read_secret(ref, self.base_dir, self.device),
                           self._seams["clock"])
            self._client = RestClient(self.device, self.settings, auth, **self._seams)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- reading -----------------------------------------------------------------------------------
    def _read(self, path: str, params: Mapping[str, str]) -> list[Mo]:
        size = self.settings.page_size
        items: list[Mo] = []
        for page in self.client.paginate(path, {**params, "page": "0", "page-size": str(size)}, _next_page):
            items += _imdata(page, self.device, path)
        return items

    def read_mos(self) -> Mos:
        """Every MO under the leaf's node attachments, and the tenant's route-control and prefix policies."""
        mos: Mos = {}
        for vrf in self.where.l3outs:
            mos |= flatten(self._read(f"/api/mo/{self.where.node_dn(vrf)}.json",
                                      {"query-target": "subtree", "rsp-prop-include": "config-only"}))
            profile = self.where.profile_dn(vrf)
            peers = flatten(self._read(f"/api/mo/{profile}.json", {
                "query-target": "subtree", "target-subtree-class": PEER_CLASSES, "rsp-prop-include": "config-only"}))
            mos |= {dn: v for dn, v in peers.items() if dn.startswith(f"{profile}/peerP-")}  # not interface peers
        tenant = self.where.tenant_dn
        for cls in TENANT_CLASSES:
            mos |= flatten(self._read(f"/api/class/{cls}.json", {
                "query-target-filter": f'wcard({cls}.dn,"{tenant}/")', "rsp-subtree": "full",
                "rsp-prop-include": "config-only"}))
        if self.where.policy_l3out is not None:
            mos |= self._read_policy_mos()
        return {dn: value for dn, value in mos.items() if not dn.startswith(tenant + "/") or self._mine(dn)}

    def _read_policy_mos(self) -> Mos:
        """The L3Out's external EPGs with their subnets and contract relations; the tenant's `FI-` contracts and
        filters with their subtrees."""
        tenant = self.where.tenant_dn
        mos = flatten(self._read(f"/api/mo/{tenant}/out-{self.where.policy_l3out}.json", {
            "query-target": "subtree", "target-subtree-class": policy.L3OUT_CLASSES,
            "rsp-prop-include": "config-only"}))
        for cls, rn in policy.POLICY_CLASSES.items():
            mos |= flatten(self._read(f"/api/class/{cls}.json", {
                "query-target-filter": f'wcard({cls}.dn,"{tenant}/{rn}FI-")', "rsp-subtree": "full",
                "rsp-prop-include": "config-only"}))
        return mos

    def _mine(self, dn: str) -> bool:
        """Tenant-level MOs belong to this leaf by the `.<leaf>` in their name; L3Out MOs, and contracts and
        filters (read on a policy-enforcing leaf only), always do."""
        if "/out-" in dn or dn.startswith((f"{self.where.tenant_dn}/brc-", f"{self.where.tenant_dn}/flt-")):
            return True
        suffix, policy = f".{self.device}", f"bgpPfxP-{self.where.pfx_pol_name('')}"
        return any(rn.endswith(suffix) or rn.startswith(policy) for rn in split_dn(dn))

    def observe(self) -> FabricState:
        mos = self.read_mos()
        objects, foreign = self._objects(mos)
        self._mos, self._before = mos, {o.key: o for o in objects}
        return FabricState(device=self.device, revision=revision_of(mos), objects=tuple(objects), foreign=foreign)

    def _objects(self, mos: Mos) -> tuple[list[DeviceObject], frozenset[str]]:
        objects, foreign = read_objects(mos, self.where)
        if self.where.policy_l3out is None:
            return objects, foreign
        rules, hand_made = policy.read_policy(children_index(mos), self.where)
        return objects + rules, foreign | hand_made

    # -- planning ----------------------------------------------------------------------------------
    def render(self, change: Change) -> tuple[str, ...]:
        mos = self._render(change, (set(), True))
        return tuple(line(m) for m in mos) if mos or change.kind not in policy.POLICY_KINDS else (policy.NO_OBJECT,)

    def plan(self, desired: Sequence[DeviceObject] | Mapping[str, DeviceObject], observed: FabricState) -> DevicePlan:
        """As `Driver.plan`, rendering a route delete as a next-hop delete while another next hop keeps the route."""
        wanted = policy.apic_share(dict(desired) if isinstance(desired, Mapping) else {o.key: o for o in desired})
        keep = _keeps(wanted.values())
        changes, conflicts = [], []
        for change in diff(wanted, observed.objects):
            if change.action == "create" and change.key in observed.foreign:
                conflicts.append(f"{change.summary}: the APIC holds a hand-made object in its place; "
                                 "fabric-intent leaves it alone and does not take it over")
                continue
            changes.append(with_native(change, tuple(line(m) for m in self._render(change, keep))))
        return DevicePlan(device=self.device, driver=self.name, revision=observed.revision,
                          owned_objects=len(observed.objects), changes=tuple(changes), conflicts=tuple(conflicts))

    # -- applying ----------------------------------------------------------------------------------
    def apply(self, device_plan: DevicePlan) -> ApplyResult:
        """As `Driver.apply`; when undoing a failed step fails too, the result lists what stays applied."""
        self._left_applied = ()
        result = super().apply(device_plan)
        if not (result.failed and self._left_applied):
            return result
        left = set(self._left_applied)
        keys = [c.key for c in device_plan.changes]
        return result.model_copy(update={"applied": tuple(k for k in keys if k in left), "revision": None,
                                         "not_applied": tuple(k for k in keys if k not in left)})

    def load_candidate(self, changes: Sequence[Change]) -> None:
        keep = _keeps(apply_changes(self._before, changes).values())
        mos = [m for c in changes for m in self._render(c, keep)]
        check_ownership(mos, self._mos, self.where)
        policy.check_contract_users(mos, self._mos, self.where)
        size = self.max_changes_per_post or max(1, len(changes))
        self._candidate = [tuple(changes[i:i + size]) for i in range(0, len(changes), size)]

    def _render(self, change: Change, keep: tuple[set[tuple[str, str]], bool]) -> list[Mo]:
        """The MOs of one change; `keep`: the routes and whether `FI-ANY` stay after the plan."""
        if change.kind in policy.POLICY_KINDS:
            return policy.render_policy(change, self.where, keep_any=keep[1])
        return render(change, self.where, keep_route=_route_key(change) in keep[0])

    def commit(self) -> str:
        if self._candidate is None:
            raise DriverError(f"{self.device}: nothing staged to commit")
        steps, done = self._candidate, list[tuple[Change, ...]]()
        state = dict(self._before)
        for number, step in enumerate(steps, 1):
            after = apply_changes(state, step)
            try:
                self._post(step, state, after)
            except StepFailed as failed:
                self._undo(done, failed, f"step {number} of {len(steps)}")
            except FabricIntentError:
                self._left_applied = tuple(c.key for s in done for c in s)
                raise
            done.append(step)
            state = after
        self._candidate = None
        return self.observe().revision

    def _post(self, step: Sequence[Change], before: dict[str, DeviceObject], after: dict[str, DeviceObject]) -> None:
        """One subtree POST of `step`; a lost answer is settled by reading back."""
        keep = _keeps(after.values())
        mos = list({line(m): m for c in step for m in self._render(c, keep)}.values())  # FI-ANY once
        try:
            self.client.request("POST", f"/api/mo/{self.where.tenant_dn}.json",
                                json=nest(mos, self.where.tenant_dn), ok=(200,))
        except DeviceUnreachableError as lost:
            self._read_back(lost, before, after)
        except FabricIntentError as exc:
            raise StepFailed(f"{exc}; the APIC refused the change as a whole") from exc

    def _read_back(self, lost: DeviceUnreachableError, before: dict[str, DeviceObject],
                   after: dict[str, DeviceObject]) -> None:
        try:
            objects, _ = self._objects(self.read_mos())
        except FabricIntentError as exc:
            raise DeviceUnreachableError(f"{lost}; reading back failed too ({exc}): whether the change was made "
                                         "is unknown, make a new plan once the APIC answers") from exc
        now = _specs(objects)
        if now == _specs(after.values()):
            return
        if now == _specs(before.values()):
            raise StepFailed(f"{lost}; read back: the APIC did not take the change") from lost
        raise ApplyError(f"{lost}; read back: the APIC holds neither the old nor the new state, make a new plan")

    def _undo(self, done: list[tuple[Change, ...]], failed: StepFailed, where: str) -> NoReturn:
        """Undo the steps before the failed one, last first; say exactly what stays applied if that fails."""
        if not done:
            raise ApplyError(f"{failed}{'' if where == 'step 1 of 1' else ' (' + where + ')'}, nothing was changed")
        for index in reversed(range(len(done))):
            state = apply_changes(self._before, [c for s in done[:index + 1] for c in s])
            earlier = apply_changes(self._before, [c for s in done[:index] for c in s])
            try:
                self._post(tuple(_inverse(c) for c in reversed(done[index])), state, earlier)
            except FabricIntentError as exc:
                self._left_applied = tuple(c.key for s in done[:index + 1] for c in s)
                raise ApplyError(f"{failed} ({where}); undoing step {index + 1} failed too ({exc}); still applied: "
                                 f"{', '.join(self._left_applied)}; make a new plan") from exc
        raise ApplyError(f"{failed} ({where}); steps 1-{len(done)} were undone, nothing was changed")

    def rollback(self) -> None:
        self._candidate = None  # failed steps were undone by commit; a single POST is applied as a whole


class StepFailed(ApplyError):
    """One POST of an apply did not take effect (refused, or lost and not taken)."""


def _inverse(change: Change) -> Change:
    """The change that undoes `change`."""
    action = {"create": "delete", "delete": "create", "update": "update"}[change.action]
    return change.model_copy(update={"action": action, "before": change.after, "after": change.before})


def _specs(objects: Iterable[DeviceObject]) -> dict[str, tuple[object, ...]]:
    return {o.key: spec_of(o) for o in objects}


def _sharing(aci: AciOptions, switch: Switch, inventory: FabricInventory) -> tuple[str, ...]:
    """Other aci leaves configured with the same tenant and node profile."""
    shared = []
    for other in inventory.switches:
        options = controller_options("aci", other, inventory)
        if other.name != switch.name and other.driver == "aci" and (options.get("tenant"), options.get(
                "node_profile")) == (aci.tenant, aci.node_profile):
            shared.append(other.name)
    return tuple(shared)


def _keeps(objects: Iterable[DeviceObject]) -> tuple[set[tuple[str, str]], bool]:
    """What must stay after a plan: the routes (an ipRouteP other next hops use) and the FI-ANY EPG."""
    held = list(objects)
    return kept_routes(held), policy.keeps_any(held)


def revision_of(mos: Mos) -> str:
    """SHA-256 over the configuration MOs read (owned and hand-made), without volatile properties."""
    canonical = sorted((dn, cls, sorted((k, v) for k, v in attrs.items() if k not in VOLATILE and k != "dn"))
                       for dn, (cls, attrs) in mos.items())
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


def _route_key(change: Change) -> tuple[str, str] | None:
    obj = change.before or change.after
    return (obj.vrf, str(obj.prefix)) if isinstance(obj, StaticRoute) else None


def _imdata(response: httpx.Response, device: str, path: str) -> list[Mo]:
    try:
        data = response.json()["imdata"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DriverError(f"{device}: GET {path} did not answer an APIC imdata envelope") from exc
    if not isinstance(data, list):
        raise DriverError(f"{device}: GET {path}: imdata is not a list")
    return data


def _next_page(response: httpx.Response, params: Mapping[str, str]) -> Mapping[str, str] | None:
    """APIC pages are 0-based; `totalCount` counts every match, as a string."""
    try:
        total = int(response.json()["totalCount"])
    except (ValueError, KeyError, TypeError):
        return None
    page, size = int(params["page"]), int(params["page-size"])
    return {**params, "page": str(page + 1)} if (page + 1) * size < total else None

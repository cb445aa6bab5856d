"""Pure translation between fabric-intent objects and NSX-T Policy objects, and the hierarchical body.

One inventory switch is one Tier-0 gateway (`gateway`). Its objects:

* `Vrf` -> a VRF gateway: Tier-0 `<gateway>-<vrf>` with `vrf_config.tier0_path` -> the parent;
* `StaticRoute` -> `StaticRoutes` on the parent (VRF `default`) or on the VRF gateway;
* `PrefixList` -> `PrefixList` on the parent Tier-0 (entries in seq order; NSX keeps no seq numbers);
* `BgpPeering` -> `BgpNeighborConfig` under `locale-services/<ls>/bgp` of the parent or VRF gateway.

Ownership: every object carries the tag `{scope: fabric-intent, tag: <cluster>}`. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from drivers.rest.refusals import refuse_bgp_password, refuse_sequence_numbers
from intent.errors import DriverError
from intent.model import OWNER, BgpPeering, DeviceObject, PrefixList, PrefixListEntry, StaticRoute, Vrf, ip_text

OWNER_SCOPE = OWNER
ROUTE_TAG_SCOPE = f"{OWNER}/route-tag"
DEFAULT_VRF = "default"
POLICY = "/policy/api/v1"
Body = dict[str, Any]


class NsxScope(BaseModel):
    """Where one switch's objects live on the NSX manager, and the tag that marks them as ours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    gateway: str  # the parent Tier-0 gateway id
    locale_service: str = "default"
    cluster: str

    @property
    def owner_tag(self) -> dict[str, str]:
        return {"scope": OWNER_SCOPE, "tag": self.cluster}

    def vrf_gateway(self, vrf: str) -> str:
        return object_id(f"{self.gateway}-{vrf}")

    def gateway_for(self, vrf: str) -> str:
        return self.gateway if vrf == DEFAULT_VRF else self.vrf_gateway(vrf)

    @property
    def security_policy(self) -> str:
        """The distributed-firewall security policy holding this gateway's NetworkPolicy rules."""
        return object_id(f"{self.gateway}-fabric-intent")


class Place(BaseModel):
    """Where one NSX object sits: its gateway, and whether it is under the gateway's BGP config."""

    model_config = ConfigDict(frozen=True)

    gateway: str
    bgp: bool = False
    resource_type: str
    id: str

    def path(self, scope: NsxScope) -> str:
        if self.resource_type in ("Group", "SecurityPolicy", "Rule"):
            folder = {"Group": "groups", "SecurityPolicy": "security-policies"}.get(self.resource_type)
            if folder is not None:
                return f"/infra/domains/default/{folder}/{self.id}"
            return f"/infra/domains/default/security-policies/{scope.security_policy}/rules/{self.id}"
        base = tier0_path(self.gateway)
        if self.resource_type == "Tier0":
            return base
        folder = {"StaticRoutes": "static-routes", "PrefixList": "prefix-lists"}.get(self.resource_type)
        if folder is not None:
            return f"{base}/{folder}/{self.id}"
        return f"{base}/locale-services/{scope.locale_service}/bgp/neighbors/{self.id}"


def object_id(text: str) -> str:
    """An NSX object id from readable text: letters, digits, `.`, `_` and `-` only."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def tier0_path(gateway: str) -> str:
    return f"/infra/tier-0s/{gateway}"


def is_owned(body: Mapping[str, Any], scope: NsxScope) -> bool:
    return scope.owner_tag in (body.get("tags") or [])


def place_of(obj: DeviceObject, scope: NsxScope) -> Place:
    """Where fabric-intent creates `obj`."""
    if isinstance(obj, Vrf):
        return Place(gateway=scope.vrf_gateway(obj.name), resource_type="Tier0", id=scope.vrf_gateway(obj.name))
    if isinstance(obj, StaticRoute):
        ident = object_id(f"fi-{ip_text(obj.prefix)}-via-{ip_text(obj.next_hop)}")
        return Place(gateway=scope.gateway_for(obj.vrf), resource_type="StaticRoutes", id=ident)
    if isinstance(obj, PrefixList):
        return Place(gateway=scope.gateway, resource_type="PrefixList", id=object_id(obj.name))
    if isinstance(obj, BgpPeering):
        ident = object_id(f"fi-{ip_text(obj.neighbor)}")
        return Place(gateway=scope.gateway_for(obj.vrf), bgp=True, resource_type="BgpNeighborConfig", id=ident)
    raise DriverError(f"{scope.device}: the nsx driver cannot configure {type(obj).__name__}")


# -- intent -> NSX ---------------------------------------------------------------------------------
def to_nsx(obj: DeviceObject, scope: NsxScope) -> Body:
    """The NSX object body for `obj` (what a PATCH sends)."""
    place = place_of(obj, scope)
    head: Body = {"resource_type": place.resource_type, "id": place.id}
    if isinstance(obj, Vrf):
        return {**head, "display_name": obj.name, "vrf_config": {"tier0_path": tier0_path(scope.gateway)},
                "tags": [scope.owner_tag]}
    if isinstance(obj, StaticRoute):
        return {**head, "display_name": f"{ip_text(obj.prefix)} via {ip_text(obj.next_hop)}",
                "network": ip_text(obj.prefix),
                "next_hops": [{"ip_address": ip_text(obj.next_hop), "admin_distance": 1}],
                "tags": [scope.owner_tag, {"scope": ROUTE_TAG_SCOPE, "tag": str(obj.tag)}]}
    if isinstance(obj, PrefixList):
        return {**head, "display_name": obj.name, "prefixes": [_prefix_config(e) for e in obj.entries],
                "tags": [scope.owner_tag]}
    assert isinstance(obj, BgpPeering)
    prefix_list = f"{tier0_path(scope.gateway)}/prefix-lists/{object_id(obj.prefix_list)}"
    return {**head, "display_name": ip_text(obj.neighbor), "neighbor_address": ip_text(obj.neighbor),
            "remote_as_num": str(obj.remote_as), "description": obj.description,
            "route_filtering": [{"address_family": f"IPV{obj.neighbor.version}", "enabled": True,
                                 "in_route_filters": [prefix_list],
                                 "maximum_routes": obj.max_prefix}],
            "tags": [scope.owner_tag]}


def _prefix_config(entry: PrefixListEntry) -> Body:
    config: Body = {"network": ip_text(entry.prefix), "action": entry.action.upper()}
    if entry.le is not None:
        config["le"] = entry.le
    return config


def check_supported(obj: DeviceObject, scope: NsxScope, local_as: int | None) -> None:
    """Refuse what NSX cannot hold as asked (an authenticated session, a per-neighbour local AS)."""
    refuse_bgp_password(obj, scope.device, "nsx", " (NSX never reads them back, so drift would go unseen)")
    refuse_sequence_numbers(obj, scope.device, "NSX prefix lists")
    if isinstance(obj, BgpPeering) and obj.local_as is not None and obj.local_as != local_as:
        raise DriverError(f"{scope.device}: bgp neighbor {ip_text(obj.neighbor)} wants local AS {obj.local_as}, but "
                          f"NSX takes the local AS from Tier-0 {scope.gateway} BGP ({local_as})")


# -- NSX -> intent ---------------------------------------------------------------------------------
def vrf_from_nsx(body: Mapping[str, Any], scope: NsxScope) -> Vrf:
    return Vrf(device=scope.device, name=str(body.get("display_name") or body["id"]))


def route_from_nsx(body: Mapping[str, Any], scope: NsxScope, vrf: str) -> StaticRoute:
    hops = body.get("next_hops") or []
    if len(hops) != 1:
        raise DriverError(f"{scope.device}: owned static route {body.get('path', body.get('id'))} has {len(hops)} "
                          "next hops; fabric-intent writes exactly one")
    tag = next((t.get("tag") for t in body.get("tags") or [] if t.get("scope") == ROUTE_TAG_SCOPE), "0")
    return StaticRoute(device=scope.device, vrf=vrf, prefix=body["network"], next_hop=hops[0]["ip_address"],
                       tag=int(tag))


def prefix_list_from_nsx(body: Mapping[str, Any], scope: NsxScope) -> PrefixList:
    entries = [PrefixListEntry(seq=10 * (i + 1), action=str(p.get("action", "PERMIT")).lower(),  # type: ignore[arg-type]
                               prefix=p["network"], le=p.get("le"))
               for i, p in enumerate(body.get("prefixes") or [])]
    return PrefixList(device=scope.device, name=str(body.get("display_name") or body["id"]), entries=tuple(entries))


def neighbor_from_nsx(body: Mapping[str, Any], scope: NsxScope, vrf: str, local_as: int | None) -> BgpPeering:
    filtering = (body.get("route_filtering") or [{}])[0]
    filters = filtering.get("in_route_filters") or [""]
    return BgpPeering(device=scope.device, vrf=vrf, neighbor=body["neighbor_address"],
                      remote_as=int(body["remote_as_num"]), local_as=local_as,
                      description=str(body.get("description", "")), prefix_list=filters[0].rsplit("/", 1)[-1],
                      max_prefix=int(filtering.get("maximum_routes", 0)), authenticated=False)


def route_key(body: Mapping[str, Any], device: str) -> str | None:
    """The intent key a hand-made static route occupies (one next hop, valid addresses), if any."""
    hops = body.get("next_hops") or []
    try:
        prefix, hop = ipaddress.ip_network(body["network"]), ipaddress.ip_address(hops[0]["ip_address"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return f"static-route:{device}:{prefix}@{hop}"


def revision_of(bodies: Iterable[Mapping[str, Any]]) -> str:
    """A revision over every object read (owned or not): path and `_revision` of each."""
    marks = sorted(f"{b.get('path', b.get('id'))}#{b.get('_revision', '')}" for b in bodies)
    return hashlib.sha256(json.dumps(marks).encode()).hexdigest()


# -- the hierarchical body -------------------------------------------------------------------------
class Write(BaseModel):
    """One object to create/update (`body`) or delete (`delete`) at `place`."""

    model_config = ConfigDict(frozen=True)

    place: Place
    body: Body
    delete: bool = False


def child(write: Write) -> Body:
    """The `Child<Type>` wrapper of one write."""
    kind = write.place.resource_type
    body = {"resource_type": kind, "id": write.place.id} if write.delete else write.body
    return {"resource_type": f"Child{kind}", "marked_for_delete": write.delete, kind: body}


def infra_body(writes: Sequence[Write], scope: NsxScope) -> Body:
    """`PATCH /policy/api/v1/infra` body pushing every write in one call.

    A VRF gateway written by the plan is a `ChildTier0` holding its own children; every other gateway is
    a `ChildResourceReference` (left as it is, only its children change). Objects inside a VRF gateway
    that is deleted go with it.
    """
    gateways = {w.place.gateway: w for w in writes if w.place.resource_type == "Tier0"}
    by_gateway: dict[str, list[Write]] = {}
    for write in writes:
        if write.place.resource_type != "Tier0":
            by_gateway.setdefault(write.place.gateway, [])
            if not (write.place.gateway in gateways and gateways[write.place.gateway].delete):
                by_gateway[write.place.gateway].append(write)
    for name in gateways:
        by_gateway.setdefault(name, [])
    return {"resource_type": "Infra", "children": [_gateway_node(name, gateways.get(name), members, scope)
                                                   for name, members in sorted(by_gateway.items())]}


def _gateway_node(name: str, own: Write | None, members: list[Write], scope: NsxScope) -> Body:
    children = [child(w) for w in members if not w.place.bgp]
    neighbors = [child(w) for w in members if w.place.bgp]
    bgp: Body
    if neighbors and own is not None and not own.delete:  # a new VRF gateway: its locale service and BGP too
        bgp = {"resource_type": "ChildBgpRoutingConfig",
               "BgpRoutingConfig": {"resource_type": "BgpRoutingConfig", "id": "bgp", "tags": [scope.owner_tag],
                                    "children": neighbors}}
        children.append({"resource_type": "ChildLocaleServices", "LocaleServices": {
            "resource_type": "LocaleServices", "id": scope.locale_service, "tags": [scope.owner_tag],
            "children": [bgp]}})
    elif neighbors:  # existing ones are references: NSX leaves them as they are
        bgp = {"resource_type": "ChildResourceReference", "id": "bgp", "target_type": "BgpRoutingConfig",
               "children": neighbors}
        children.append({"resource_type": "ChildResourceReference", "id": scope.locale_service,
                         "target_type": "LocaleServices", "children": [bgp]})
    if own is None:
        return {"resource_type": "ChildResourceReference", "id": name, "target_type": "Tier0", "children": children}
    node = child(own)
    if not own.delete:
        node["Tier0"] = {**node["Tier0"], "children": children}
    return node


def native_lines(write: Write, scope: NsxScope) -> tuple[str, ...]:
    """What a change sends, for the plan report: the object's path and its `Child<Type>` entry."""
    verb = "delete" if write.delete else "patch"
    return (f"{verb} {write.place.path(scope)}", json.dumps(child(write), sort_keys=True, separators=(",", ":")))

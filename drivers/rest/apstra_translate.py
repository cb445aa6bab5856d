"""Pure translation between fabric-intent objects and Juniper Apstra blueprint objects (no I/O).

One inventory switch is one Apstra blueprint. Its objects, all written to the staging blueprint:

* `Vrf` -> a routing zone (`security-zones`, `sz_type: evpn`, label and `vrf_name` = the VRF name);
* `PrefixList` -> a routing policy (`routing-policies`, `import_policy: extra_only`, one
  `extra_import_routes` entry per prefix-list entry, in seq order);
* `StaticRoute` -> a connectivity template: a `batch` holding one `AttachCustomStaticRoute`
  (`network`, `next_hop`, `security_zone`);
* `BgpPeering` -> a connectivity template: a `batch` holding `AttachIpEndpointWithBgpNsxt` (neighbour
  address, `asn`, `local_asn`) and `AttachExistingRoutingPolicy` (the prefix list's routing policy).

Ownership: every object carries the tag `fabric-intent:<cluster>`. Connectivity-template ids are
derived from the intent key (uuid5), so a template removed and put back keeps its id.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from drivers.rest.refusals import refuse_bgp_password, refuse_sequence_numbers
from intent.errors import DriverError
from intent.model import OWNER, BgpPeering, DeviceObject, PrefixList, PrefixListEntry, StaticRoute, Vrf, ip_text

DEFAULT_VRF = "default"
ROUTE_TAG = "route-tag:"
MAX_PREFIX_TAG = "max-prefix:"
_NAMESPACE = uuid.UUID("4f0c7d6e-9a51-5b7e-8f1e-6b7a1c2d3e4f")
Body = dict[str, Any]


class ApstraScope(BaseModel):
    """One blueprint and the tag that marks fabric-intent's objects in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    blueprint: str
    cluster: str

    @property
    def owner_tag(self) -> str:
        return f"{OWNER}:{self.cluster}"

    def owns(self, body: Mapping[str, Any]) -> bool:
        return self.owner_tag in (body.get("tags") or [])


def template_id(key: str, part: str = "batch") -> str:
    """A stable connectivity-template (or primitive) id for one intent object."""
    return str(uuid.uuid5(_NAMESPACE, f"{key}#{part}"))


def tag_value(tags: Iterable[str], prefix: str) -> str | None:
    return next((t.removeprefix(prefix) for t in tags if t.startswith(prefix)), None)


# -- intent -> Apstra ------------------------------------------------------------------------------
def zone_body(vrf: Vrf, scope: ApstraScope) -> Body:
    return {"sz_type": "evpn", "label": vrf.name, "vrf_name": vrf.name, "tags": [scope.owner_tag]}


def policy_body(prefix_list: PrefixList, scope: ApstraScope) -> Body:
    return {"label": prefix_list.name, "description": f"{OWNER} prefix-list {prefix_list.name}",
            "policy_type": "user_defined", "import_policy": "extra_only",
            "extra_import_routes": [_import_route(e) for e in prefix_list.entries], "tags": [scope.owner_tag]}


def _import_route(entry: PrefixListEntry) -> Body:
    return {"prefix": ip_text(entry.prefix), "ge_mask": None, "le_mask": entry.le, "action": entry.action}


def template_policies(obj: StaticRoute | BgpPeering, scope: ApstraScope, zone_id: str,
                      policy_id: str | None = None) -> list[Body]:
    """The `obj-policy-import` policies of one connectivity template: the visible batch, then its primitives."""
    batch = template_id(obj.key)
    if isinstance(obj, StaticRoute):
        label = f"FI {ip_text(obj.prefix)} via {ip_text(obj.next_hop)}"
        tags = [scope.owner_tag, f"{ROUTE_TAG}{obj.tag}"]
        primitives = [_primitive(obj.key, "AttachCustomStaticRoute", {
            "network": ip_text(obj.prefix), "next_hop": ip_text(obj.next_hop), "security_zone": zone_id})]
    else:
        label = f"FI bgp {ip_text(obj.neighbor)}"
        tags = [scope.owner_tag, f"{MAX_PREFIX_TAG}{obj.max_prefix}"]
        family = "ipv4_addr" if obj.neighbor.version == 4 else "ipv6_addr"
        primitives = [_primitive(obj.key, "AttachIpEndpointWithBgpNsxt", {
            "asn": obj.remote_as, "local_asn": obj.local_as, family: ip_text(obj.neighbor),
            "security_zone": zone_id}),
            _primitive(obj.key, "AttachExistingRoutingPolicy", {"rp_to_attach": policy_id})]
    head: Body = {"id": batch, "label": label, "description": getattr(obj, "description", ""), "tags": tags,
                  "visible": True, "policy_type_name": "batch",
                  "attributes": {"subpolicies": [p["id"] for p in primitives]}}
    return [head, *primitives]


def _primitive(key: str, kind: str, attributes: Body) -> Body:
    return {"id": template_id(key, kind), "label": kind, "description": "", "tags": [], "visible": False,
            "policy_type_name": kind, "attributes": attributes}


# -- Apstra -> intent ------------------------------------------------------------------------------
def vrf_from_zone(zone: Mapping[str, Any], scope: ApstraScope) -> Vrf:
    return Vrf(device=scope.device, name=str(zone["vrf_name"]))


def prefix_list_from_policy(policy: Mapping[str, Any], scope: ApstraScope) -> PrefixList:
    entries = [PrefixListEntry(seq=10 * (i + 1), action=r.get("action", "permit"), prefix=r["prefix"],
                               le=r.get("le_mask"))
               for i, r in enumerate(policy.get("extra_import_routes") or [])]
    return PrefixList(device=scope.device, name=str(policy["label"]), entries=tuple(entries))


def object_from_template(batch: Mapping[str, Any], primitives: Mapping[str, Mapping[str, Any]], vrfs: Mapping[str, str],
                         policies: Mapping[str, str], scope: ApstraScope) -> StaticRoute | BgpPeering:
    """The route or BGP peering one owned template stands for; `vrfs`/`policies` map ids to names."""
    parts = {p["policy_type_name"]: p["attributes"] for i in batch["attributes"]["subpolicies"]
             if (p := primitives.get(i)) is not None}
    tags = batch.get("tags") or []
    if "AttachCustomStaticRoute" in parts:
        route = parts["AttachCustomStaticRoute"]
        return StaticRoute(device=scope.device, vrf=_name(vrfs, route["security_zone"], "routing zone", scope),
                           prefix=route["network"], next_hop=route["next_hop"],
                           tag=int(tag_value(tags, ROUTE_TAG) or 0))
    if "AttachIpEndpointWithBgpNsxt" in parts:
        peer = parts["AttachIpEndpointWithBgpNsxt"]
        policy = (parts.get("AttachExistingRoutingPolicy") or {}).get("rp_to_attach")
        return BgpPeering(device=scope.device, vrf=_name(vrfs, peer["security_zone"], "routing zone", scope),
                          neighbor=peer.get("ipv4_addr") or peer["ipv6_addr"], remote_as=int(peer["asn"]),
                          local_as=peer.get("local_asn"), description=str(batch.get("description", "")),
                          prefix_list=_name(policies, policy, "routing policy", scope),
                          max_prefix=int(tag_value(tags, MAX_PREFIX_TAG) or 0))
    raise DriverError(f"{scope.device}: owned connectivity template {batch.get('label')!r} ({batch.get('id')}) "
                      f"holds none of the primitives fabric-intent writes")


def _name(names: Mapping[str, str], ident: Any, what: str, scope: ApstraScope) -> str:
    if ident not in names:
        raise DriverError(f"{scope.device}: an owned connectivity template refers to {what} {ident!r}, "
                          f"which blueprint {scope.blueprint} does not hold")
    return names[ident]


def check_supported(obj: DeviceObject, scope: ApstraScope) -> None:
    """Refuse what Apstra cannot hold as asked (an authenticated session, renumbered prefix-list entries)."""
    refuse_bgp_password(obj, scope.device, "apstra")
    refuse_sequence_numbers(obj, scope.device, "Apstra routing policies")


def revision_of(objects: Iterable[Mapping[str, Any]]) -> str:
    """A revision over the content of every object read, owned or not; server-chosen ids are left out
    (they are replaced by the names they point at), so objects put back as they were give the same revision."""
    marks = sorted(json.dumps(o, sort_keys=True, default=str) for o in objects)
    return hashlib.sha256(json.dumps(marks).encode()).hexdigest()


def plain(body: Mapping[str, Any], names: Mapping[str, str]) -> Body:
    """`body` with server ids dropped and references to zones or policies replaced by their names."""
    out: Body = {}
    for key, value in body.items():
        if key == "id":
            continue
        if isinstance(value, Mapping):
            out[key] = plain(value, names)
        elif isinstance(value, str) and key in ("security_zone", "rp_to_attach"):
            out[key] = names.get(value, value)
        else:
            out[key] = value
    return out

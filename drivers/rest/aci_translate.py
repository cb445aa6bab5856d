"""Intent objects <-> APIC managed objects (MOs), without I/O.

Where each realized intent object lives (tenant `T`, the L3Out `L` that carries the VRF, its
node profile `NP`, the leaf's node attachment `A = uni/tn-T/out-L/lnodep-NP/rsnodeL3OutAtt-[topology/pod-P/node-N]`):

* `Vrf` -> `tagAnnotation` `A/annotationKey-[fabric-intent:vrf]` (the leaf takes part in the VRF's L3Out);
* `StaticRoute` -> `ipRouteP` `A/rt-[prefix]` with `ipNexthopP` `nh-[next hop]` (tag kept in `descr`);
* `BgpPeering` -> node-level (loopback) peer `bgpPeerP` `uni/tn-T/out-L/lnodep-NP/peerP-[neighbor]` with
  `bgpAsP`, `bgpLocalAsnP`, a per-peer `bgpPeerPfxPol` (maximum prefixes) and `bgpRsPeerToProfile`
  (import route control); the node profile must hold this leaf alone;
* `PrefixList` -> match rule `rtctrlSubjP` `uni/tn-T/subj-<name>.<leaf>` with one `rtctrlMatchRtDest`
  per entry (seq kept in `descr`), and route-control profile `rtctrlProfile` `uni/tn-T/prof-<name>.<leaf>`.

Every MO fabric-intent creates carries `annotation="orchestrator:fabric-intent"`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from intent.errors import DriverError
from intent.model import BgpPeering, DeviceObject, PrefixList, PrefixListEntry, StaticRoute, Vrf, ip_text
from intent.plan import Change

ANNOTATION = "orchestrator:fabric-intent"
VRF_TAG = "fabric-intent:vrf"
UPSERT = "created,modified"
DELETED = "deleted"
TAG_PREFIX = "fabric-intent tag "
SEQ_PREFIX = "seq "
Mo = dict[str, Any]  # {"<class>": {"attributes": {...}, "children": [...]}}


class Placement(BaseModel):
    """Where one leaf's objects live on the APIC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    tenant: str
    l3outs: dict[str, str]  # intent VRF name -> L3Out name
    node_profile: str
    pod: int
    node_id: int
    profile_shared_with: tuple[str, ...] = ()  # other leaves whose node profile is this one's
    policy_l3out: str | None = None  # the L3Out holding the external EPGs, when the leaf enforces policy

    @property
    def tenant_dn(self) -> str:
        return f"uni/tn-{self.tenant}"

    def l3out(self, vrf: str) -> str:
        if vrf not in self.l3outs:
            raise DriverError(f"{self.device}: VRF {vrf!r} has no L3Out in the aci settings (l3out / l3outs)")
        return self.l3outs[vrf]

    def profile_dn(self, vrf: str) -> str:
        return f"{self.tenant_dn}/out-{self.l3out(vrf)}/lnodep-{self.node_profile}"

    def node_dn(self, vrf: str) -> str:
        return f"{self.profile_dn(vrf)}/rsnodeL3OutAtt-[topology/pod-{self.pod}/node-{self.node_id}]"

    def list_name(self, name: str) -> str:
        return f"{name}.{self.device}"

    def pfx_pol_name(self, neighbor: str) -> str:
        return f"FI-maxpfx.{self.device}.{neighbor}"


def mo(cls: str, attributes: Mapping[str, str], children: list[Mo] | None = None) -> Mo:
    body: dict[str, Any] = {"attributes": dict(attributes)}
    if children:
        body["children"] = children
    return {cls: body}


def owned(attributes: Mapping[str, str], status: str = UPSERT) -> dict[str, str]:
    return {**attributes, "annotation": ANNOTATION, "status": status}


def line(payload: Mo) -> str:
    """One native line for the report: the MO as compact JSON."""
    return json.dumps(payload, separators=(",", ":"))


# -- rendering ---------------------------------------------------------------------------------

def render(change: Change, where: Placement, *, keep_route: bool = False) -> list[Mo]:
    """The MOs (each with its full dn) that make one change; `keep_route` keeps a route other next hops use."""
    before, after = change.before, change.after
    if change.action == "delete":
        assert before is not None
        return delete(before, where, keep_route=keep_route)
    assert after is not None
    if before is not None and getattr(before, "vrf", None) != getattr(after, "vrf", None):
        return delete(before, where) + upsert(after, where, before)
    return upsert(after, where, before)


def upsert(obj: DeviceObject, where: Placement, before: DeviceObject | None = None) -> list[Mo]:
    if isinstance(obj, Vrf):
        return [mo("tagAnnotation", {"dn": f"{where.node_dn(obj.name)}/annotationKey-[{VRF_TAG}]",
                                     "key": VRF_TAG, "value": obj.name, "status": UPSERT})]
    if isinstance(obj, StaticRoute):
        return [_route(obj, where)]
    if isinstance(obj, BgpPeering):
        return _peer(obj, where, before if isinstance(before, BgpPeering) else None)
    if isinstance(obj, PrefixList):
        return _prefix_list(obj, where, before if isinstance(before, PrefixList) else None)
    raise DriverError(f"{where.device}: the aci driver cannot configure {obj.kind}")


def delete(obj: DeviceObject, where: Placement, *, keep_route: bool = False) -> list[Mo]:
    if isinstance(obj, Vrf):
        return [mo("tagAnnotation", {"dn": f"{where.node_dn(obj.name)}/annotationKey-[{VRF_TAG}]", "status": DELETED})]
    if isinstance(obj, StaticRoute):
        dn = route_dn(obj, where)
        if keep_route:
            return [mo("ipNexthopP", {"dn": f"{dn}/nh-[{ip_text(obj.next_hop)}]", "status": DELETED})]
        return [mo("ipRouteP", {"dn": dn, "status": DELETED})]
    if isinstance(obj, BgpPeering):
        return [mo("bgpPeerP", {"dn": peer_dn(obj, where), "status": DELETED}),
                mo("bgpPeerPfxPol", {"dn": pfx_pol_dn(obj, where), "status": DELETED})]
    if isinstance(obj, PrefixList):
        name = where.list_name(obj.name)
        return [mo("rtctrlProfile", {"dn": f"{where.tenant_dn}/prof-{name}", "status": DELETED}),
                mo("rtctrlSubjP", {"dn": f"{where.tenant_dn}/subj-{name}", "status": DELETED})]
    raise DriverError(f"{where.device}: the aci driver cannot configure {obj.kind}")


def route_dn(route: StaticRoute, where: Placement) -> str:
    return f"{where.node_dn(route.vrf)}/rt-[{ip_text(route.prefix)}]"


def peer_dn(peer: BgpPeering, where: Placement) -> str:
    return f"{where.profile_dn(peer.vrf)}/peerP-[{ip_text(peer.neighbor)}]"


def pfx_pol_dn(peer: BgpPeering, where: Placement) -> str:
    return f"{where.tenant_dn}/bgpPfxP-{where.pfx_pol_name(ip_text(peer.neighbor))}"


def _route(route: StaticRoute, where: Placement) -> Mo:
    hop = mo("ipNexthopP", owned({"nhAddr": ip_text(route.next_hop), "pref": "unspecified"}))
    return mo("ipRouteP", owned({"dn": route_dn(route, where), "ip": ip_text(route.prefix), "pref": "1",
                                 "descr": f"{TAG_PREFIX}{route.tag}"}), [hop])


def _peer(peer: BgpPeering, where: Placement, before: BgpPeering | None) -> list[Mo]:
    if peer.authenticated:
        raise DriverError(f"{where.device}: bgp neighbor {ip_text(peer.neighbor)} needs a password; the aci "
                          "driver does not configure BGP passwords (APIC never reads them back)")
    if where.profile_shared_with:
        raise DriverError(f"{where.device}: bgp neighbor {ip_text(peer.neighbor)} would live on node profile "
                          f"{where.node_profile}, which {', '.join(where.profile_shared_with)} share(s); give each "
                          "leaf its own node_profile (switch options) for BGP peers")
    neighbor = ip_text(peer.neighbor)
    children = [mo("bgpAsP", owned({"asn": str(peer.remote_as)})),
                mo("bgpRsPeerPfxPol", owned({"tnBgpPeerPfxPolName": where.pfx_pol_name(neighbor)})),
                mo("bgpRsPeerToProfile", owned({"direction": "import",
                                                "tDn": f"{where.tenant_dn}/prof-{where.list_name(peer.prefix_list)}"}))]
    if peer.local_as is not None:
        children.append(mo("bgpLocalAsnP", owned({"localAsn": str(peer.local_as), "asnPropagate": "none"})))
    elif before is not None and before.local_as is not None:
        children.append(mo("bgpLocalAsnP", {"status": DELETED}))
    if before is not None and before.prefix_list != peer.prefix_list:
        children.append(mo("bgpRsPeerToProfile", {"direction": "import", "status": DELETED, "tDn": (
            f"{where.tenant_dn}/prof-{where.list_name(before.prefix_list)}")}))
    policy = mo("bgpPeerPfxPol", owned({"dn": pfx_pol_dn(peer, where), "name": where.pfx_pol_name(neighbor),
                                        "maxPfx": str(peer.max_prefix), "action": "reject"}))
    return [policy, mo("bgpPeerP", owned({"dn": peer_dn(peer, where), "addr": neighbor, "descr": peer.description,
                                          "ctrl": "", "ttl": "2"}), children)]


def _prefix_list(plist: PrefixList, where: Placement, before: PrefixList | None) -> list[Mo]:
    name = where.list_name(plist.name)
    _check_entries(plist, where)
    wanted = {ip_text(e.prefix) for e in plist.entries}
    gone = [mo("rtctrlMatchRtDest", {"ip": ip_text(e.prefix), "status": DELETED})
            for e in (before.entries if before else ()) if ip_text(e.prefix) not in wanted]
    subject = mo("rtctrlSubjP", owned({"dn": f"{where.tenant_dn}/subj-{name}", "name": name}),
                 [_dest(e) for e in plist.entries] + gone)
    if before is not None:
        return [subject]
    link = mo("rtctrlRsCtxPToSubjP", owned({"tnRtctrlSubjPName": name}))
    context = mo("rtctrlCtxP", owned({"name": "permit", "order": "0", "action": "permit"}), [link])
    profile = mo("rtctrlProfile", owned({"dn": f"{where.tenant_dn}/prof-{name}", "name": name, "type": "combinable"}),
                 [context])
    return [subject, profile]


def _dest(entry: PrefixListEntry) -> Mo:
    length = str(entry.le) if entry.le is not None else "0"
    return mo("rtctrlMatchRtDest", owned({"ip": ip_text(entry.prefix), "aggregate": "yes" if entry.le else "no",
                                          "fromPfxLen": "0", "toPfxLen": length, "descr": f"{SEQ_PREFIX}{entry.seq}"}))


def _check_entries(plist: PrefixList, where: Placement) -> None:
    if any(e.action != "permit" for e in plist.entries):
        raise DriverError(f"{where.device}: prefix-list {plist.name} has deny entries; the aci driver maps "
                          "prefix-lists to a permit match rule and cannot express deny")
    prefixes = [ip_text(e.prefix) for e in plist.entries]
    if len(set(prefixes)) != len(prefixes):
        raise DriverError(f"{where.device}: prefix-list {plist.name} lists one prefix twice; an ACI match rule "
                          "holds each prefix once")


# -- reading -----------------------------------------------------------------------------------

def flatten(imdata: list[Mo]) -> dict[str, tuple[str, dict[str, str]]]:
    """dn -> (class, attributes) for every MO of a query-target=subtree answer (children too)."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for item in imdata:
        _flatten_into(out, item, "")
    return out


def _flatten_into(out: dict[str, tuple[str, dict[str, str]]], item: Mo, parent: str) -> None:
    ((cls, body),) = item.items()
    attrs = dict(body.get("attributes", {}))
    dn = attrs.get("dn") or f"{parent}/{attrs.get('rn', '')}"
    out[dn] = (cls, attrs)
    for child in body.get("children", []) or []:
        _flatten_into(out, child, dn)


def is_owned(attrs: Mapping[str, str], cls: str) -> bool:
    return cls == "tagAnnotation" and attrs.get("key") == VRF_TAG or attrs.get("annotation") == ANNOTATION


def parent_dn(dn: str) -> str:
    """The dn without its last rn (brackets may hold slashes); scans from the end, where the last rn is."""
    depth = 0
    for index in range(len(dn) - 1, -1, -1):
        char = dn[index]
        if char == "]":
            depth += 1
        elif char == "[":
            depth -= 1
        elif char == "/" and depth == 0:
            return dn[:index]
    return ""


def bracket(dn: str) -> str:
    match = re.search(r"\[([^\]]*)\]$", dn)
    return match.group(1) if match else ""


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


# -- observed MOs -> intent objects ------------------------------------------------------------

Mos = dict[str, tuple[str, dict[str, str]]]


def read_objects(mos: Mos, where: Placement) -> tuple[list[DeviceObject], frozenset[str]]:
    """The owned intent objects in `mos`, and the keys hand-made MOs occupy."""
    objects: list[DeviceObject] = []
    foreign: set[str] = set()
    kids = children_index(mos)
    for vrf in where.l3outs:
        node = where.node_dn(vrf)
        if f"{node}/annotationKey-[{VRF_TAG}]" in mos:
            objects.append(Vrf(device=where.device, name=vrf))
        for dn, (cls, attrs) in kids.get(node, {}).items():
            if cls == "ipRouteP":
                _read_route(kids, dn, attrs, vrf, where, objects, foreign)
        for dn, (cls, attrs) in kids.get(where.profile_dn(vrf), {}).items():
            if cls == "bgpPeerP":
                _read_peer(mos, kids, dn, attrs, vrf, where, objects, foreign)
    suffix = f".{where.device}"
    for dn, (cls, attrs) in kids.get(where.tenant_dn, {}).items():
        name = attrs.get("name", "")
        if cls == "rtctrlSubjP" and name.endswith(suffix):
            plist = _read_prefix_list(kids, dn, name.removesuffix(suffix), where)
            if is_owned(attrs, cls):
                objects.append(plist)
            else:
                foreign.add(plist.key)
    return objects, frozenset(foreign)


def children_index(mos: Mos) -> dict[str, Mos]:
    """parent dn -> its children, built once per observation."""
    kids: dict[str, Mos] = {}
    for dn, value in mos.items():
        kids.setdefault(parent_dn(dn), {})[dn] = value
    return kids


def _read_route(kids: dict[str, Mos], dn: str, attrs: dict[str, str], vrf: str, where: Placement,
                objects: list[DeviceObject], foreign: set[str]) -> None:
    for hop_dn, (cls, hop) in kids.get(dn, {}).items():
        if cls != "ipNexthopP":
            continue
        try:
            route = StaticRoute(device=where.device, vrf=vrf, prefix=attrs["ip"], next_hop=hop.get("nhAddr")
                                or bracket(hop_dn), tag=_tag(attrs))
        except (KeyError, ValueError) as exc:
            if is_owned(attrs, "ipRouteP"):
                raise DriverError(f"{where.device}: owned static route {dn} is malformed: {exc}") from exc
            route = StaticRoute(device=where.device, vrf=vrf, prefix=bracket(dn), next_hop=bracket(hop_dn), tag=0)
        if is_owned(attrs, "ipRouteP") and is_owned(hop, cls):
            objects.append(route)
        elif not is_owned(attrs, "ipRouteP"):
            foreign.add(route.key)


def _tag(attrs: Mapping[str, str]) -> int:
    descr = attrs.get("descr", "")
    if not descr.startswith(TAG_PREFIX):
        raise ValueError(f"descr {descr!r} does not carry the route tag")
    return int(descr.removeprefix(TAG_PREFIX))


def _read_peer(mos: Mos, kids: dict[str, Mos], dn: str, attrs: dict[str, str], vrf: str, where: Placement,
               objects: list[DeviceObject], foreign: set[str]) -> None:
    neighbor = attrs.get("addr") or bracket(dn)
    if not is_owned(attrs, "bgpPeerP"):
        foreign.add(f"bgp-peering:{where.device}:{ip_text(ip(neighbor))}")
        return
    parts = {cls: a for _, (cls, a) in kids.get(dn, {}).items()}
    try:
        profile = parts["bgpRsPeerToProfile"]["tDn"].removeprefix(f"{where.tenant_dn}/prof-")
        policy = mos[f"{where.tenant_dn}/bgpPfxP-{parts['bgpRsPeerPfxPol']['tnBgpPeerPfxPolName']}"][1]
        local = parts.get("bgpLocalAsnP", {}).get("localAsn")
        objects.append(BgpPeering(
            device=where.device, vrf=vrf, neighbor=neighbor, remote_as=int(parts["bgpAsP"]["asn"]),
            local_as=int(local) if local else None, description=attrs.get("descr", ""),
            prefix_list=profile.removesuffix(f".{where.device}"), max_prefix=int(policy["maxPfx"])))
    except (KeyError, ValueError) as exc:
        raise DriverError(f"{where.device}: owned bgp peer {dn} is malformed: missing or bad {exc}") from exc


def _read_prefix_list(kids: dict[str, Mos], dn: str, name: str, where: Placement) -> PrefixList:
    entries = []
    for dest_dn, (cls, attrs) in kids.get(dn, {}).items():
        if cls != "rtctrlMatchRtDest":
            continue
        try:
            seq = int(attrs.get("descr", "").removeprefix(SEQ_PREFIX))
            le = int(attrs["toPfxLen"]) if attrs.get("aggregate") == "yes" else None
            entries.append(PrefixListEntry(seq=seq, prefix=attrs.get("ip") or bracket(dest_dn), le=le))
        except (KeyError, ValueError) as exc:
            raise DriverError(f"{where.device}: match rule entry {dest_dn} is malformed: {exc}") from exc
    try:
        return PrefixList(device=where.device, name=name, entries=tuple(entries))
    except ValueError as exc:
        raise DriverError(f"{where.device}: match rule {dn} is not a fabric-intent prefix-list: {exc}") from exc

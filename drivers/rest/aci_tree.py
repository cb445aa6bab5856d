"""Compose rendered MOs into one tenant subtree for a single POST, and check ownership before it is sent."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from drivers.rest.aci_translate import DELETED, Mo, Mos, Placement, bracket, is_owned, parent_dn
from intent.errors import ApplyError
from intent.model import DeviceObject, StaticRoute

# rn prefix -> (class, naming property, value in brackets) for every MO a plan can touch or pass through.
RN_NAMING: dict[str, tuple[str, str, bool]] = {
    "out-": ("l3extOut", "name", False),
    "lnodep-": ("l3extLNodeP", "name", False),
    "rsnodeL3OutAtt-": ("l3extRsNodeL3OutAtt", "tDn", True),
    "rt-": ("ipRouteP", "ip", True),
    "nh-": ("ipNexthopP", "nhAddr", True),
    "peerP-": ("bgpPeerP", "addr", True),
    "annotationKey-": ("tagAnnotation", "key", True),
    "subj-": ("rtctrlSubjP", "name", False),
    "dest-": ("rtctrlMatchRtDest", "ip", True),
    "prof-": ("rtctrlProfile", "name", False),
    "ctx-": ("rtctrlCtxP", "name", False),
    "rsctxPToSubjP-": ("rtctrlRsCtxPToSubjP", "tnRtctrlSubjPName", False),
    "bgpPfxP-": ("bgpPeerPfxPol", "name", False),
    "instP-": ("l3extInstP", "name", False),
    "extsubnet-": ("l3extSubnet", "ip", True),
    "rsprov-": ("fvRsProv", "tnVzBrCPName", False),
    "rscons-": ("fvRsCons", "tnVzBrCPName", False),
    "brc-": ("vzBrCP", "name", False),
    "flt-": ("vzFilter", "name", False),
}
# Classes only ever sent as children (their rn prefix names another class at tenant level, or is too short to look up).
CHILD_RNS: dict[str, tuple[str, str, bool]] = {
    "vzSubj": ("subj-", "name", False),
    "vzRsSubjFiltAtt": ("rssubjFiltAtt-", "tnVzFilterName", False),
    "vzEntry": ("e-", "name", False),
}
FIXED_RNS = {"bgpAsP": "as", "bgpLocalAsnP": "localasn", "bgpRsPeerPfxPol": "rspeerPfxPol"}


def split_dn(dn: str) -> list[str]:
    """`uni/tn-a/out-b/rt-[10.0.0.0/8]` -> `['uni', 'tn-a', 'out-b', 'rt-[10.0.0.0/8]']`."""
    parts: list[str] = []
    while dn:
        parent = parent_dn(dn)
        parts.insert(0, dn[len(parent) + 1:] if parent else dn)
        dn = parent
    return parts


def naming(rn: str) -> tuple[str, dict[str, str]]:
    """The class and naming property of the MO an rn names."""
    for prefix, (cls, prop, in_brackets) in RN_NAMING.items():
        if rn.startswith(prefix):
            value = bracket(rn) if in_brackets else rn.removeprefix(prefix)
            return cls, {prop: value}
    raise ApplyError(f"cannot place {rn!r} in an APIC tree")


def rn_of(cls: str, attrs: dict[str, str]) -> str:
    """The rn of a child MO given by its naming properties."""
    if cls in FIXED_RNS:
        return FIXED_RNS[cls]
    if cls == "bgpRsPeerToProfile":
        return f"rspeerToProfile-[{attrs['tDn']}]-{attrs['direction']}"
    if cls in CHILD_RNS:
        prefix, prop, in_brackets = CHILD_RNS[cls]
        return f"{prefix}[{attrs[prop]}]" if in_brackets else f"{prefix}{attrs[prop]}"
    for prefix, (klass, prop, in_brackets) in RN_NAMING.items():
        if klass == cls:
            return f"{prefix}[{attrs[prop]}]" if in_brackets else f"{prefix}{attrs[prop]}"
    raise ApplyError(f"no rn known for class {cls}")


def nest(mos: Iterable[Mo], tenant_dn: str) -> Mo:
    """One `fvTenant` tree holding every MO at its place; wrappers carry their naming property only."""
    root: Mo = {"fvTenant": {"attributes": {"dn": tenant_dn}, "children": []}}
    index: dict[tuple[int, str, str], dict[str, Any]] = {}  # (id of parent body, class, rn) -> body
    depth = len(split_dn(tenant_dn))
    for item in mos:
        ((cls, body),) = item.items()
        attrs = dict(body["attributes"])
        rns = split_dn(attrs.pop("dn"))[depth:]
        level = root["fvTenant"]
        for rn in rns[:-1]:
            level = _child(index, level, *naming(rn))
        _, own_naming = naming(rns[-1])
        node = _child(index, level, cls, {**own_naming, **attrs})
        node.setdefault("children", []).extend(body.get("children", []))
        if not node["children"]:
            del node["children"]
    return root


def _child(index: dict[tuple[int, str, str], dict[str, Any]], level: dict[str, Any], cls: str,
           attrs: dict[str, str]) -> dict[str, Any]:
    """The child of `level` with this class and naming, added when missing; attributes merged."""
    key = (id(level), cls, rn_of(cls, attrs))
    existing = index.get(key)
    if existing is not None:
        existing["attributes"].update(attrs)
        return existing
    body: dict[str, Any] = {"attributes": dict(attrs)}
    level.setdefault("children", []).append({cls: body})
    index[key] = body
    return body


def check_ownership(mos: Iterable[Mo], observed: Mos, where: Placement) -> None:
    """Refuse, before sending, a write that would change or delete an MO fabric-intent does not own."""
    hand_made = sorted(dn for dn, (cls, attrs) in observed.items() if not is_owned(attrs, cls))
    for item in mos:
        ((cls, body),) = item.items()
        dn = body["attributes"]["dn"]
        _check_attached(dn, observed, where)
        _check(dn, cls, body, observed, hand_made, where)


def _check_attached(dn: str, observed: Mos, where: Placement) -> None:
    """Routes live under the node attachment and peers on its node profile: the attachment must exist."""
    node = next((where.node_dn(v) for v in where.l3outs if dn.startswith(where.profile_dn(v) + "/")), None)
    if node is not None and node not in observed:
        raise ApplyError(f"{where.device}: node {where.node_id} is not attached to {parent_dn(node)}; "
                         "fabric-intent does not create L3Out node attachments, attach the node first")


def _under(dn: str, hand_made: list[str]) -> list[str]:
    """The hand-made dns below `dn` (`hand_made` is sorted, so they are one run)."""
    start = bisect.bisect_left(hand_made, dn + "/")
    end = bisect.bisect_left(hand_made, dn + "0")  # "0" follows "/" in ASCII
    return hand_made[start:end]


def _check(dn: str, cls: str, body: dict[str, Any], observed: Mos, hand_made: list[str], where: Placement) -> None:
    status = body["attributes"].get("status", "")
    held = observed.get(dn)
    if status == DELETED:
        below = _under(dn, hand_made)
        if below or (held is not None and not is_owned(held[1], held[0])):
            raise ApplyError(f"{where.device}: deleting {dn} would remove hand-made configuration "
                             f"({', '.join(below) or dn}); refused, nothing was sent")
        return
    if held is not None and status and not is_owned(held[1], held[0]):
        raise ApplyError(f"{where.device}: {dn} exists and is not owned by fabric-intent; refused, nothing was sent")
    for child in body.get("children", []):
        ((child_cls, child_body),) = child.items()
        _check(f"{dn}/{rn_of(child_cls, child_body['attributes'])}", child_cls, child_body, observed, hand_made, where)


def kept_routes(objects: Iterable[DeviceObject]) -> set[tuple[str, str]]:
    """(vrf, prefix) of every static route in `objects`: an ipRouteP that must stay."""
    return {(o.vrf, str(o.prefix)) for o in objects if isinstance(o, StaticRoute)}

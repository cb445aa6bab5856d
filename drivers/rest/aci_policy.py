"""`AddressGroup` and `PolicyRule` <-> APIC MOs, without I/O.

In the tenant `T` and the L3Out `L` of the inventory's VRF (`Placement.policy_l3out`):

* `AddressGroup` named by an accept -> external EPG `l3extInstP` `uni/tn-T/out-L/instP-<name>` with one
  `l3extSubnet` `extsubnet-[<prefix>]` (scope `import-security`) per member;
* accept `PolicyRule` -> filter `vzFilter` `uni/tn-T/flt-<name>` with entry `e-e1`, contract `vzBrCP`
  `uni/tn-T/brc-<name>` (scope `context`, the stage in `descr`) with subject `subj-fabric-intent` ->
  the filter, provided by the destination's EPG (`fvRsProv` `rsprov-<name>`) and consumed by the
  source's (`fvRsCons` `rscons-<name>`); "any" is the EPG `FI-ANY` (`0.0.0.0/0`, `::/0`);
* drop `PolicyRule`s, and groups only drops name, have no APIC object: ACI is an allow-list, so
  traffic no contract permits is dropped. They are left out of the diff.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

from drivers.policy import aci as payload
from drivers.rest.access import controller_options
from drivers.rest.aci_translate import ANNOTATION, DELETED, UPSERT, Mo, Mos, Placement, bracket, is_owned, mo
from intent.errors import ApplyError, DriverError
from intent.inventory import FabricInventory, Switch
from intent.model import NAME_PREFIX, AddressGroup, DeviceObject, PolicyRule
from intent.plan import Change

POLICY_KINDS = ("address-group", "policy-rule")
L3OUT_CLASSES = "l3extInstP,l3extSubnet,fvRsProv,fvRsCons"
POLICY_CLASSES = {"vzBrCP": "brc-", "vzFilter": "flt-"}  # tenant-level classes, by rn prefix
NO_OBJECT = "no APIC object: ACI is an allow-list, traffic no contract permits is dropped"
MISSING = "(not on the APIC)"  # src/dst of an owned contract whose parts are missing or unreadable
PORT_NAMES = {"ftpData": 20, "ssh": 22, "smtp": 25, "dns": 53, "http": 80, "pop3": 110, "https": 443, "rtsp": 554}
PROTOCOL_OF = {v: k for k, v in payload.PROTOCOLS.items()}
_STAGE = re.compile(r"fabric-intent (ingress|egress) accept")
Relation = tuple[str, str]  # (class, dn)


def policy_l3out(tenant: str, l3outs: dict[str, str], switch: Switch, inventory: FabricInventory) -> str | None:
    """The L3Out holding the external EPGs when the leaf enforces policy; one leaf per tenant may."""
    if switch.name not in inventory.policy.enforce_on:
        return None
    if inventory.vrf not in l3outs:
        raise DriverError(f"{switch.name}: policy needs the L3Out of VRF {inventory.vrf} (aci setting 'l3out')")
    others = [o.name for o in inventory.switches if o.name != switch.name and o.driver == "aci"
              and o.name in inventory.policy.enforce_on and controller_options("aci", o, inventory).get(
                  "tenant") == tenant]
    if others:
        raise DriverError(f"{switch.name}: policy.enforce_on also lists {', '.join(others)} of APIC tenant "
                          f"{tenant}; ACI policy is tenant-wide, list one leaf per tenant")
    return l3outs[inventory.vrf]


def out_dn(where: Placement) -> str:
    if where.policy_l3out is None:
        raise DriverError(f"{where.device}: received policy objects but is not listed in policy.enforce_on")
    return f"{where.tenant_dn}/out-{where.policy_l3out}"


def epg_dn(where: Placement, name: str) -> str:
    return f"{out_dn(where)}/instP-{name}"


def contract_dn(where: Placement, name: str) -> str:
    return f"{where.tenant_dn}/brc-{name}"


def filter_dn(where: Placement, name: str) -> str:
    return f"{where.tenant_dn}/flt-{name}"


# -- what the APIC holds of the desired policy --------------------------------------------------

def held_form(group: AddressGroup) -> AddressGroup:
    """The group as the APIC holds it: host prefixes as addresses, members sorted, `descr` alphabet."""
    hosts = [p.network_address for p in group.prefixes if p.prefixlen == p.max_prefixlen]
    addresses = tuple(sorted({*group.addresses, *hosts}, key=lambda a: (a.version, int(a))))
    prefixes = tuple(sorted((p for p in group.prefixes if p.prefixlen != p.max_prefixlen),
                            key=lambda p: (p.version, int(p.network_address), p.prefixlen)))
    description = payload.apic_descr(group.description)
    if (addresses, prefixes, description) == (group.addresses, group.prefixes, group.description):
        return group
    return group.model_copy(update={"addresses": addresses, "prefixes": prefixes, "description": description})


def apic_share(wanted: Mapping[str, DeviceObject]) -> dict[str, DeviceObject]:
    """The desired objects the APIC holds: no drops, no group only drops name; refuses shared addresses."""
    rules = [o for o in wanted.values() if isinstance(o, PolicyRule)]
    if not rules and not any(isinstance(o, AddressGroup) for o in wanted.values()):
        return dict(wanted)
    used = payload.accept_groups(rules)
    out: dict[str, DeviceObject] = {}
    for key, obj in wanted.items():
        if isinstance(obj, PolicyRule) and obj.action == "drop" or isinstance(obj, AddressGroup) and (
                obj.name not in used):
            continue
        out[key] = held_form(obj) if isinstance(obj, AddressGroup) else obj
    groups = [o for o in out.values() if isinstance(o, AddressGroup)]
    payload.check_overlaps(groups, any(payload.names_any(r) for r in rules))
    return out


def keeps_any(objects: Iterable[DeviceObject]) -> bool:
    """Whether an accept in `objects` names "any": the `FI-ANY` EPG must stay."""
    return any(isinstance(o, PolicyRule) and payload.names_any(o) for o in objects)


# -- rendering ----------------------------------------------------------------------------------

def _staged(item: Mo, dn: str | None = None) -> Mo:
    """A renderer MO (tree) with `status` created,modified on every MO, and its dn at the top."""
    ((cls, body),) = item.items()
    attrs = {**({"dn": dn} if dn else {}), **body["attributes"], "status": UPSERT}
    return mo(cls, attrs, [_staged(child) for child in body.get("children", [])])


def render_policy(change: Change, where: Placement, *, keep_any: bool) -> list[Mo]:
    """The MOs of one address-group or policy-rule change; none for a drop."""
    before, after = change.before, change.after
    if isinstance(after or before, AddressGroup):
        return _group(before if isinstance(before, AddressGroup) else None,
                      after if isinstance(after, AddressGroup) else None, where)
    rules = [o if isinstance(o, PolicyRule) else None for o in (before, after)]
    if any(r is not None and r.action == "drop" for r in rules):
        return []
    return _rule(rules[0], rules[1], where, keep_any)


def _group(before: AddressGroup | None, after: AddressGroup | None, where: Placement) -> list[Mo]:
    """Create: the EPG with its subnets. Update: only the subnets that come and go (and `descr`)."""
    if after is None:
        assert before is not None
        return [mo("l3extInstP", {"dn": epg_dn(where, before.name), "status": DELETED})]
    old = set(payload.subnets(before)) if before else set()
    new = payload.subnets(after)
    kids = [_staged(payload.subnet(p)) for p in new if p not in old]
    kids += [mo("l3extSubnet", {"ip": p, "status": DELETED}) for p in sorted(old - set(new))]
    attrs = {"dn": epg_dn(where, after.name), "name": after.name}
    if before is None or before.description != after.description:
        attrs |= {"descr": after.description, "annotation": ANNOTATION, "status": UPSERT}
    return [mo("l3extInstP", attrs, kids)]


def _relations(rule: PolicyRule, where: Placement) -> list[Relation]:
    """Where the contract is provided (the destination's EPG) and consumed (the source's)."""
    ends = [("fvRsProv", rule.dst, "rsprov"), ("fvRsCons", rule.src, "rscons")]
    return [(cls, f"{epg_dn(where, group or payload.ANY_EPG)}/{rn}-{rule.name}")
            for cls, group, rn in ends if group != MISSING]


def _rule(before: PolicyRule | None, after: PolicyRule | None, where: Placement, keep_any: bool) -> list[Mo]:
    if after is None:
        assert before is not None
        mos = [mo("vzBrCP", {"dn": contract_dn(where, before.name), "status": DELETED}),
               mo("vzFilter", {"dn": filter_dn(where, before.name), "status": DELETED})]
        mos += [mo(cls, {"dn": dn, "status": DELETED}) for cls, dn in _relations(before, where)]
        if payload.names_any(before) and not keep_any:
            mos.append(mo("l3extInstP", {"dn": epg_dn(where, payload.ANY_EPG), "status": DELETED}))
        return mos
    mos = [_staged(payload.filter_mo(after), filter_dn(where, after.name)),
           _staged(payload.contract_mo(after), contract_dn(where, after.name))]
    if payload.names_any(after):
        mos.append(_staged(payload.any_epg(), epg_dn(where, payload.ANY_EPG)))
    wanted = _relations(after, where)
    mos += [_staged(payload.relation(cls, after), dn) for cls, dn in wanted]
    stale = [r for r in (_relations(before, where) if before else []) if r not in wanted]
    return mos + [mo(cls, {"dn": dn, "status": DELETED}) for cls, dn in stale]


def check_contract_users(mos: Iterable[Mo], observed: Mos, where: Placement) -> None:
    """Refuse deleting a contract that a hand-made EPG provides or consumes."""
    users: dict[str, list[str]] = {}
    for dn, (cls, attrs) in observed.items():
        if cls in ("fvRsProv", "fvRsCons") and not is_owned(attrs, cls):
            users.setdefault(attrs.get("tnVzBrCPName", ""), []).append(dn)
    for item in mos:
        ((cls, body),) = item.items()
        attrs = body["attributes"]
        name = attrs.get("dn", "").removeprefix(f"{where.tenant_dn}/brc-")
        if cls == "vzBrCP" and attrs.get("status") == DELETED and users.get(name):
            raise ApplyError(f"{where.device}: deleting contract {name} would break hand-made configuration that "
                             f"uses it ({', '.join(sorted(users[name]))}); refused, nothing was sent")


# -- reading ------------------------------------------------------------------------------------

def read_policy(kids: dict[str, Mos], where: Placement) -> tuple[list[DeviceObject], set[str]]:
    """The owned external EPGs and contracts as intent objects, and the keys hand-made ones occupy."""
    objects: list[DeviceObject] = []
    foreign: set[str] = set()
    provided: dict[str, str | None] = {}
    consumed: dict[str, str | None] = {}
    for dn, (cls, attrs) in kids.get(out_dn(where), {}).items():
        name = attrs.get("name") or dn.rsplit("/instP-", 1)[-1]
        if cls != "l3extInstP" or not name.startswith(NAME_PREFIX):
            continue
        if not is_owned(attrs, cls):
            foreign.add(f"address-group:{where.device}:{name}")
            continue
        _read_relations(kids.get(dn, {}), None if name == payload.ANY_EPG else name, provided, consumed)
        if name != payload.ANY_EPG:
            objects.append(_read_group(kids.get(dn, {}), name, attrs, where))
    for _, (cls, attrs) in kids.get(where.tenant_dn, {}).items():
        name = attrs.get("name", "")
        if cls != "vzBrCP" or not name.startswith(NAME_PREFIX):
            continue
        if not is_owned(attrs, cls):
            foreign.add(f"policy-rule:{where.device}:{name}")
            continue
        objects.append(_read_rule(kids, name, attrs, where, provided.get(name, MISSING), consumed.get(name, MISSING)))
    return objects, foreign


def _read_relations(children: Mos, group: str | None, provided: dict[str, str | None],
                    consumed: dict[str, str | None]) -> None:
    for _, (cls, attrs) in children.items():
        if cls in ("fvRsProv", "fvRsCons") and is_owned(attrs, cls):
            (provided if cls == "fvRsProv" else consumed)[attrs.get("tnVzBrCPName", "")] = group


def _read_group(children: Mos, name: str, attrs: dict[str, str], where: Placement) -> AddressGroup:
    addresses, prefixes = [], []
    for dn, (cls, sub) in children.items():
        if cls != "l3extSubnet" or not is_owned(sub, cls):
            continue
        try:
            prefix = ipaddress.ip_network(sub.get("ip") or bracket(dn))
        except ValueError as exc:
            raise DriverError(f"{where.device}: owned external EPG subnet {dn} is malformed: {exc}") from exc
        if prefix.prefixlen == prefix.max_prefixlen:
            addresses.append(prefix.network_address)
        else:
            prefixes.append(prefix)
    return held_form(AddressGroup(device=where.device, name=name, description=attrs.get("descr", ""),
                                  addresses=tuple(addresses), prefixes=tuple(prefixes)))


def _read_rule(kids: dict[str, Mos], name: str, attrs: dict[str, str], where: Placement, dst: str | None,
               src: str | None) -> PolicyRule:
    """The accept a contract stands for; parts missing or unreadable read as MISSING ends, so the next
    plan writes the whole contract again (or deletes it)."""
    stage = _STAGE.fullmatch(attrs.get("descr", ""))
    service = _read_entry(kids, name, where)
    subject = kids.get(f"{contract_dn(where, name)}/subj-{payload.SUBJECT}", {})
    linked = any(c == "vzRsSubjFiltAtt" and a.get("tnVzFilterName") == name for c, a in subject.values())
    if stage is None or service is None or not linked:
        src = dst = MISSING
    protocol, ports = service or (None, None)
    return PolicyRule.model_validate({"device": where.device, "name": name, "stage": stage.group(1) if stage else
                                      "ingress", "action": "accept", "src": src, "dst": dst, "protocol": protocol,
                                      "ports": ports})


def _read_entry(kids: dict[str, Mos], name: str, where: Placement) -> tuple[str | None, tuple[int, int] | None] | None:
    """(protocol, ports) of the contract's filter entry; None when it is missing or not what fabric-intent writes."""
    flt = filter_dn(where, name)
    entry = kids.get(where.tenant_dn, {}).get(flt), kids.get(flt, {}).get(f"{flt}/e-{payload.ENTRY}")
    if entry[0] is None or entry[1] is None or not is_owned(entry[0][1], "vzFilter"):
        return None
    attrs = entry[1][1]
    if attrs.get("prot") not in PROTOCOL_OF or attrs.get("etherT") != "ip":
        return None
    try:
        first, last = _port(attrs.get("dFromPort", "unspecified")), _port(attrs.get("dToPort", "unspecified"))
    except ValueError:
        return None
    if (first is None) != (last is None):
        return None
    return PROTOCOL_OF[attrs["prot"]], None if first is None or last is None else (first, last)


def _port(text: str) -> int | None:
    """An APIC port: a number, `unspecified`, or the name the APIC reports well-known ports by."""
    if text == "unspecified":
        return None
    return PORT_NAMES[text] if text in PORT_NAMES else int(text)

"""Cisco ACI: address groups as external EPGs (`l3extInstP` with `import-security` subnets), accept rules
as contracts (`vzBrCP` / `vzSubj` / `vzFilter` + `vzEntry`), provided by the destination group and
consumed by the source group. One POST of the tenant tree.

ACI is an allow-list and classifies each IP into exactly one external EPG. So: the stage drops
need no object (traffic no contract allows is dropped), but ACI cannot express (1) an IP in two
groups, and (2) the pass-through of pods that no policy isolates, nor the AND of the egress and
ingress stages. The renderer refuses (1); (2) is documented in docs/policy.md: this payload is
exact only for rule sets whose every isolated pod's peers are in groups of their own.
Every object carries `annotation="orchestrator:fabric-intent"`; descriptions keep to the APIC's
`descr` alphabet (no brackets, quotes or `=`), at most 128 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from drivers.policy.common import RenderError, check_groups, members
from intent.model import OWNER, AddressGroup, PolicyRule

ANNOTATION = f"orchestrator:{OWNER}"
ANY_EPG = "FI-ANY"
ANY_SUBNETS = ("0.0.0.0/0", "::/0")
SUBJECT = "fabric-intent"
ENTRY = "e1"
PROTOCOLS: dict[str | None, str] = {"TCP": "tcp", "UDP": "udp", "SCTP": "132", None: "unspecified"}
_DESCR_SWAP = str.maketrans({"[": "(", "]": ")", "=": ":", "<": "(", ">": ")"})
_DESCR_OTHER = re.compile(r"[^a-zA-Z0-9\\!#$%()*,\-./:;@ _{|}~?&+]")


def apic_descr(text: str) -> str:
    """`text` in the APIC's `descr` alphabet, cut to 128 characters."""
    return _DESCR_OTHER.sub("_", text.translate(_DESCR_SWAP))[:128]


def contract_descr(rule: PolicyRule) -> str:
    """The contract's description; it carries the stage, which the contract itself does not."""
    return f"fabric-intent {rule.stage} accept"


def _mo(cls: str, children: list[dict[str, Any]] | None = None, **attributes: str) -> dict[str, Any]:
    body: dict[str, Any] = {"attributes": {**attributes, "annotation": ANNOTATION}}
    if children:
        body["children"] = children
    return {cls: body}


def subnets(group: AddressGroup) -> list[str]:
    """The group's members as `l3extSubnet` ips (`10.0.0.1/32`), IPv4 first."""
    return members(group, 4) + members(group, 6)


def subnet(prefix: str) -> dict[str, Any]:
    return _mo("l3extSubnet", ip=prefix, scope="import-security")


def entry(rule: PolicyRule) -> dict[str, Any]:
    """The filter entry matching the rule's protocol and destination ports."""
    if rule.protocol == "SCTP" and rule.ports is not None:
        raise RenderError(f"ACI filter entries match ports for TCP and UDP only (rule {rule.name}); refusing")
    first, last = (str(rule.ports[0]), str(rule.ports[1])) if rule.ports else ("unspecified", "unspecified")
    return _mo("vzEntry", name=ENTRY, etherT="ip", prot=PROTOCOLS[rule.protocol],
               dFromPort=first, dToPort=last, stateful="yes" if rule.protocol == "TCP" else "no")


def filter_mo(rule: PolicyRule) -> dict[str, Any]:
    return _mo("vzFilter", [entry(rule)], name=rule.name)


def contract_mo(rule: PolicyRule) -> dict[str, Any]:
    subject = _mo("vzSubj", [_mo("vzRsSubjFiltAtt", tnVzFilterName=rule.name, action="permit")],
                  name=SUBJECT, revFltPorts="yes")
    return _mo("vzBrCP", [subject], name=rule.name, scope="context", descr=contract_descr(rule))


def relation(cls: str, rule: PolicyRule) -> dict[str, Any]:
    """`fvRsProv` (on the destination's EPG) or `fvRsCons` (on the source's) naming the rule's contract."""
    return _mo(cls, tnVzBrCPName=rule.name)


def any_epg() -> dict[str, Any]:
    """`FI-ANY`: every address no other external EPG holds (ACI classifies by longest prefix)."""
    return _mo("l3extInstP", [subnet(p) for p in ANY_SUBNETS], name=ANY_EPG, descr="every address no other group holds")


def accept_groups(rules: Iterable[PolicyRule]) -> set[str]:
    """The groups accepts name: the only ones ACI holds (as external EPGs)."""
    return {g for r in rules if r.action == "accept" for g in (r.src, r.dst) if g is not None}


def names_any(rule: PolicyRule) -> bool:
    return rule.action == "accept" and (rule.src is None or rule.dst is None)


def overlaps(groups: Sequence[AddressGroup], any_epg: bool = False) -> list[str]:
    """Addresses held by two external EPGs (`FI-ANY` counted when `any_epg`)."""
    seen: dict[str, str] = dict.fromkeys(ANY_SUBNETS, ANY_EPG) if any_epg else {}
    problems = []
    for group in groups:
        for prefix in subnets(group):
            if prefix in seen and seen[prefix] != group.name:
                problems.append(f"{prefix} is in {seen[prefix]} and {group.name}")
            seen.setdefault(prefix, group.name)
    return problems


def check_overlaps(groups: Sequence[AddressGroup], any_epg: bool = False) -> None:
    problems = overlaps(groups, any_epg)
    if problems:
        raise RenderError("ACI classifies an IP into one external EPG only, but " + "; ".join(problems[:5]))


def render_aci(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule], tenant: str, l3out: str) -> dict[str, Any]:
    """The `fvTenant` tree to POST at `/api/mo/uni/tn-<tenant>.json`."""
    check_groups(groups, rules)
    accepts = [r for r in rules if r.action == "accept"]
    used = accept_groups(accepts)
    mine = [g for g in sorted(groups, key=lambda g: g.name) if g.name in used]
    check_overlaps(mine, any(names_any(r) for r in accepts))
    relations: dict[str, list[dict[str, Any]]] = {g.name: [] for g in mine}
    relations[ANY_EPG] = []
    for rule in accepts:
        relations[rule.dst or ANY_EPG].append(relation("fvRsProv", rule))
        relations[rule.src or ANY_EPG].append(relation("fvRsCons", rule))
    epgs = [_mo("l3extInstP", [subnet(p) for p in subnets(g)] + relations[g.name],
                name=g.name, descr=apic_descr(g.description)) for g in mine]
    if relations[ANY_EPG]:
        (body,) = any_epg().values()
        body["children"] += relations[ANY_EPG]
        epgs.append({"l3extInstP": body})
    out = {"l3extOut": {"attributes": {"name": l3out}, "children": epgs}}  # the L3Out is not ours: no annotation
    children = [out] + [mo for r in accepts for mo in (filter_mo(r), contract_mo(r))]
    return {"fvTenant": {"attributes": {"dn": f"uni/tn-{tenant}", "name": tenant}, "children": children}}

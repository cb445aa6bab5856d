"""Cisco ACI: address groups as external EPGs (`l3extInstP` with `import-security` subnets), accept rules
as contracts (`vzBrCP` / `vzSubj` / `vzFilter` + `vzEntry`), provided by the destination group and
consumed by the source group. One POST of the tenant tree.

ACI is an allow-list and classifies each IP into exactly one external EPG. So: the stage drops
need no object (traffic no contract allows is dropped), but ACI cannot express (1) an IP in two
groups, and (2) the pass-through of pods that no policy isolates, nor the AND of the egress and
ingress stages. The renderer refuses (1); (2) is documented in docs/policy.md: this payload is
exact only for rule sets whose every isolated pod's peers are in groups of their own.
Every object carries `annotation="orchestrator:fabric-intent"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drivers.policy.common import RenderError, check_groups, members
from intent.model import OWNER, AddressGroup, PolicyRule

ANNOTATION = f"orchestrator:{OWNER}"
ANY_EPG = "FI-ANY"


def _mo(cls: str, children: list[dict[str, Any]] | None = None, **attributes: str) -> dict[str, Any]:
    body: dict[str, Any] = {"attributes": {**attributes, "annotation": ANNOTATION}}
    if children:
        body["children"] = children
    return {cls: body}


def _entry(rule: PolicyRule) -> dict[str, Any]:
    protocol = {"TCP": "tcp", "UDP": "udp", "SCTP": "132", None: "unspecified"}[rule.protocol]
    first, last = (str(rule.ports[0]), str(rule.ports[1])) if rule.ports else ("unspecified", "unspecified")
    if rule.protocol == "SCTP" and rule.ports is not None:
        raise RenderError(f"ACI filter entries match ports for TCP and UDP only (rule {rule.name}); refusing")
    return _mo("vzEntry", name="e1", etherT="ip" if rule.protocol else "unspecified", prot=protocol,
               dFromPort=first, dToPort=last, stateful="yes" if rule.protocol == "TCP" else "no")


def _contract(rule: PolicyRule) -> list[dict[str, Any]]:
    subject = _mo("vzSubj", [_mo("vzRsSubjFiltAtt", tnVzFilterName=rule.name, action="permit")],
                  name="fabric-intent", revFltPorts="yes")
    descr = "; ".join(str(r) for r in rule.provenance)[:128]
    return [_mo("vzFilter", [_entry(rule)], name=rule.name),
            _mo("vzBrCP", [subject], name=rule.name, scope="context", descr=descr)]


def _overlaps(groups: Sequence[AddressGroup]) -> list[str]:
    seen: dict[str, str] = {}
    problems = []
    for group in groups:
        for prefix in members(group, 4) + members(group, 6):
            if prefix in seen and seen[prefix] != group.name:
                problems.append(f"{prefix} is in {seen[prefix]} and {group.name}")
            seen.setdefault(prefix, group.name)
    return problems


def render_aci(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule], tenant: str, l3out: str) -> dict[str, Any]:
    """The `fvTenant` tree to POST at `/api/mo/uni/tn-<tenant>.json`."""
    check_groups(groups, rules)
    accepts = [r for r in rules if r.action == "accept"]
    used = {g for r in accepts for g in (r.src, r.dst) if g is not None}
    mine = [g for g in sorted(groups, key=lambda g: g.name) if g.name in used]
    overlaps = _overlaps(mine)
    if overlaps:
        raise RenderError("ACI classifies an IP into one external EPG only, but " + "; ".join(overlaps[:5]))
    relations: dict[str, list[dict[str, Any]]] = {g.name: [] for g in mine}
    relations[ANY_EPG] = []
    for rule in accepts:
        relations[rule.dst or ANY_EPG].append(_mo("fvRsProv", tnVzBrCPName=rule.name))
        relations[rule.src or ANY_EPG].append(_mo("fvRsCons", tnVzBrCPName=rule.name))
    epgs = [_mo("l3extInstP", [_mo("l3extSubnet", ip=p, scope="import-security")
                               for p in members(g, 4) + members(g, 6)] + relations[g.name],
                name=g.name, descr=g.description[:128]) for g in mine]
    epgs.append(_mo("l3extInstP", [_mo("l3extSubnet", ip="0.0.0.0/0", scope="import-security"),
                                   _mo("l3extSubnet", ip="::/0", scope="import-security")] + relations[ANY_EPG],
                    name=ANY_EPG, descr="every address no other group holds"))
    children = [_mo("l3extOut", epgs, name=l3out)] + [mo for rule in accepts for mo in _contract(rule)]
    return {"fvTenant": {"attributes": {"dn": f"uni/tn-{tenant}", "name": tenant}, "children": children}}

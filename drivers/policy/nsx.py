"""VMware NSX (Policy API): address groups as Groups with an IPAddressExpression, the rule set as one
stateful DFW SecurityPolicy.

Ingress-stage rules are `direction: IN` (evaluated where the packet enters the destination),
egress-stage rules `direction: OUT` (where it leaves the source); the first matching rule in
sequence order decides and the default rule allows, so each stage's drop ends that stage, as
the compiler means it. DFW is stateful: replies need no rule. `PATCH` of the policy with its
rules replaces the whole rule list. NSX service entries match ports for TCP and UDP; an SCTP
rule with ports is refused, an SCTP rule without ports becomes IP protocol 132.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drivers.policy.common import RenderError, check_groups, members, stage_rules
from intent.model import OWNER, AddressGroup, PolicyRule

DOMAIN = "default"


def group_path(name: str, domain: str = DOMAIN) -> str:
    return f"/infra/domains/{domain}/groups/{name}"


def _tags(cluster: str) -> list[dict[str, str]]:
    return [{"scope": OWNER, "tag": cluster}]


def render_group(group: AddressGroup, cluster: str) -> dict[str, Any]:
    """PATCH body for `/infra/domains/default/groups/{group.name}`."""
    addresses = members(group, 4) + members(group, 6)
    expression = [{"resource_type": "IPAddressExpression", "ip_addresses": addresses}] if addresses else []
    return {"resource_type": "Group", "id": group.name, "display_name": group.name,
            "description": group.description, "expression": expression, "tags": _tags(cluster)}


def _service_entries(rule: PolicyRule) -> list[dict[str, Any]]:
    if rule.protocol is None:
        return []
    if rule.protocol == "SCTP":
        if rule.ports is not None:
            raise RenderError(f"NSX service entries cannot match SCTP ports (rule {rule.name}); refusing to render")
        return [{"resource_type": "IPProtocolServiceEntry", "protocol_number": 132}]
    entry: dict[str, Any] = {"resource_type": "L4PortSetServiceEntry", "l4_protocol": rule.protocol}
    if rule.ports is not None:
        first, last = rule.ports
        entry["destination_ports"] = [str(first) if first == last else f"{first}-{last}"]
    return [entry]


def render_rule(rule: PolicyRule, sequence: int) -> dict[str, Any]:
    entries = _service_entries(rule)
    body: dict[str, Any] = {
        "resource_type": "Rule", "id": rule.name, "display_name": rule.name, "sequence_number": sequence,
        "source_groups": [group_path(rule.src)] if rule.src else ["ANY"],
        "destination_groups": [group_path(rule.dst)] if rule.dst else ["ANY"],
        "services": ["ANY"], "action": "ALLOW" if rule.action == "accept" else "DROP",
        "direction": "IN" if rule.stage == "ingress" else "OUT", "logged": False, "disabled": False,
        "notes": "; ".join(str(ref) for ref in rule.provenance)[:2048],
    }
    if entries:
        body["service_entries"] = entries
    return body


def render_policy(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule], cluster: str) -> dict[str, Any]:
    """PATCH body for `/infra/domains/default/security-policies/fabric-intent-<cluster>` (rules embedded)."""
    check_groups(groups, rules)
    ordered = stage_rules(rules, "ingress") + stage_rules(rules, "egress")
    return {"resource_type": "SecurityPolicy", "id": f"{OWNER}-{cluster}", "display_name": f"{OWNER} {cluster}",
            "category": "Application", "stateful": True, "tcp_strict": True, "tags": _tags(cluster),
            "rules": [render_rule(rule, 10 * (i + 1)) for i, rule in enumerate(ordered)]}


def render_nsx(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule], cluster: str) -> list[tuple[str, Any]]:
    """(path, PATCH body) pairs in apply order: groups, then the security policy."""
    policy = render_policy(groups, rules, cluster)
    out: list[tuple[str, Any]] = [(group_path(g.name), render_group(g, cluster)) for g in sorted(
        groups, key=lambda g: g.name)]
    return out + [(f"/infra/domains/{DOMAIN}/security-policies/{policy['id']}", policy)]

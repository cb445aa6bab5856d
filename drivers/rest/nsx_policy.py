"""Pure translation of NetworkPolicy objects to NSX distributed-firewall objects (no I/O).

* `AddressGroup` -> `Group` `/infra/domains/default/groups/<gateway>-<name>` with one
  `IPAddressExpression` (pod addresses and ipBlock prefixes);
* `PolicyRule` -> `Rule` in the security policy `<gateway>-fabric-intent` (category `Application`):
  an ingress rule is `direction: IN` applied to its destination group, an egress rule `direction: OUT`
  applied to its source group, so each stage is judged at its own end; `accept` -> `ALLOW` (sequence
  10), `drop` -> `DROP` (sequence 20), so a stage's accept rules are evaluated before its drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drivers.rest.nsx_translate import Body, NsxScope, Place, Write, child, infra_body, object_id, place_of, to_nsx
from intent.model import AddressGroup, DeviceObject, PolicyRule

DOMAIN = "/infra/domains/default"
PROTOCOL_NUMBERS = {"TCP": 6, "UDP": 17, "SCTP": 132}
_POLICY_KINDS = ("Group", "SecurityPolicy", "Rule")


def is_domain_object(place: Place) -> bool:
    return place.resource_type in _POLICY_KINDS


def group_id(name: str, scope: NsxScope) -> str:
    return object_id(f"{scope.gateway}-{name}")


def place_for(obj: DeviceObject, scope: NsxScope) -> Place:
    """Where fabric-intent creates `obj`, any kind."""
    if isinstance(obj, AddressGroup | PolicyRule):
        return policy_place(obj, scope)
    return place_of(obj, scope)


def body_for(obj: DeviceObject, scope: NsxScope) -> Body:
    """The NSX body of `obj`, any kind."""
    if isinstance(obj, AddressGroup | PolicyRule):
        return policy_to_nsx(obj, scope)
    return to_nsx(obj, scope)


def full_body(writes: Sequence[Write], scope: NsxScope) -> Body:
    """The hierarchical PATCH body: gateways, then domain `default` when the plan touches policy."""
    body = infra_body([w for w in writes if not is_domain_object(w.place)], scope)
    domain = [w for w in writes if is_domain_object(w.place)]
    if domain:
        body["children"].append(domain_node(domain, scope))
    return body


def policy_place(obj: AddressGroup | PolicyRule, scope: NsxScope) -> Place:
    if isinstance(obj, AddressGroup):
        return Place(gateway="", resource_type="Group", id=group_id(obj.name, scope))
    return Place(gateway="", resource_type="Rule", id=object_id(obj.name))


def security_policy_body(scope: NsxScope) -> Body:
    return {"resource_type": "SecurityPolicy", "id": scope.security_policy, "display_name": scope.security_policy,
            "category": "Application", "stateful": True, "tags": [scope.owner_tag]}


def policy_to_nsx(obj: AddressGroup | PolicyRule, scope: NsxScope) -> Body:
    place = policy_place(obj, scope)
    if isinstance(obj, AddressGroup):
        members = [str(a) for a in obj.addresses] + [str(p) for p in obj.prefixes]
        expression = [{"resource_type": "IPAddressExpression", "ip_addresses": members}] if members else []
        return {"resource_type": "Group", "id": place.id, "display_name": obj.name, "description": obj.description,
                "expression": expression, "tags": [scope.owner_tag]}
    applied = obj.dst if obj.stage == "ingress" else obj.src
    body: Body = {"resource_type": "Rule", "id": place.id, "display_name": obj.name,
                  "source_groups": [_group_path(obj.src, scope)], "destination_groups": [_group_path(obj.dst, scope)],
                  "scope": [_group_path(applied, scope)], "direction": "IN" if obj.stage == "ingress" else "OUT",
                  "action": "ALLOW" if obj.action == "accept" else "DROP", "ip_protocol": "IPV4_IPV6",
                  "sequence_number": 10 if obj.action == "accept" else 20, "services": ["ANY"],
                  "tags": [scope.owner_tag]}
    if obj.protocol is not None:
        body["services"] = []
        body["service_entries"] = [_service_entry(obj)]
    return body


def _group_path(name: str | None, scope: NsxScope) -> str:
    return "ANY" if name is None else f"{DOMAIN}/groups/{group_id(name, scope)}"


def _service_entry(rule: PolicyRule) -> Body:
    assert rule.protocol is not None
    if rule.ports is None:
        return {"resource_type": "IPProtocolServiceEntry", "id": "protocol",
                "protocol_number": PROTOCOL_NUMBERS[rule.protocol]}
    first, last = rule.ports
    ports = str(first) if first == last else f"{first}-{last}"
    return {"resource_type": "L4PortSetServiceEntry", "id": "ports", "l4_protocol": rule.protocol,
            "destination_ports": [ports]}


def group_from_nsx(body: Mapping[str, Any], scope: NsxScope) -> AddressGroup:
    members = [m for e in body.get("expression") or [] if e.get("resource_type") == "IPAddressExpression"
               for m in e.get("ip_addresses") or []]
    return AddressGroup(device=scope.device, name=str(body["display_name"]),
                        description=str(body.get("description", "")),
                        addresses=tuple(m for m in members if "/" not in m),  # type: ignore[arg-type]
                        prefixes=tuple(m for m in members if "/" in m))  # type: ignore[arg-type]


def rule_from_nsx(body: Mapping[str, Any], scope: NsxScope, groups: Mapping[str, str]) -> PolicyRule:
    """The rule one owned NSX rule stands for; `groups` maps group paths to intent group names."""
    entry = (body.get("service_entries") or [None])[0]
    protocol, ports = _service_of(entry)
    return PolicyRule(device=scope.device, name=str(body["display_name"]),
                      stage="ingress" if body.get("direction") == "IN" else "egress",
                      action="accept" if body.get("action") == "ALLOW" else "drop",
                      src=_group_name(body.get("source_groups"), groups),
                      dst=_group_name(body.get("destination_groups"), groups),
                      protocol=protocol, ports=ports)  # type: ignore[arg-type]


def _group_name(paths: Sequence[str] | None, groups: Mapping[str, str]) -> str | None:
    path = (paths or ["ANY"])[0]
    return None if path == "ANY" else groups.get(path, path.rsplit("/", 1)[-1])


def _service_of(entry: Mapping[str, Any] | None) -> tuple[str | None, tuple[int, int] | None]:
    if entry is None:
        return None, None
    if entry.get("resource_type") == "IPProtocolServiceEntry":
        number = entry.get("protocol_number")
        return next((name for name, n in PROTOCOL_NUMBERS.items() if n == number), None), None
    first, _, last = str((entry.get("destination_ports") or [""])[0]).partition("-")
    return str(entry.get("l4_protocol")), (int(first), int(last or first))


def domain_node(writes: Sequence[Write], scope: NsxScope) -> Body:
    """The `ChildResourceReference` of domain `default` holding every group, the security policy and its rules."""
    groups = [child(w) for w in writes if w.place.resource_type == "Group"]
    rules = [child(w) for w in writes if w.place.resource_type == "Rule"]
    own = next((w for w in writes if w.place.resource_type == "SecurityPolicy"), None)
    children = list(groups)
    if own is not None and own.delete:
        children.append(child(own))
    elif own is not None:
        node = child(own)
        node["SecurityPolicy"] = {**node["SecurityPolicy"], "children": rules}
        children.append(node)
    elif rules:
        children.append({"resource_type": "ChildResourceReference", "id": scope.security_policy,
                         "target_type": "SecurityPolicy", "children": rules})
    return {"resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain", "children": children}

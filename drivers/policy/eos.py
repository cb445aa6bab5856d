"""Arista EOS: the rule set as traffic-policies over prefix field-sets (EOS ACLs take no object-groups).

    traffic-policies
       field-set ipv4 prefix FI-G-…            one per address group (members as prefixes)
       field-set ipv4 prefix FI-NOT-ISOLATED-…  0.0.0.0/0 except the members, for the isolated groups
       traffic-policy FI-EGRESS                 applied `input` on pod-facing interfaces (`traffic-policy input`)
       traffic-policy FI-INGRESS                applied `output` on them

Every match only lets traffic through (no action): pods not isolated (`FI-PASS`, the complement set),
replies of allowed TCP connections (`FI-REPLIES`, `protocol tcp flags established`), each accept (the
match is named after the rule) and the UDP/SCTP reply mirror of each accept (`<rule>-REPLY-UDP`, in
both policies). A stage's drop is its policy's default: `match ipv4-all-default ipv4` / `actions` /
`drop`. Order among the matches does not matter, so each change adds or removes its own matches.
Removing a drop removes its policy's frame, not the policy: it may hold the other direction's reply
mirrors. IPv4 only (a group with IPv6 members is refused); SCTP is matched as protocol 132, without
ports (a rule with SCTP ports is refused rather than widened).
"""

from __future__ import annotations

from collections.abc import Sequence

from drivers.policy.common import RenderError, check_groups, members, replies
from intent.errors import DriverError
from intent.model import NAME_PREFIX, AddressGroup, PolicyRule

ISOLATED_GROUPS = ("FI-ISOLATED-IN", "FI-ISOLATED-OUT")
POLICIES = {"egress": ("FI-EGRESS", "input"), "ingress": ("FI-INGRESS", "output")}
DEFAULT_MATCH = "match ipv4-all-default ipv4"
PROTOCOL_WORDS = {"TCP": "tcp", "UDP": "udp", "SCTP": "132"}


def complement(group: str) -> str:
    """The field-set of every address but an isolated group's members: `FI-NOT-ISOLATED-IN`."""
    return group.replace(NAME_PREFIX, f"{NAME_PREFIX}NOT-", 1)


# -- groups --------------------------------------------------------------------------------------------
def _field_set(name: str, lines: list[str]) -> list[str]:
    return ["traffic-policies", f"   field-set ipv4 prefix {name}", *(f"      {line}" for line in lines)]


def group_lines(before: AddressGroup | None, after: AddressGroup | None) -> list[str]:
    """A group's field-set (and, for an isolated group, its complement): created, changed member by member,
    or removed."""
    name = (after or before).name  # type: ignore[union-attr]
    isolated = name in ISOLATED_GROUPS
    if after is None:
        gone = [f"   no field-set ipv4 prefix {n}" for n in ([name, complement(name)] if isolated else [name])]
        return ["traffic-policies", *gone]
    if members(after, 6):
        raise RenderError(f"address group {after.name}: EOS policy is rendered for IPv4 only; the group has IPv6 "
                          "members")
    old = set(members(before, 4)) if before is not None else set()
    new = set(members(after, 4))
    return _member_lines(name, sorted(new - old), sorted(old - new), created=before is None)


def _member_lines(name: str, added: Sequence[str], removed: Sequence[str], *, created: bool = False) -> list[str]:
    lines = _field_set(name, [f"no {p}" for p in removed] + list(added))
    if name in ISOLATED_GROUPS:
        base = ["0.0.0.0/0"] if created else []
        edits = [f"no except {p}" for p in removed] + [f"except {p}" for p in added]
        lines += _field_set(complement(name), base + edits)
    return lines


# -- rules ---------------------------------------------------------------------------------------------
def _ports(ports: tuple[int, int] | None) -> str:
    if ports is None:
        return ""
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"


def _match(name: str, src: str | None, dst: str | None, protocol: str | None, *, sports: str = "",
           dports: str = "") -> list[str]:
    lines = [f"      match {name} ipv4"]
    lines += [f"         source prefix field-set {src}"] if src else []
    lines += [f"         destination prefix field-set {dst}"] if dst else []
    if protocol is not None:
        ports = (f" source port {sports}" if sports else "") + (f" destination port {dports}" if dports else "")
        lines.append(f"         protocol {PROTOCOL_WORDS[protocol]}{ports}")
    return lines


def _check(rule: PolicyRule) -> None:
    if rule.protocol == "SCTP" and rule.ports is not None:
        raise RenderError(f"EOS traffic-policies match ports for TCP and UDP only; rule {rule.name} would open "
                          "every SCTP port: refusing to render")


def _frame(rule: PolicyRule, interfaces: Sequence[str], *, delete: bool, bind: bool) -> list[str]:
    """A stage's drop: its policy's pass and reply matches, the default drop, and the bindings."""
    policy, direction = POLICIES[rule.stage]
    binds = [line for name in interfaces for line in (
        f"interface {name}", f"   {'no ' if delete else ''}traffic-policy {direction} {policy}")]
    if delete:  # the policy stays: it may hold the reply mirrors of the other direction's accepts
        return binds + ["traffic-policies", f"   traffic-policy {policy}", "      no match FI-PASS",
                        "      no match FI-REPLIES", f"      {DEFAULT_MATCH}", "         actions",
                        "            no drop"]
    if bind and not interfaces:
        raise DriverError(f"policy rule {rule.name} needs the pod-facing interfaces to apply {policy} to: set the "
                          "switch option `policy_interfaces` (e.g. [Vlan100])")
    isolated = rule.src if rule.stage == "egress" else rule.dst
    assert isolated is not None
    side = "source" if rule.stage == "egress" else "destination"
    return ["traffic-policies", f"   traffic-policy {policy}", "      match FI-PASS ipv4",
            f"         {side} prefix field-set {complement(isolated)}", "      match FI-REPLIES ipv4",
            "         protocol tcp flags established", f"      {DEFAULT_MATCH}", "         actions",
            "            drop", *binds]


def rule_lines(rule: PolicyRule, interfaces: Sequence[str], *, delete: bool = False, bind: bool = True) -> list[str]:
    """The lines that add (or remove) one rule's matches; a drop rule also builds (or removes) its policy's
    frame and, with `bind`, applies it to `interfaces` (required then)."""
    _check(rule)
    if rule.action == "drop":
        return _frame(rule, interfaces, delete=delete, bind=bind)
    policy = POLICIES[rule.stage][0]
    lines = ["traffic-policies", f"   traffic-policy {policy}"]
    lines += [f"      no match {rule.name}"] if delete else _match(rule.name, rule.src, rule.dst, rule.protocol,
                                                                  dports=_ports(rule.ports))
    for reply in replies([rule]):
        name = f"{rule.name}-REPLY-{reply.protocol}"
        for other, _ in POLICIES.values():
            lines.append(f"   traffic-policy {other}")
            lines += [f"      no match {name}"] if delete else _match(name, reply.src, reply.dst, reply.protocol,
                                                                      sports=_ports(reply.sports))
    return lines


def render_eos(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule]) -> list[str]:
    """The configuration lines for the rule set on EOS (field-sets, then the matches and defaults of both
    traffic-policies); applying the policies to interfaces is the driver's part."""
    check_groups(groups, rules)
    lines = [line for g in sorted(groups, key=lambda g: g.name) for line in group_lines(None, g)]
    ordered = sorted(rules, key=lambda r: (r.action == "drop", r.name))
    return lines + [line for rule in ordered for line in rule_lines(rule, (), bind=False)]


def render_eos_members(group: str, added: Sequence[str], removed: Sequence[str]) -> list[str]:
    """Lines that change one field-set's members (a pod came or went), and its complement's if it is isolated."""
    if any(":" in p for p in [*added, *removed]):
        raise RenderError(f"address group {group}: EOS policy is rendered for IPv4 only; got IPv6 members")
    return _member_lines(group, sorted(added), sorted(removed))

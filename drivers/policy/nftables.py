"""nftables: the rule set as one `nft -f` file, address groups as named sets.

Layout (table `inet fabric-intent`, owned whole by fabric-intent)::

    set FI-G-…-v4 / -v6         one per address group and family, `flags interval`
    chain egress / ingress      accepts `return` to the caller, the stage's drop drops
    chain forward               hook forward: established/related accept, jump egress, jump ingress

A stage's accept must `return`, not `accept`: an accept would end the whole hook and skip the
other stage. Replies pass by connection tracking (`ct state established,related`), so nothing
is opened for them. Membership changes are `add element` / `delete element` lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from drivers.policy.common import check_groups, members, stage_rules
from intent.model import AddressGroup, PolicyRule

TABLE = "fabric-intent"
FAMILY = {4: ("ip", "ipv4_addr"), 6: ("ip6", "ipv6_addr")}


def set_name(group: str, version: int) -> str:
    return f"{group}-v{version}"


def render_set(group: AddressGroup, version: int) -> list[str]:
    _, kind = FAMILY[version]
    lines = [f"\tset {set_name(group.name, version)} {{", f"\t\ttype {kind}", "\t\tflags interval",
             f'\t\tcomment "{_quote(group.description)}"']
    elements = members(group, version)
    if elements:
        lines.append(f"\t\telements = {{ {', '.join(elements)} }}")
    return lines + ["\t}"]


def _quote(text: str) -> str:
    return text.replace('"', "'")[:120]  # nft comments are at most 128 bytes


def _service(rule: PolicyRule) -> str:
    if rule.protocol is None:
        return ""
    proto = rule.protocol.lower()
    if rule.ports is None:
        return f" meta l4proto {proto}"
    first, last = rule.ports
    return f" {proto} dport {first}" + (f"-{last}" if last != first else "")


def render_rule(rule: PolicyRule) -> list[str]:
    """One rule as nft statements: per IP family when it names a group, else once."""
    verdict = "return" if rule.action == "accept" else "drop"
    tail = f'{_service(rule)} {verdict} comment "{rule.name}"'
    if rule.src is None and rule.dst is None:
        return [f"\t\t{tail.strip()}"]
    lines = []
    for version, (keyword, _) in FAMILY.items():
        match = "".join(f" {keyword} {field} @{set_name(group, version)}"
                        for field, group in (("saddr", rule.src), ("daddr", rule.dst)) if group is not None)
        lines.append(f"\t\t{match.strip()}{tail}")
    return lines


def render_ruleset(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule]) -> str:
    """The whole table, replacing what fabric-intent had (`nft -f` applies it atomically)."""
    check_groups(groups, rules)
    lines = [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    for group in sorted(groups, key=lambda g: g.name):
        for version in (4, 6):
            lines += render_set(group, version)
    for stage in ("egress", "ingress"):
        lines.append(f"\tchain {stage} {{")
        for rule in stage_rules(rules, stage):
            lines += render_rule(rule)
        lines.append("\t}")
    lines += ["\tchain forward {", "\t\ttype filter hook forward priority filter; policy accept;",
              "\t\tct state established,related accept", "\t\tjump egress", "\t\tjump ingress", "\t}", "}"]
    return "\n".join(lines) + "\n"


def render_members(group: str, added: Iterable[str], removed: Iterable[str]) -> list[str]:
    """`add element` / `delete element` lines for a membership change (addresses or prefixes as text)."""
    lines = []
    for verb, items in (("delete", removed), ("add", added)):
        by_family: dict[int, list[str]] = {}
        for item in sorted(items):
            by_family.setdefault(6 if ":" in item else 4, []).append(item)
        lines += [f"{verb} element inet {TABLE} {set_name(group, v)} {{ {', '.join(ips)} }}"
                  for v, ips in sorted(by_family.items())]
    return lines

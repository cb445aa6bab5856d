"""What every policy renderer shares: rule order, family split, and the reply entries of stateless targets.

Stateful targets (nftables with conntrack, NSX DFW) let replies through by connection state.
Stateless ACLs (EOS, NX-OS) cannot; they get, in both stages, `permit tcp any any established`
(a packet with ACK or RST: no new connection can be opened with it) and, for every accepted
UDP or SCTP flow, the mirror entry from the server's port back to the client. A stateless
mirror opens that port-to-any path whether or not a request was sent: the documented price.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from intent.errors import DriverError
from intent.model import AddressGroup, PolicyRule


class RenderError(DriverError):
    """The rule set cannot be expressed exactly on this platform; nothing is rendered."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a stateless ACL stage, before platform syntax."""

    action: str  # permit or deny
    src: str | None
    dst: str | None
    protocol: str | None
    dports: tuple[int, int] | None = None
    sports: tuple[int, int] | None = None
    established: bool = False
    remark: str = ""


def stage_rules(rules: Iterable[PolicyRule], stage: str) -> list[PolicyRule]:
    """One stage's rules in evaluation order: accepts (by name), then its drop."""
    mine = [r for r in rules if r.stage == stage]
    return sorted(mine, key=lambda r: (r.action == "drop", r.name))


def members(group: AddressGroup, version: int) -> list[str]:
    """A group's members of one IP family, as prefixes (`10.0.0.1/32`)."""
    out = [f"{a}/{a.max_prefixlen}" for a in group.addresses if a.version == version]
    return out + [str(p) for p in group.prefixes if p.version == version]


def families(groups: Sequence[AddressGroup]) -> list[int]:
    """IP versions present (IPv4 always: its ACL holds the isolation rules even when empty)."""
    found = {a.version for g in groups for a in g.addresses} | {p.version for g in groups for p in g.prefixes}
    return sorted(found | {4})


def replies(rules: Iterable[PolicyRule]) -> list[Entry]:
    """Mirror entries letting replies of accepted UDP/SCTP (or any-protocol) flows back, for stateless ACLs."""
    out: dict[tuple[object, ...], Entry] = {}
    for rule in rules:
        if rule.action != "accept" or rule.protocol == "TCP":
            continue
        protocols = [rule.protocol] if rule.protocol else ["UDP", "SCTP"]
        for protocol in protocols:
            entry = Entry("permit", rule.dst, rule.src, protocol, None, rule.ports, remark=f"reply {rule.name}")
            out.setdefault((entry.src, entry.dst, protocol, entry.sports), entry)
    return list(out.values())


def stateless_stage(rules: Sequence[PolicyRule], stage: str) -> list[Entry]:
    """A stage as an ACL: TCP replies, UDP/SCTP replies, the accepts, the drop, then permit the rest."""
    entries = [Entry("permit", None, None, "TCP", established=True, remark="replies of allowed TCP connections")]
    entries += replies(rules)
    for rule in stage_rules(rules, stage):
        entries.append(Entry("permit" if rule.action == "accept" else "deny", rule.src, rule.dst, rule.protocol,
                             rule.ports, remark=rule.name))
    entries.append(Entry("permit", None, None, None, remark="pods not isolated"))
    return entries


def check_groups(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule]) -> None:
    names = {g.name for g in groups}
    missing = sorted({n for r in rules for n in (r.src, r.dst) if n is not None} - names)
    if missing:
        raise RenderError(f"policy rules name address groups not given: {', '.join(missing)}")

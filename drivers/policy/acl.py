"""Stateless ACLs with object-groups, shared by the EOS and NX-OS renderers.

Two ACLs per IP family: `FI-EGRESS` (applied inbound on pod-facing ports: the source pod's
policies) and `FI-INGRESS` (applied outbound on pod-facing ports: the destination pod's). Each:
replies of allowed connections (see `common`), the stage's accepts, its drop, then permit all
(pods not isolated). A platform supplies the words: how a group is declared and referenced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.policy.common import Entry, RenderError, check_groups, families, members, stateless_stage
from intent.model import AddressGroup, PolicyRule

ACL_NAMES = {"egress": "FI-EGRESS", "ingress": "FI-INGRESS"}
PROTOCOL_NUMBERS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


@dataclass(frozen=True)
class Dialect:
    """A platform's ACL words."""

    group_header: Callable[[str, int], str]  # (name, version) -> `object-group ip address NAME`
    member: Callable[[str], str]  # prefix -> `host 10.0.0.1`
    sequenced: bool  # members carry sequence numbers
    acl_header: Callable[[str, int], str]  # (name, version) -> `ip access-list NAME`
    group_ref: Callable[[str], str]  # name -> `addrgroup NAME`
    sctp_ports: bool  # can it match SCTP ports?
    sctp_word: str = "sctp"


def acl_name(stage: str, version: int) -> str:
    return ACL_NAMES[stage] + ("" if version == 4 else "-V6")


def group_name(name: str, version: int) -> str:
    return name if version == 4 else f"{name}-V6"


def _ports(keyword: str, ports: tuple[int, int] | None) -> str:
    if ports is None:
        return ""
    first, last = ports
    return f" {keyword} {first}" if first == last else f" range {first} {last}"


def _address(dialect: Dialect, group: str | None, version: int) -> str:
    return "any" if group is None else dialect.group_ref(group_name(group, version))


def render_entry(dialect: Dialect, entry: Entry, seq: int, version: int) -> str:
    """`10 permit tcp addrgroup A addrgroup B eq 80`."""
    protocol = "ip" if entry.protocol is None else (
        dialect.sctp_word if entry.protocol == "SCTP" else PROTOCOL_NUMBERS[entry.protocol])
    if protocol == "ip" and version == 6:
        protocol = "ipv6"
    src = _address(dialect, entry.src, version) + _ports("eq", entry.sports)
    dst = _address(dialect, entry.dst, version) + _ports("eq", entry.dports)
    tail = " established" if entry.established else ""
    return f"   {seq} {entry.action} {protocol} {src} {dst}{tail}"


def _check_sctp(dialect: Dialect, rules: Sequence[PolicyRule], platform: str) -> None:
    if dialect.sctp_ports:
        return
    bad = sorted(r.name for r in rules if r.protocol == "SCTP" and r.ports is not None)
    if bad:
        raise RenderError(f"{platform} ACLs cannot match SCTP ports; rules {', '.join(bad)} would open every "
                          "SCTP port: refusing to render")


def render_acls(dialect: Dialect, platform: str, groups: Sequence[AddressGroup],
                rules: Sequence[PolicyRule]) -> list[str]:
    """Object-groups, then both stage ACLs, per IP family; the lines to configure, in order."""
    check_groups(groups, rules)
    _check_sctp(dialect, rules, platform)
    lines: list[str] = []
    for version in families(groups):
        for group in sorted(groups, key=lambda g: g.name):
            lines.append(dialect.group_header(group_name(group.name, version), version))
            lines += [f"   {f'{10 * (i + 1)} ' if dialect.sequenced else ''}{dialect.member(p)}"
                      for i, p in enumerate(members(group, version))]
        for stage in ("egress", "ingress"):
            lines.append(dialect.acl_header(acl_name(stage, version), version))
            entries = stateless_stage(rules, stage)
            lines += [render_entry(dialect, e, 10 * (i + 1), version) for i, e in enumerate(entries)]
    return lines



def render_member_changes(dialect: Dialect, group: str, added: Sequence[str], removed: Sequence[str]) -> list[str]:
    """Lines that change one group's members in place (prefixes as text), per IP family."""
    lines: list[str] = []
    for version in (4, 6):
        mine = [(verb, p) for verb, items in (("no ", removed), ("", added)) for p in sorted(items)
                if (":" in p) == (version == 6)]
        if mine:
            lines.append(dialect.group_header(group_name(group, version), version))
            lines += [f"   {verb}{dialect.member(p)}" for verb, p in mine]
    return lines

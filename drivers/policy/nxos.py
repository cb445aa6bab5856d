"""Cisco NX-OS: `object-group ip address` + `ip access-list` with `addrgroup` (IPv6: `object-group ipv6
address`, `ipv6 access-list`). NX-OS ACL entries match ports for TCP and UDP only, so an SCTP rule
with ports is refused rather than widened to every SCTP port."""

from __future__ import annotations

from collections.abc import Sequence

from drivers.policy.acl import Dialect, render_acls, render_member_changes
from intent.model import AddressGroup, PolicyRule


def _member(prefix: str) -> str:
    address, _, length = prefix.partition("/")
    host = (length == "32" and ":" not in address) or length == "128"
    return f"host {address}" if host else prefix


NXOS = Dialect(
    group_header=lambda name, v: f"object-group {'ip' if v == 4 else 'ipv6'} address {name}",
    member=_member,
    sequenced=True,
    acl_header=lambda name, v: f"{'ip' if v == 4 else 'ipv6'} access-list {name}",
    group_ref=lambda name: f"addrgroup {name}",
    sctp_ports=False,
    sctp_word="132",
)


def render_nxos(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule]) -> list[str]:
    """The configuration lines for the rule set on NX-OS."""
    return render_acls(NXOS, "NX-OS", groups, rules)


def render_nxos_members(group: str, added: Sequence[str], removed: Sequence[str]) -> list[str]:
    """Lines that change one object-group's members (a pod came or went)."""
    return render_member_changes(NXOS, group, added, removed)

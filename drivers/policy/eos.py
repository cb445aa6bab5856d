"""Arista EOS: network object-groups referenced from `ip access-list` entries with `group`.

The object-group syntax here (`object-group network ipv4|ipv6 NAME`, members as prefixes,
`group NAME` in an entry) is from EOS releases with ACL object-group support; it has not been
checked on a device by this project (see docs/policy.md)."""

from __future__ import annotations

from collections.abc import Sequence

from drivers.policy.acl import Dialect, render_acls, render_member_changes
from intent.model import AddressGroup, PolicyRule

EOS = Dialect(
    group_header=lambda name, v: f"object-group network ipv{v} {name}",
    member=lambda prefix: prefix,
    sequenced=False,
    acl_header=lambda name, v: f"{'ip' if v == 4 else 'ipv6'} access-list {name}",
    group_ref=lambda name: f"group {name}",
    sctp_ports=True,
)


def render_eos(groups: Sequence[AddressGroup], rules: Sequence[PolicyRule]) -> list[str]:
    """The configuration lines for the rule set on EOS."""
    return render_acls(EOS, "EOS", groups, rules)


def render_eos_members(group: str, added: Sequence[str], removed: Sequence[str]) -> list[str]:
    """Lines that change one object-group's members (a pod came or went)."""
    return render_member_changes(EOS, group, added, removed)

"""EOS and NX-OS renderers: NX-OS object-groups and stage ACLs, EOS field-sets; replies for a stateless target."""

from __future__ import annotations

import pytest
from policy_objects import DATA, compiled

from drivers.policy.common import RenderError
from drivers.policy.eos import render_eos, render_eos_members
from drivers.policy.nxos import render_nxos, render_nxos_members


def _acl(lines: list[str], name: str) -> list[str]:
    start = lines.index(name)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return [line.strip() for line in lines[start + 1:end]]


def test_nxos_stages_replies_first_accepts_then_drop_then_permit() -> None:
    groups, rules = compiled(DATA / "lab-cluster.yaml")
    lines = render_nxos(groups, rules)
    web = next(g.name for g in groups if "app=web" in g.description)
    frontend = next(g.name for g in groups if "role=frontend" in g.description)
    assert f"object-group ip address {frontend}" in lines
    assert lines[lines.index(f"object-group ip address {frontend}") + 1] == "   10 host 10.99.1.2"
    assert _acl(lines, "ip access-list FI-INGRESS") == [
        "10 permit tcp any any established",
        f"20 permit tcp addrgroup {frontend} addrgroup {web} eq 8080",
        "30 deny ip any addrgroup FI-ISOLATED-IN",
        "40 permit ip any any",
    ]
    assert _acl(lines, "ip access-list FI-EGRESS") == ["10 permit tcp any any established", "20 permit ip any any"]


def test_eos_refuses_ipv6_members_rather_than_render_half_a_policy() -> None:
    groups, rules = compiled(DATA / "udp-sctp-cluster.yaml")
    with pytest.raises(RenderError, match="EOS policy is rendered for IPv4 only; the group has IPv6 members"):
        render_eos(groups, rules)


def test_nxos_refuses_sctp_ports_rather_than_open_every_sctp_port() -> None:
    groups, rules = compiled(DATA / "udp-sctp-cluster.yaml")
    with pytest.raises(RenderError, match="NX-OS ACLs cannot match SCTP ports; rules FI-R-"):
        render_nxos(groups, rules)


def test_membership_changes_are_in_place_edits() -> None:
    assert render_nxos_members("FI-G-1", ["10.0.0.5/32"], ["10.0.0.6/32", "fd00::1/128"]) == [
        "object-group ip address FI-G-1", "   no host 10.0.0.6", "   host 10.0.0.5",
        "object-group ipv6 address FI-G-1-V6", "   no host fd00::1"]
    assert render_eos_members("FI-G-1", ["10.0.0.0/24"], []) == [
        "traffic-policies", "   field-set ipv4 prefix FI-G-1", "      10.0.0.0/24"]


def test_a_rule_naming_an_unknown_group_is_refused() -> None:
    groups, rules = compiled(DATA / "lab-cluster.yaml")
    with pytest.raises(RenderError, match="policy rules name address groups not given: FI-"):
        render_nxos(groups[1:], rules)

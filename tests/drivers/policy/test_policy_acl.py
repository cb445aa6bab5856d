"""EOS and NX-OS ACL renderers: object-groups, the two stage ACLs, replies for a stateless target."""

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


def test_udp_gets_its_mirror_reply_in_both_stages_and_ipv6_its_own_acls() -> None:
    groups, rules = compiled(DATA / "udp-sctp-cluster.yaml")
    dns = next(g.name for g in groups if "app=dns" in g.description)
    lines = render_eos(groups, rules)
    reply = f"permit udp group {dns} eq 53 any"
    for acl in ("ip access-list FI-EGRESS", "ip access-list FI-INGRESS"):
        assert any(line.endswith(reply) for line in _acl(lines, acl)), acl
    assert any(line.endswith(f"permit udp any group {dns} eq 53") for line in _acl(lines, "ip access-list FI-INGRESS"))
    assert "ipv6 access-list FI-INGRESS-V6" in lines
    diameter = next(g.name for g in groups if "app=diameter" in g.description and "namespace infra" in g.description)
    assert "   fd00:99::68/128" in lines[lines.index(f"object-group network ipv6 {diameter}-V6"):]
    assert any("permit sctp" in line and "eq 3868" in line for line in _acl(lines, "ip access-list FI-INGRESS"))


def test_nxos_refuses_sctp_ports_rather_than_open_every_sctp_port() -> None:
    groups, rules = compiled(DATA / "udp-sctp-cluster.yaml")
    with pytest.raises(RenderError, match="NX-OS ACLs cannot match SCTP ports; rules FI-R-"):
        render_nxos(groups, rules)


def test_membership_changes_are_in_place_edits() -> None:
    assert render_nxos_members("FI-G-1", ["10.0.0.5/32"], ["10.0.0.6/32", "fd00::1/128"]) == [
        "object-group ip address FI-G-1", "   no host 10.0.0.6", "   host 10.0.0.5",
        "object-group ipv6 address FI-G-1-V6", "   no host fd00::1"]
    assert render_eos_members("FI-G-1", ["10.0.0.0/24"], []) == ["object-group network ipv4 FI-G-1", "   10.0.0.0/24"]


def test_a_rule_naming_an_unknown_group_is_refused() -> None:
    groups, rules = compiled(DATA / "lab-cluster.yaml")
    with pytest.raises(RenderError, match="policy rules name address groups not given: FI-"):
        render_nxos(groups[1:], rules)

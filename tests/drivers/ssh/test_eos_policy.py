"""NetworkPolicy on Arista EOS: address groups as prefix field-sets, policy rules as matches of the
traffic-policies FI-EGRESS (input) / FI-INGRESS (output) on the pod-facing interface, in a configure session.

The rule set is compiled from data/ssh/nxos/policy/cluster/ (shop/web open to shop/api on TCP 80,
shop/api allowed DNS only); the switch starts as data/ssh/eos/policy/leaf-1.cfg, which holds a hand-made
ACL, field-set and traffic-policy on the uplink. What EOS shares with NX-OS (apply and read back, a refused
line, a hand-made policy on the pod-facing interface) is tested in test_eos_nxos_policy.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_device import hand_made_lines
from fake_device_eos import FakeEos
from fake_device_harness import DATA, plan_pod_churn, policy_driver, policy_objects

from drivers.policy.common import RenderError
from drivers.policy.eos import render_eos, render_eos_members
from intent.model import AddressGroup, PolicyRule


def _switch() -> FakeEos:
    return FakeEos("leaf-1", (DATA / "eos" / "policy" / "leaf-1.cfg").read_text(encoding="utf-8"))


def test_the_plan_shows_traffic_policy_lines_with_their_provenance(tmp_path: Path) -> None:
    driver = policy_driver(_switch(), tmp_path)
    plan = driver.plan(policy_objects(), driver.observe())
    by_summary = {c.summary: c for c in plan.changes}
    web = by_summary["ingress accept FI-G-c9f4643a3c -> FI-G-1deef191bf tcp/80"]
    assert [str(p) for p in web.provenance] == ["NetworkPolicy shop/web-from-api .spec.ingress[0].from[0] (ports[0])"]
    assert web.native == ("traffic-policies", "   traffic-policy FI-INGRESS", "      match FI-R-6e53c1c2a6 ipv4",
                          "         source prefix field-set FI-G-c9f4643a3c",
                          "         destination prefix field-set FI-G-1deef191bf",
                          "         protocol tcp destination port 80")
    dns = by_summary["egress accept FI-G-c9f4643a3c -> any udp/53"]
    assert dns.native.count("      match FI-R-228ebd0fe3-REPLY-UDP ipv4") == 2, "the reply mirror, in both policies"
    assert "         protocol udp source port 53" in dns.native
    isolated = by_summary["address group FI-ISOLATED-OUT (1 member: pods isolated for egress)"]
    assert isolated.native[-3:] == ("   field-set ipv4 prefix FI-NOT-ISOLATED-OUT", "      0.0.0.0/0",
                                    "      except 10.244.1.20/32")
    drop = plan.changes[-1]
    assert (drop.summary, drop.native[-2:]) == ("ingress drop any -> FI-ISOLATED-IN any",
                                                ("interface Vlan100", "   traffic-policy output FI-INGRESS"))
    assert drop.native[6:9] == ("      match ipv4-all-default ipv4", "         actions", "            drop")


def test_pod_churn_is_a_field_set_member_change_only(tmp_path: Path) -> None:
    driver, wanted, plan = plan_pod_churn(_switch(), tmp_path)
    assert plan.changes[0].native == ("traffic-policies", "   field-set ipv4 prefix FI-G-c9f4643a3c",
                                      "      10.244.1.21/32")
    assert plan.changes[1].native[-1] == "      except 10.244.1.21/32", "the complement follows the isolated group"
    driver.apply(plan).raise_on_error()
    assert driver.plan(wanted, driver.observe()).changes == ()


def test_removing_every_policy_leaves_only_the_hand_made_configuration(tmp_path: Path) -> None:
    switch = _switch()
    original = hand_made_lines(switch.config_text(), 3)
    driver = policy_driver(switch, tmp_path)
    driver.apply(driver.plan(policy_objects(), driver.observe())).raise_on_error()
    driver.apply(driver.plan([], driver.observe())).raise_on_error()
    assert driver.observe().objects == ()
    assert hand_made_lines(switch.config_text(), 3) == original
    left = [line.strip() for line in switch.config_text().splitlines() if "FI-" in line]
    assert left == ["traffic-policy FI-EGRESS", "traffic-policy FI-INGRESS"], "emptied, unapplied policies stay"


def test_rules_the_platform_cannot_express_are_refused(tmp_path: Path) -> None:
    driver = policy_driver(_switch(), tmp_path)
    observed = driver.observe()
    sctp = PolicyRule(device="leaf-1", name="FI-R-0000000001", stage="ingress", action="accept", protocol="SCTP",
                      ports=(5000, 5000))
    with pytest.raises(RenderError, match="match ports for TCP and UDP only; rule FI-R-0000000001"):
        driver.plan([sctp], observed)
    v6 = AddressGroup(device="leaf-1", name="FI-G-6", description="pods", addresses=("fd00::1",))
    with pytest.raises(RenderError, match="address group FI-G-6: .* IPv4 only; the group has IPv6 members"):
        driver.plan([v6], observed)


def test_the_pure_renderer_gives_the_whole_rule_set_and_member_edits() -> None:
    objects = policy_objects()
    lines = render_eos([o for o in objects if isinstance(o, AddressGroup)],
                       [o for o in objects if isinstance(o, PolicyRule)])
    assert lines[:3] == ["traffic-policies", "   field-set ipv4 prefix FI-G-1deef191bf", "      10.244.1.10/32"]
    assert lines.count("            drop") == 2, "each policy's default drops"
    assert not [line for line in lines if line.startswith("interface ")], "applying to interfaces is the driver's"
    assert render_eos_members("FI-ISOLATED-IN", ["10.0.0.5/32"], ["10.0.0.6/32"]) == [
        "traffic-policies", "   field-set ipv4 prefix FI-ISOLATED-IN", "      no 10.0.0.6/32", "      10.0.0.5/32",
        "traffic-policies", "   field-set ipv4 prefix FI-NOT-ISOLATED-IN", "      no except 10.0.0.6/32",
        "      except 10.0.0.5/32"]
    with pytest.raises(RenderError, match="IPv4 only"):
        render_eos_members("FI-G-1", ["fd00::1/128"], [])

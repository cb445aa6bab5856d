"""NetworkPolicy on Cisco NX-OS: address groups as object-groups, policy rules as entries of the FI-EGRESS /
FI-INGRESS ACLs bound on the pod-facing interface, all inside the checkpoint transaction.

The rule set is compiled from data/ssh/nxos/policy/cluster/ (shop/web open to shop/api on TCP 80, shop/api
allowed DNS only); the switch starts as data/ssh/nxos/policy/leaf-1.cfg, which holds a hand-made
object-group and ACL bound on the uplink. What NX-OS shares with EOS (apply and read back, a refused line,
a hand-made ACL on the pod-facing interface) is tested in test_eos_nxos_policy.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_device_harness import DATA, plan_pod_churn, policy_driver, policy_objects
from fake_device_nxos import FakeNxos

from drivers.policy.common import RenderError
from drivers.ssh import nxos_policy
from intent.errors import DriverError
from intent.model import AddressGroup, PolicyRule

POLICY = DATA / "nxos" / "policy"


def _switch() -> FakeNxos:
    return FakeNxos("leaf-1", (POLICY / "leaf-1.cfg").read_text(encoding="utf-8"))


def test_the_plan_shows_native_acl_lines_with_their_provenance(tmp_path: Path) -> None:
    driver = policy_driver(_switch(), tmp_path)
    plan = driver.plan(policy_objects(), driver.observe())
    by_summary = {c.summary: c for c in plan.changes}
    web = by_summary["ingress accept FI-G-c9f4643a3c -> FI-G-1deef191bf tcp/80"]
    assert [str(p) for p in web.provenance] == ["NetworkPolicy shop/web-from-api .spec.ingress[0].from[0] (ports[0])"]
    assert web.native == ("ip access-list FI-INGRESS",
                          "  702365483 permit tcp addrgroup FI-G-c9f4643a3c addrgroup FI-G-1deef191bf eq 80")
    dns = by_summary["egress accept FI-G-c9f4643a3c -> any udp/53"]
    assert dns.native[1] == "  1243426675 permit udp addrgroup FI-G-c9f4643a3c any eq 53"
    mirror = "  3276863526 permit udp any eq 53 addrgroup FI-G-c9f4643a3c"  # the replies, in both ACLs
    assert dns.native[2:] == ("ip access-list FI-EGRESS", mirror, "ip access-list FI-INGRESS", mirror)
    group = by_summary["address group FI-G-1deef191bf (1 member: pods [app=web] in namespace shop)"]
    assert group.native == ("object-group ip address FI-G-1deef191bf", "  host 10.244.1.10")
    kinds = [(c.kind, getattr(c.after, "action", None)) for c in plan.changes]
    assert kinds == [("address-group", None)] * 4 + [("policy-rule", "accept")] * 2 + [("policy-rule", "drop")] * 2, \
        "groups first, then the accepts, then the drops that bind the ACLs"
    assert plan.changes[-1].native[-2:] == ("interface Vlan100", "  ip access-group FI-INGRESS out")


def test_pod_churn_is_a_member_change_of_its_groups_only(tmp_path: Path) -> None:
    switch = _switch()
    driver, wanted, plan = plan_pod_churn(switch, tmp_path)
    assert plan.changes[0].details == ("+ 10.244.1.21",)
    assert plan.changes[0].native == ("object-group ip address FI-G-c9f4643a3c", "  host 10.244.1.21")
    driver.apply(plan).raise_on_error()
    assert "  20 host 10.244.1.21" in switch.show_running().splitlines()
    assert driver.plan(wanted, driver.observe()).changes == ()
    plan = driver.plan(policy_objects(), driver.observe())  # the pod goes away again
    assert plan.changes[0].native == ("object-group ip address FI-G-c9f4643a3c", "  no host 10.244.1.21")


def test_removing_every_policy_removes_every_owned_entry_and_nothing_else(tmp_path: Path) -> None:
    switch = _switch()
    original = switch.config_text()
    driver = policy_driver(switch, tmp_path)
    driver.apply(driver.plan(policy_objects(), driver.observe())).raise_on_error()
    plan = driver.plan([], driver.observe())
    assert [c.after for c in plan.changes] == [None] * 8
    assert [getattr(c.before, "action", "group") for c in plan.changes][:4] == ["accept", "accept", "drop", "drop"]
    driver.apply(plan).raise_on_error()
    assert driver.observe().objects == ()
    left = switch.config_text().splitlines()
    assert [line for line in left if "FI-" in line] == ["ip access-list FI-EGRESS", "ip access-list FI-INGRESS"]
    assert [line for line in left if "FI-" not in line] == original.splitlines(), "empty, unbound ACLs stay"


def test_a_direction_removed_and_added_again_keeps_the_other_directions_reply_mirrors(tmp_path: Path) -> None:
    switch = _switch()
    driver = policy_driver(switch, tmp_path)
    everything = policy_objects()
    driver.apply(driver.plan(everything, driver.observe())).raise_on_error()
    mirror = "  3276863526 permit udp any eq 53 addrgroup FI-G-c9f4643a3c"  # shop/api's DNS replies
    without_ingress = [o for o in everything if getattr(o, "stage", "egress") == "egress"
                       and o.name not in ("FI-ISOLATED-IN", "FI-G-1deef191bf")]
    driver.apply(driver.plan(without_ingress, driver.observe())).raise_on_error()
    running = switch.show_running()
    assert "ip access-group FI-INGRESS out" not in running
    assert running.split("ip access-list FI-INGRESS")[1].splitlines()[1] == mirror, "the mirror stays in FI-INGRESS"
    driver.apply(driver.plan(everything, driver.observe())).raise_on_error()
    ingress = switch.show_running().split("ip access-list FI-INGRESS")[1].split("interface")[0]
    assert mirror in ingress.splitlines() and "  ip access-group FI-INGRESS out" in switch.show_running().splitlines()
    assert driver.plan(everything, driver.observe()).changes == ()


def test_rules_the_platform_cannot_express_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    switch = _switch()
    driver = policy_driver(switch, tmp_path)
    observed = driver.observe()
    sctp = PolicyRule(device="leaf-1", name="FI-R-0000000001", stage="ingress", action="accept", src=None,
                      dst=None, protocol="SCTP", ports=(5000, 5000))
    with pytest.raises(RenderError, match="NX-OS ACLs cannot match SCTP ports; rule FI-R-0000000001"):
        driver.plan([sctp], observed)
    v6 = AddressGroup(device="leaf-1", name="FI-G-6", description="pods", addresses=("fd00::1",))
    with pytest.raises(RenderError, match="address group FI-G-6: .* IPv4 only; the group has IPv6 members"):
        driver.plan([v6], observed)
    unbound = policy_driver(switch, tmp_path, policy_interfaces=[])
    with pytest.raises(DriverError, match="set the switch option `policy_interfaces`"):
        unbound.plan(policy_objects(), observed)
    with pytest.raises(DriverError, match="option policy_interfaces must be a list"):
        policy_driver(switch, tmp_path, policy_interfaces="Vlan100")
    assert [e for e in switch.log if "send_config_set" in e] == []


def test_rules_whose_entries_would_share_a_sequence_number_are_refused(tmp_path: Path) -> None:
    rules = [r for r in policy_objects() if isinstance(r, PolicyRule)]
    assert nxos_policy.sequence_clashes(rules) == []
    # two names whose hashes land on the same accept slot (found by search: about 1 in 2e9 per pair)
    first, second = (rules[0].model_copy(update={"name": n}) for n in ("FI-R-0000004967", "FI-R-0000008fe7"))
    assert nxos_policy.accept_seq(first) == nxos_policy.accept_seq(second)
    assert nxos_policy.sequence_clashes([first, second]) == ["FI-R-0000004967 and FI-R-0000008fe7 (sequence 345514943)"]
    driver = policy_driver(_switch(), tmp_path)
    with pytest.raises(DriverError, match="would share an ACL sequence number"):
        driver.plan([first, second], driver.observe())

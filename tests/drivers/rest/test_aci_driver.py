"""The aci driver against the stateful fake APIC: settings, ownership guards, ECMP routes, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from aci_support import AciFactory
from driver_harness import DATA, desired
from fake_apic import FakeApic

from drivers.rest.aci import AciDriver
from drivers.rest.aci_translate import ANNOTATION
from intent.errors import DriverError
from intent.inventory import parse_inventory
from intent.model import BgpPeering, PrefixList, PrefixListEntry, StaticRoute
from intent.plan import FabricState

NODE = "uni/tn-k8s/out-k8s-default/lnodep-k8s-leaf-101/rsnodeL3OutAtt-[topology/pod-1/node-101]"


@pytest.fixture
def apic() -> FakeApic:
    fake = FakeApic()
    fake.load(json.loads((DATA / "aci" / "apic-state.json").read_text())["imdata"])
    return fake


def route(prefix: str, hop: str, vrf: str = "default") -> StaticRoute:
    return StaticRoute(device="leaf-1", vrf=vrf, prefix=prefix, next_hop=hop, tag=64512)  # type: ignore[arg-type]


def test_bad_settings_are_precise_errors_and_building_a_driver_sends_nothing(make_aci: AciFactory,
                                                                             apic: FakeApic) -> None:
    with pytest.raises(DriverError, match=r"^leaf-1: aci settings: tenant: Input should be a valid string"):
        make_aci(apic.transport, tenant=None)
    with pytest.raises(DriverError, match=r"^leaf-1: aci settings: give 'l3out' \(for VRF BLUE\) or 'l3outs'$"):
        make_aci(apic.transport, l3outs={})
    make_aci(apic.transport)
    assert apic.requests == []


def test_ecmp_routes_share_one_iproutep_and_dropping_one_deletes_only_its_next_hop(make_aci: AciFactory,
                                                                                   apic: FakeApic) -> None:
    driver = make_aci(apic.transport)
    keep = [o for o in driver.observe().objects]
    both = keep + [route("10.250.0.0/24", "192.168.1.21"), route("10.250.0.0/24", "192.168.1.22")]
    driver.apply(driver.plan(both, driver.observe())).raise_on_error()
    hops = sorted(dn for dn in apic.mos if dn.startswith(f"{NODE}/rt-[10.250.0.0/24]/nh-"))
    assert hops == [f"{NODE}/rt-[10.250.0.0/24]/nh-[192.168.1.21]", f"{NODE}/rt-[10.250.0.0/24]/nh-[192.168.1.22]"]
    plan = driver.plan(both[:-1], driver.observe())
    assert [json.loads(line) for c in plan.changes for line in c.native] == [
        {"ipNexthopP": {"attributes": {"dn": f"{NODE}/rt-[10.250.0.0/24]/nh-[192.168.1.22]", "status": "deleted"}}}]
    driver.apply(plan).raise_on_error()
    assert f"{NODE}/rt-[10.250.0.0/24]" in apic.mos and f"{NODE}/rt-[10.250.0.0/24]/nh-[192.168.1.22]" not in apic.mos
    driver.apply(driver.plan(keep, driver.observe())).raise_on_error()
    assert not any(dn.startswith(f"{NODE}/rt-[10.250.0.0/24]") for dn in apic.mos)


def test_a_hand_made_route_in_the_place_of_an_intended_one_is_a_conflict_not_a_change(make_aci: AciFactory,
                                                                                        apic: FakeApic) -> None:
    driver = make_aci(apic.transport)
    plan = driver.plan([route("0.0.0.0/0", "192.168.1.1")], driver.observe())
    assert all(c.action == "delete" for c in plan.changes)
    assert plan.conflicts == ("static route 0.0.0.0/0 via 192.168.1.1: the APIC holds a hand-made object in its "
                              "place; fabric-intent leaves it alone and does not take it over",)


def test_deleting_an_owned_route_that_holds_a_hand_made_next_hop_is_refused_before_sending(
        make_aci: AciFactory, apic: FakeApic) -> None:
    driver = make_aci(apic.transport)
    owned = list(driver.observe().objects)
    driver.apply(driver.plan([*owned, route("10.251.0.0/24", "192.168.1.30")], driver.observe())).raise_on_error()
    apic.load([{"ipNexthopP": {"attributes": {"dn": f"{NODE}/rt-[10.251.0.0/24]/nh-[192.168.1.31]",
                                              "nhAddr": "192.168.1.31"}}}])
    before, posts = dict(apic.mos), len(apic.posts)
    result = driver.apply(driver.plan(owned, driver.observe()))
    assert result.failed and result.error == (
        f"leaf-1: deleting {NODE}/rt-[10.251.0.0/24] would remove hand-made configuration "
        f"({NODE}/rt-[10.251.0.0/24]/nh-[192.168.1.31]); refused, nothing was sent")
    assert apic.mos == before and len(apic.posts) == posts


def test_a_leaf_not_attached_to_the_vrfs_l3out_is_refused_before_sending(make_aci: AciFactory, apic: FakeApic) -> None:
    driver = make_aci(apic.transport, l3outs={"BLUE": "k8s-blue", "default": "k8s-default", "RED": "k8s-red"})
    result = driver.apply(driver.plan([route("10.252.0.0/24", "192.168.1.40", vrf="RED")], driver.observe()))
    assert result.failed and result.error is not None
    assert result.error.startswith("leaf-1: node 101 is not attached to uni/tn-k8s/out-k8s-red/lnodep-k8s-leaf-101; "
                                   "fabric-intent does not create L3Out node attachments")
    assert apic.posts == []


def test_what_aci_cannot_express_is_refused_at_plan_time(make_aci: AciFactory, apic: FakeApic) -> None:
    driver = make_aci(apic.transport)
    observed = driver.observe()
    deny = PrefixList(device="leaf-1", name="FI-NODE-x", entries=(
        PrefixListEntry(seq=10, action="deny", prefix="10.0.0.0/8"),))  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="prefix-list FI-NODE-x has deny entries"):
        driver.plan([deny], observed)
    peer = BgpPeering(device="leaf-1", vrf="BLUE", neighbor="192.168.1.50", remote_as=64600,  # type: ignore[arg-type]
                      local_as=None, description="fabric-intent: node n5", prefix_list="FI-NODE-n5",
                      max_prefix=10, authenticated=True)
    with pytest.raises(DriverError, match="does not configure BGP passwords"):
        driver.plan([peer], observed)


def test_every_object_written_carries_the_ownership_annotation(make_aci: AciFactory, apic: FakeApic) -> None:
    driver = make_aci(apic.transport)
    before = set(apic.mos)
    driver.apply(driver.plan(desired("leaf-1"), driver.observe())).raise_on_error()
    created = {dn: apic.mos[dn] for dn in set(apic.mos) - before}
    assert created
    unannotated = [dn for dn, (cls, attrs) in created.items()
                   if attrs.get("annotation") != ANNOTATION and cls != "tagAnnotation"]
    assert unannotated == []


def test_a_wrong_password_file_never_shows_the_password(make_aci: AciFactory, apic: FakeApic, aci_root: Path) -> None:
    (aci_root / "apic-password").write_text("not-the-password\n")
    with pytest.raises(DriverError) as caught:
        make_aci(apic.transport).observe()
    assert "not-the-password" not in str(caught.value) and "HTTP 401" in str(caught.value)


def test_another_leafs_route_control_objects_are_not_read_as_this_leafs(make_aci: AciFactory, apic: FakeApic) -> None:
    driver = make_aci(apic.transport)
    before = driver.observe()
    apic.load([{"rtctrlSubjP": {"attributes": {"dn": "uni/tn-k8s/subj-FI-NODE-n1.leaf-10", "name": "FI-NODE-n1.leaf-10",
                                               "annotation": ANNOTATION}}},
               {"bgpPeerPfxPol": {"attributes": {"dn": "uni/tn-k8s/bgpPfxP-FI-maxpfx.leaf-10.192.168.9.9",
                                                 "name": "FI-maxpfx.leaf-10.192.168.9.9", "maxPfx": "5",
                                                 "annotation": ANNOTATION}}}])
    assert driver.observe() == before


def test_bgp_peers_on_a_node_profile_other_leaves_share_are_refused(make_aci: AciFactory, apic: FakeApic,
                                                                      aci_root: Path) -> None:
    data = yaml.safe_load((aci_root / "fabric.yaml").read_text())
    for switch in data["switches"]:
        switch["options"].pop("node_profile")
    inventory = parse_inventory(data, "fabric.yaml")
    driver = AciDriver(inventory.switch("leaf-1"), inventory, aci_root, transport=apic.transport)
    peer = BgpPeering(device="leaf-1", vrf="BLUE", neighbor="192.168.1.50", remote_as=64600,  # type: ignore[arg-type]
                      local_as=None, description="fabric-intent: node n5", prefix_list="FI-NODE-n5", max_prefix=10)
    with pytest.raises(DriverError, match="would live on node profile k8s-nodes, which leaf-2 share"):
        driver.plan([peer], FabricState(device="leaf-1", revision="r0"))
    assert driver.plan([route("10.253.0.0/24", "192.168.1.60")], FabricState(device="leaf-1", revision="r0")).changes

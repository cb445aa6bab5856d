"""NetworkPolicy on ACI: address groups as external EPGs, accepts as contracts, drops as nothing.

Replayed cassettes (policy-*.json) for the documented exchanges; the stateful fake APIC for pod churn,
removal and the refusals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aci_support import Sleeps, policy_objects, policy_state, posted, with_policy
from driver_harness import DATA, desired
from fake_apic import FakeApic, error_body
from replay import Replay

from drivers.rest.aci import AciDriver
from drivers.rest.aci_policy import NO_OBJECT
from intent.errors import DriverError
from intent.inventory import parse_inventory
from intent.model import AddressGroup, DeviceObject, PolicyRule
from intent.plan import Change

A = "orchestrator:fabric-intent"
OUT = "uni/tn-k8s/out-k8s-blue"
WEB, FRONTEND, DNS = "FI-G-0d449110d0", "FI-G-3d3e285285", "FI-G-1dd42d06cc"
HAND_MADE = {f"{OUT}/instP-netops-mgmt", f"{OUT}/instP-netops-mgmt/extsubnet-[192.0.2.0/24]",
             f"{OUT}/instP-netops-mgmt/rscons-netops-ssh", "uni/tn-k8s/brc-netops-ssh", "uni/tn-k8s/flt-netops-ssh",
             "uni/tn-k8s/brc-FI-R-9a1b2c3d4e", "uni/tn-k8s/flt-FI-R-9a1b2c3d4e"}
POLICY_PLAN = {f"address-group:leaf-1:{WEB}": "update", f"address-group:leaf-1:{DNS}": "create",
               f"address-group:leaf-1:{FRONTEND}": "create", "policy-rule:leaf-1:FI-R-5e83935998": "create",
               "policy-rule:leaf-1:FI-R-73ea213f8d": "create", "policy-rule:leaf-1:FI-R-0ld0c0ffee": "delete"}


def _owned(attrs: dict[str, str], status: str = "created,modified") -> dict[str, str]:
    return {**attrs, "annotation": A, "status": status}


def _policy_changes(changes: tuple[Change, ...]) -> dict[str, Change]:
    return {c.key: c for c in changes if c.kind in ("address-group", "policy-rule")}


@pytest.fixture
def make(aci_root: Path) -> Any:
    """`make(transport, **aci_settings)` -> leaf-1's AciDriver, leaf-1 enforcing policy."""
    def build(transport: httpx.BaseTransport, **settings: Any) -> AciDriver:
        data = with_policy(yaml.safe_load((aci_root / "fabric.yaml").read_text()))
        data["drivers"]["aci"].update(settings)
        inventory = parse_inventory(data, "fabric.yaml")
        return AciDriver(inventory.switch("leaf-1"), inventory, aci_root, transport=transport, sleep=Sleeps())
    return build


@pytest.fixture
def apic() -> FakeApic:
    fake = FakeApic()
    fake.load(json.loads((DATA / "aci" / "apic-state.json").read_text())["imdata"])
    fake.load(policy_state())
    return fake


def _wanted() -> list[DeviceObject]:
    return desired("leaf-1") + policy_objects()


def _converge(make: Any, apic: FakeApic, wanted: list[DeviceObject]) -> None:
    driver = make(apic.transport)
    result = driver.apply(driver.plan(wanted, driver.observe()))
    assert not result.failed, result.error


def _plan_apply_replan(make: Any) -> tuple[Replay, Any, Any, Any, Any]:
    with Replay.load("aci", "policy-plan-apply-replan") as replay:
        driver = make(replay.transport)
        plan = driver.plan(_wanted(), driver.observe())
        result = driver.apply(plan)
        fresh = make(replay.transport)
        replan = fresh.plan(_wanted(), fresh.observe())
        again = fresh.apply(replan)
    return replay, plan, result, replan, again


# -- the replayed plan, apply and second plan -----------------------------------------------------

def test_plan_shows_groups_and_accepts_with_the_native_apic_payload(make: Any) -> None:
    _, plan, _, _, _ = _plan_apply_replan(make)
    changes = _policy_changes(plan.changes)
    assert {k: c.action for k, c in changes.items()} == POLICY_PLAN
    native = {k: [json.loads(n) for n in c.native] for k, c in changes.items()}
    rule = "FI-R-73ea213f8d"
    assert native[f"policy-rule:leaf-1:{rule}"] == [
        {"vzFilter": {"attributes": _owned({"dn": f"uni/tn-k8s/flt-{rule}", "name": rule}), "children": [
            {"vzEntry": {"attributes": _owned({"name": "e1", "etherT": "ip", "prot": "tcp", "dFromPort": "8080",
                                               "dToPort": "8080", "stateful": "yes"})}}]}},
        {"vzBrCP": {"attributes": _owned({"dn": f"uni/tn-k8s/brc-{rule}", "name": rule, "scope": "context",
                                          "descr": "fabric-intent ingress accept"}), "children": [
            {"vzSubj": {"attributes": _owned({"name": "fabric-intent", "revFltPorts": "yes"}), "children": [
                {"vzRsSubjFiltAtt": {"attributes": _owned({"tnVzFilterName": rule, "action": "permit"})}}]}}]}},
        {"fvRsProv": {"attributes": _owned({"dn": f"{OUT}/instP-{WEB}/rsprov-{rule}", "tnVzBrCPName": rule})}},
        {"fvRsCons": {"attributes": _owned({"dn": f"{OUT}/instP-{FRONTEND}/rscons-{rule}", "tnVzBrCPName": rule})}}]
    dns_rule = native["policy-rule:leaf-1:FI-R-5e83935998"]
    assert dns_rule[0]["vzFilter"]["children"][0]["vzEntry"]["attributes"]["prot"] == "udp"
    assert dns_rule[2] == {"l3extInstP": {"attributes": _owned({
        "dn": f"{OUT}/instP-FI-ANY", "name": "FI-ANY", "descr": "every address no other group holds"}), "children": [
        {"l3extSubnet": {"attributes": _owned({"ip": "0.0.0.0/0", "scope": "import-security"})}},
        {"l3extSubnet": {"attributes": _owned({"ip": "::/0", "scope": "import-security"})}}]}}
    assert dns_rule[4]["fvRsCons"]["attributes"]["dn"] == f"{OUT}/instP-FI-ANY/rscons-FI-R-5e83935998"
    assert native[f"address-group:leaf-1:{FRONTEND}"] == [{"l3extInstP": {"attributes": _owned({
        "dn": f"{OUT}/instP-{FRONTEND}", "name": FRONTEND,
        "descr": "pods (role:frontend) in namespaces (kubernetes.io/metadata.name:client)"}), "children": [
        {"l3extSubnet": {"attributes": _owned({"ip": "10.99.1.2/32", "scope": "import-security"})}}]}}]
    assert native["policy-rule:leaf-1:FI-R-0ld0c0ffee"] == [
        {"vzBrCP": {"attributes": {"dn": "uni/tn-k8s/brc-FI-R-0ld0c0ffee", "status": "deleted"}}},
        {"vzFilter": {"attributes": {"dn": "uni/tn-k8s/flt-FI-R-0ld0c0ffee", "status": "deleted"}}},
        {"fvRsProv": {"attributes": {"dn": f"{OUT}/instP-FI-ANY/rsprov-FI-R-0ld0c0ffee", "status": "deleted"}}},
        {"fvRsCons": {"attributes": {"dn": f"{OUT}/instP-{WEB}/rscons-FI-R-0ld0c0ffee", "status": "deleted"}}}]


def test_a_group_update_sends_only_the_subnets_that_come_and_go(make: Any) -> None:
    _, plan, _, _, _ = _plan_apply_replan(make)
    change = _policy_changes(plan.changes)[f"address-group:leaf-1:{WEB}"]
    assert change.details == ("- 10.99.2.9", "+ 10.99.2.2", "+ 10.99.2.3")
    assert [json.loads(n) for n in change.native] == [{"l3extInstP": {
        "attributes": {"dn": f"{OUT}/instP-{WEB}", "name": WEB}, "children": [
            {"l3extSubnet": {"attributes": _owned({"ip": "10.99.2.2/32", "scope": "import-security"})}},
            {"l3extSubnet": {"attributes": _owned({"ip": "10.99.2.3/32", "scope": "import-security"})}},
            {"l3extSubnet": {"attributes": {"ip": "10.99.2.9/32", "status": "deleted"}}}]}}]


def test_drops_and_groups_only_drops_name_have_no_apic_object(make: Any) -> None:
    _, plan, _, _, _ = _plan_apply_replan(make)
    keys = {c.key for c in plan.changes}
    assert "policy-rule:leaf-1:FI-R-370acfad85" not in keys and "address-group:leaf-1:FI-ISOLATED-IN" not in keys
    drop = next(o for o in policy_objects() if isinstance(o, PolicyRule) and o.action == "drop")
    change = Change(action="create", key=drop.key, kind=drop.kind, device="leaf-1", summary=drop.describe(),
                    after=drop)
    assert make(httpx.MockTransport(lambda r: httpx.Response(500))).render(change) == (NO_OBJECT,)


def test_a_contract_name_held_by_hand_is_a_conflict_left_alone(make: Any) -> None:
    _, plan, _, replan, _ = _plan_apply_replan(make)
    message = (f"ingress accept {FRONTEND} -> {WEB} tcp/9090-9091: the APIC holds a hand-made object in its "
               "place; fabric-intent leaves it alone and does not take it over")
    assert plan.conflicts == replan.conflicts == (message,)


def test_apply_is_one_subtree_post_with_the_policy_then_a_new_plan_is_empty(make: Any) -> None:
    replay, plan, result, replan, again = _plan_apply_replan(make)
    assert not result.failed and result.applied == tuple(c.key for c in plan.changes)
    posts = [r for r in replay.sent if r.method == "POST" and r.url.path != "/api/aaaLogin.json"]
    assert [r.url.path for r in posts] == ["/api/mo/uni/tn-k8s.json"]
    sent = {dn: status for dn, status in posted(json.loads(posts[0].content)).items()
            if "/instP-" in dn or "/brc-" in dn or "/flt-" in dn}
    web, dns, front, any_ = (f"{OUT}/instP-{n}" for n in (WEB, DNS, FRONTEND, "FI-ANY"))
    upsert = "created,modified"
    assert sent == {
        web: "", f"{web}/extsubnet-[10.99.2.2/32]": upsert, f"{web}/extsubnet-[10.99.2.3/32]": upsert,
        f"{web}/extsubnet-[10.99.2.9/32]": "deleted", f"{web}/rsprov-FI-R-73ea213f8d": upsert,
        f"{web}/rscons-FI-R-0ld0c0ffee": "deleted",
        dns: upsert, f"{dns}/extsubnet-[10.99.3.53/32]": upsert, f"{dns}/rsprov-FI-R-5e83935998": upsert,
        front: upsert, f"{front}/extsubnet-[10.99.1.2/32]": upsert, f"{front}/rscons-FI-R-73ea213f8d": upsert,
        any_: upsert, f"{any_}/extsubnet-[0.0.0.0/0]": upsert, f"{any_}/extsubnet-[::/0]": upsert,
        f"{any_}/rscons-FI-R-5e83935998": upsert, f"{any_}/rsprov-FI-R-0ld0c0ffee": "deleted",
        **{f"uni/tn-k8s/{rn}-FI-R-{r}{tail}": upsert for r in ("5e83935998", "73ea213f8d")
           for rn, tail in (("flt", ""), ("flt", "/e-e1"), ("brc", ""), ("brc", "/subj-fabric-intent"),
                            ("brc", f"/subj-fabric-intent/rssubjFiltAtt-FI-R-{r}"))},
        "uni/tn-k8s/brc-FI-R-0ld0c0ffee": "deleted", "uni/tn-k8s/flt-FI-R-0ld0c0ffee": "deleted"}
    assert replan.changes == () and replan.owned_objects == len(desired("leaf-1")) + 5
    assert (again.applied, again.failed) == ((), False) and result.revision == again.revision


def test_hand_made_epgs_and_contracts_are_read_but_never_written(make: Any) -> None:
    replay, *_ = _plan_apply_replan(make)
    read = set()
    for exchange in replay.cassette.exchanges:
        if exchange.request.method != "GET":
            continue
        body = exchange.response.body if exchange.response is not None else None
        for item in body.get("imdata", []) if isinstance(body, dict) else []:
            read |= set(posted(item))
    assert HAND_MADE - {"uni/tn-k8s/brc-netops-ssh", "uni/tn-k8s/flt-netops-ssh"} <= read  # no FI- name: not read
    written = {dn for post in replay.sent if post.method == "POST" and post.url.path.startswith("/api/mo/")
               for dn, status in posted(json.loads(post.content)).items() if status}
    assert written and not {dn for dn in written if any(dn.startswith(h) for h in HAND_MADE)}


def test_an_apic_400_on_the_contracts_is_reported_precisely_and_changes_nothing(make: Any) -> None:
    with Replay.load("aci", "policy-refused-400") as replay:
        driver = make(replay.transport)
        plan = driver.plan(_wanted(), driver.observe())
        result = driver.apply(plan)
        after = make(replay.transport).observe()
    assert result.error == (
        "leaf-1: POST /api/mo/uni/tn-k8s.json failed with HTTP 400: APIC error 801: property scope of "
        "uni/tn-k8s/brc-FI-R-5e83935998 failed validation for value 'context'; the APIC refused the change as a "
        "whole, nothing was changed")
    assert result.applied == () and result.not_applied == tuple(c.key for c in plan.changes)
    assert after.revision == plan.revision


# -- the stateful fake: churn, removal, refusals -------------------------------------------------

def _grow(objects: list[DeviceObject], group: str, address: str) -> list[DeviceObject]:
    out: list[DeviceObject] = []
    for obj in objects:
        if isinstance(obj, AddressGroup) and obj.name in (group, "FI-ISOLATED-IN"):
            obj = obj.model_copy(update={"addresses": (*obj.addresses, address)})
            obj = AddressGroup.model_validate(obj.model_dump())
        out.append(obj)
    return out


def test_a_pod_that_comes_is_one_subnet_added_and_nothing_else(make: Any, apic: FakeApic) -> None:
    _converge(make, apic, _wanted())
    grown = _grow(_wanted(), WEB, "10.99.2.4")
    driver = make(apic.transport)
    plan = driver.plan(grown, driver.observe())
    assert [(c.key, c.details) for c in plan.changes] == [(f"address-group:leaf-1:{WEB}", ("+ 10.99.2.4",))]
    driver.apply(plan)
    assert apic.posts[-1] == {"fvTenant": {"attributes": {"dn": "uni/tn-k8s"}, "children": [
        {"l3extOut": {"attributes": {"name": "k8s-blue"}, "children": [
            {"l3extInstP": {"attributes": {"name": WEB}, "children": [
                {"l3extSubnet": {"attributes": _owned({"ip": "10.99.2.4/32", "scope": "import-security"})}}]}}]}}]}}
    back = make(apic.transport)
    assert back.plan(grown, back.observe()).changes == ()
    shrunk = make(apic.transport)
    plan = shrunk.plan(_wanted(), shrunk.observe())
    assert [(c.key, c.details) for c in plan.changes] == [(f"address-group:leaf-1:{WEB}", ("- 10.99.2.4",))]
    shrunk.apply(plan)
    assert posted(apic.posts[-1]) == {"uni/tn-k8s": "", f"{OUT}": "", f"{OUT}/instP-{WEB}": "",
                                      f"{OUT}/instP-{WEB}/extsubnet-[10.99.2.4/32]": "deleted"}


def test_removing_the_policy_deletes_every_owned_object_and_no_hand_made_one(make: Any, apic: FakeApic) -> None:
    _converge(make, apic, _wanted())
    hand_made = {dn: v for dn, v in apic.mos.items() if any(dn.startswith(h) for h in HAND_MADE)}
    _converge(make, apic, desired("leaf-1"))
    policy_dns = [dn for dn in apic.mos if "/instP-" in dn or "/brc-" in dn or "/flt-" in dn]
    assert sorted(policy_dns) == sorted(hand_made)
    assert {dn: apic.mos[dn] for dn in hand_made} == hand_made


def test_a_contract_a_hand_made_epg_uses_is_not_deleted(make: Any, apic: FakeApic) -> None:
    _converge(make, apic, _wanted())
    apic.load([{"fvRsCons": {"attributes": {"dn": f"{OUT}/instP-netops-mgmt/rscons-FI-R-73ea213f8d",
                                            "tnVzBrCPName": "FI-R-73ea213f8d"}}}])
    before, posts = dict(apic.mos), len(apic.posts)
    driver = make(apic.transport)
    result = driver.apply(driver.plan(desired("leaf-1"), driver.observe()))
    assert result.error == ("leaf-1: deleting contract FI-R-73ea213f8d would break hand-made configuration that "
                            f"uses it ({OUT}/instP-netops-mgmt/rscons-FI-R-73ea213f8d); refused, nothing was sent")
    assert apic.mos == before and len(apic.posts) == posts


def test_a_damaged_owned_contract_is_written_again(make: Any, apic: FakeApic) -> None:
    _converge(make, apic, _wanted())
    del apic.mos[f"{OUT}/instP-{WEB}/rsprov-FI-R-73ea213f8d"]  # someone removed the provider relation
    driver = make(apic.transport)
    plan = driver.plan(_wanted(), driver.observe())
    assert [(c.key, c.action) for c in plan.changes] == [("policy-rule:leaf-1:FI-R-73ea213f8d", "update")]
    driver.apply(plan)
    assert f"{OUT}/instP-{WEB}/rsprov-FI-R-73ea213f8d" in apic.mos


def test_an_address_in_two_external_epgs_is_refused_at_plan_time(make: Any, apic: FakeApic) -> None:
    extra = [AddressGroup(device="leaf-1", name="FI-G-ffffffffff", description="pods [all] in namespace infra",
                          addresses=("10.99.3.53",)),
             PolicyRule(device="leaf-1", name="FI-R-ffffffffff", stage="ingress", action="accept",
                        src=FRONTEND, dst="FI-G-ffffffffff", protocol="TCP", ports=(80, 80))]
    driver = make(apic.transport)
    with pytest.raises(DriverError, match=r"ACI classifies an IP into one external EPG only, but 10\.99\.3\.53/32 is "
                                          r"in FI-G-1dd42d06cc and FI-G-ffffffffff"):
        driver.plan(_wanted() + extra, driver.observe())


def test_sctp_ports_are_refused(make: Any, apic: FakeApic) -> None:
    sctp = PolicyRule(device="leaf-1", name="FI-R-eeeeeeeeee", stage="ingress", action="accept", src=FRONTEND,
                      dst=WEB, protocol="SCTP", ports=(3868, 3868))
    driver = make(apic.transport)
    with pytest.raises(DriverError, match="ACI filter entries match ports for TCP and UDP only"):
        driver.plan(_wanted() + [sctp], driver.observe())


def test_one_leaf_per_tenant_may_enforce_policy(aci_root: Path) -> None:
    data = yaml.safe_load((aci_root / "fabric.yaml").read_text()) | {"policy": {"enforce_on": ["leaf-1", "leaf-2"]}}
    inventory = parse_inventory(data, "fabric.yaml")
    with pytest.raises(DriverError, match="leaf-1: policy.enforce_on also lists leaf-2 of APIC tenant k8s; ACI "
                                          "policy is tenant-wide, list one leaf per tenant"):
        AciDriver(inventory.switch("leaf-1"), inventory, aci_root, transport=httpx.MockTransport(
            lambda r: httpx.Response(500, json=error_body("500", "unused"))))


def test_a_leaf_not_enforcing_policy_reads_no_policy(make: Any, apic: FakeApic, aci_root: Path) -> None:
    data = yaml.safe_load((aci_root / "fabric.yaml").read_text())
    inventory = parse_inventory(data, "fabric.yaml")
    driver = AciDriver(inventory.switch("leaf-1"), inventory, aci_root, transport=apic.transport, sleep=Sleeps())
    driver.observe()
    assert not [r for r in apic.requests if "vzBrCP" in str(r.url) or "out-k8s-blue.json" in str(r.url)]
    assert "address-group" in AciDriver.capabilities.kinds and "policy-rule" in AciDriver.capabilities.kinds


def test_a_refused_step_undoes_the_policy_steps_before_it(make: Any, apic: FakeApic) -> None:
    before, count = dict(apic.mos), [0]

    def refuse_third(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and request.url.path.startswith("/api/mo/"):
            count[0] += 1
            if count[0] == 3:
                return httpx.Response(400, json=error_body("801", "property prot of uni/tn-k8s/flt-FI-R-73ea213f8d/"
                                                                  "e-e1 failed validation for value 'tcp'"))
        return None
    apic.faults.append(refuse_third)
    driver = make(apic.transport, max_changes_per_post=4)
    plan = driver.plan(_wanted(), driver.observe())
    result = driver.apply(plan)
    assert result.error is not None and result.error.endswith("(step 3 of 4); steps 1-2 were undone, nothing was "
                                                              "changed")
    assert apic.mos == before

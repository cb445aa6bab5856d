"""The nsx driver against recorded NSX exchanges: plan shows native payloads, apply sends exactly one PATCH."""

from __future__ import annotations

import json
from pathlib import Path

from driver_harness import desired, expected_plan
from nsx_scenarios import make_driver, plan, plan_and_apply, plan_and_apply_policy, policy_objects
from replay import Replay

from drivers.rest.cassette import Cassette


def _patches(cassette: Cassette) -> list[dict[str, object]]:
    return [e.request.body for e in cassette.exchanges if e.request.method != "GET"
            and e.request.path == "/policy/api/v1/infra"]


def test_plan_from_a_replayed_manager_shows_the_native_payloads(tmp_path: Path) -> None:
    with Replay.load("nsx", "plan-leaf-1") as replay:
        made = plan(make_driver(tmp_path, "leaf-1", replay.transport))
    assert {c.key: c.action for c in made.changes} == expected_plan("leaf-1")
    native = {c.key: c.native for c in made.changes}
    route = native["static-route:leaf-1:10.244.3.0/24@192.168.1.13"]
    assert route[0] == "patch /infra/tier-0s/leaf-1-BLUE/static-routes/fi-10.244.3.0_24-via-192.168.1.13"
    assert json.loads(route[1])["StaticRoutes"]["next_hops"] == [{"ip_address": "192.168.1.13", "admin_distance": 1}]
    gone = native["static-route:leaf-1:10.244.9.0/24@192.168.1.19"]
    assert gone[0] == "delete /infra/tier-0s/blue/static-routes/fi-10.244.9.0_24-via-192.168.1.19", \
        "an owned route is deleted where NSX holds it, in the hand-made VRF gateway"
    assert json.loads(gone[1]) == {"resource_type": "ChildStaticRoutes", "marked_for_delete": True,
                                   "StaticRoutes": {"resource_type": "StaticRoutes",
                                                    "id": "fi-10.244.9.0_24-via-192.168.1.19"}}
    assert made.owned_objects == 4


def test_apply_sends_one_hierarchical_patch_and_touches_only_owned_objects(tmp_path: Path) -> None:
    with Replay.load("nsx", "apply-leaf-1") as replay:
        plan_and_apply(make_driver(tmp_path, "leaf-1", replay.transport))
        writes = [r for r in replay.sent if r.method != "GET"]
    assert [(r.method, r.url.path) for r in writes] == [("POST", "/api/session/create"),
                                                         ("PATCH", "/policy/api/v1/infra")]
    (body,) = _patches(replay.cassette)
    text = json.dumps(body)
    for hand_made in ("storage", "default-route", "other-cluster-route"):
        assert hand_made not in text, f"the PATCH names the unowned object {hand_made}"
    gateways = {child.get("id") or child.get("Tier0", {}).get("id"): child["resource_type"]
                for child in body["children"]}  # type: ignore[index,union-attr]
    assert gateways == {"blue": "ChildResourceReference", "leaf-1": "ChildResourceReference",
                        "leaf-1-BLUE": "ChildTier0"}, "existing gateways are references, never rewritten"


def test_record_scrubs_the_session_of_a_live_manager(tmp_path: Path) -> None:
    from driver_harness import DATA
    from fake_nsx import FakeNsxManager

    from reconciler.record import record_device

    make_driver(tmp_path, "leaf-1", FakeNsxManager().transport)  # writes fabric.yaml and the password file
    cassette, report = record_device(tmp_path / "fabric.yaml", "leaf-1",
                                     inner=FakeNsxManager.load(DATA / "nsx" / "nsx-manager.json").transport)
    text = cassette.dumps()
    assert report.startswith("leaf-1: 4 owned object(s), revision ")
    assert "Passw0rd" not in text and "JSESSIONID=<scrubbed>" in text
    assert [e.request.path for e in cassette.exchanges][:2] == ["/api/session/create", "/policy/api/v1/infra/tier-0s"]


def test_network_policy_goes_in_the_same_patch_under_domain_default(tmp_path: Path) -> None:
    with Replay.load("nsx", "apply-policy-leaf-2") as replay:
        made = plan_and_apply_policy(make_driver(tmp_path, "leaf-2", replay.transport))
    assert [c.kind for c in made.changes] == ["static-route", "address-group", "address-group", "policy-rule",
                                              "policy-rule", "policy-rule"]
    (body,) = _patches(replay.cassette)
    domain = body["children"][-1]  # type: ignore[index]
    assert (domain["resource_type"], domain["id"], domain["target_type"]) == (
        "ChildResourceReference", "default", "Domain")
    kinds = [c["resource_type"] for c in domain["children"]]
    assert kinds == ["ChildGroup", "ChildGroup", "ChildSecurityPolicy"], "the policy is created with its first rules"
    policy = domain["children"][-1]["SecurityPolicy"]
    rules = {r["Rule"]["id"]: r["Rule"] for r in policy["children"]}
    assert rules["FI-R-shop-web-in-1"]["service_entries"] == [{
        "resource_type": "L4PortSetServiceEntry", "id": "ports", "l4_protocol": "TCP",
        "destination_ports": ["8080-8081"]}]
    assert (rules["FI-R-shop-web-in-drop"]["action"], rules["FI-R-shop-web-in-drop"]["sequence_number"]) == ("DROP", 20)
    assert {r["direction"] for r in rules.values()} == {"IN"}


def test_network_policy_converges_and_is_withdrawn_with_its_security_policy(tmp_path: Path) -> None:
    from driver_harness import DATA
    from fake_nsx import FakeNsxManager

    manager = FakeNsxManager.load(DATA / "nsx" / "nsx-manager.json")
    plan_and_apply_policy(make_driver(tmp_path, "leaf-2", manager.transport))
    again = make_driver(tmp_path, "leaf-2", manager.transport)
    assert plan(again, policy_objects()).changes == ()
    assert "/infra/domains/default/security-policies/leaf-2-fabric-intent" in manager.objects
    hand_made = manager.objects["/infra/domains/default/groups/corp-dns"]
    withdraw = again.plan(desired("leaf-2"), again.observe())  # the cluster's policies are gone
    assert {c.action for c in withdraw.changes} == {"delete"} and len(withdraw.changes) == 5
    again.apply(withdraw).raise_on_error()
    assert not [p for p in manager.objects if "leaf-2-" in p and "/domains/" in p], "groups and policy are gone"
    assert manager.objects["/infra/domains/default/groups/corp-dns"] == hand_made
    assert plan(make_driver(tmp_path, "leaf-2", manager.transport)).changes == ()


def test_replayed_rate_limit_waits_for_retry_after(tmp_path: Path) -> None:
    sleeps: list[float] = []
    with Replay.load("nsx", "throttled-429") as replay:
        driver = make_driver(tmp_path, "leaf-1", replay.transport)
        driver._sleep = sleeps.append
        assert len(driver.observe().objects) == 4
    assert 2.0 in sleeps


def test_replayed_refused_patch_names_nsx_error_and_applies_nothing(tmp_path: Path) -> None:
    with Replay.load("nsx", "patch-refused-400") as replay:
        driver = make_driver(tmp_path, "leaf-1", replay.transport)
        made = plan(driver)
        result = driver.apply(made)
    assert result.error == ("leaf-1: PATCH /policy/api/v1/infra failed with HTTP 400: NSX error 500030: The object "
                            "path=[/infra/tier-0s/leaf-1/prefix-lists/FI-NODE-n1] cannot be deleted as either it has "
                            "children or it is being referenced by other objects.")
    assert result.not_applied == tuple(c.key for c in made.changes)
    assert [r.method for r in replay.sent if r.method != "GET"] == ["POST", "PATCH"], "no undo for a refused PATCH"

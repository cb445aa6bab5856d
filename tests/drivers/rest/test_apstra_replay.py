"""The apstra driver against recorded Apstra exchanges: staging writes, one deploy, native payloads in the plan."""

from __future__ import annotations

import json
from pathlib import Path

from apstra_scenarios import make_driver, plan, plan_and_apply
from driver_harness import DATA, expected_plan
from fake_apstra import FakeApstraServer
from replay import Replay

from drivers.rest.apstra_translate import template_id

BP = "/api/blueprints/leaf-1"


def test_plan_from_a_replayed_blueprint_shows_the_native_requests(tmp_path: Path) -> None:
    with Replay.load("apstra", "plan-leaf-1") as replay:
        made = plan(make_driver(tmp_path, "leaf-1", replay.transport))
    assert {c.key: c.action for c in made.changes} == expected_plan("leaf-1")
    native = {c.key: c.native for c in made.changes}
    assert native["vrf:leaf-1:BLUE"] == (f"POST {BP}/security-zones", json.dumps(
        {"label": "BLUE", "sz_type": "evpn", "tags": ["fabric-intent:contract"], "vrf_name": "BLUE"},
        sort_keys=True, separators=(",", ":")))
    assert native["prefix-list:leaf-1:FI-NODE-n1"][0] == f"PUT {BP}/routing-policies/rp-fi-node-n1"
    route = native["static-route:leaf-1:10.244.3.0/24@192.168.1.13"]
    assert route[0] == f"POST {BP}/obj-policy-import"
    primitive = json.loads(route[1])["policies"][1]
    assert primitive["policy_type_name"] == "AttachCustomStaticRoute"
    assert primitive["attributes"] == {"network": "10.244.3.0/24", "next_hop": "192.168.1.13",
                                       "security_zone": "<id of zone:BLUE>"}, "the zone is made by the same plan"
    gone = template_id("static-route:leaf-1:10.244.9.0/24@192.168.1.19")
    assert native["static-route:leaf-1:10.244.9.0/24@192.168.1.19"] == (
        f"DELETE {BP}/endpoint-policies/{gone}?delete_recursive=true",)


def test_apply_stages_in_plan_order_then_deploys_the_staging_version(tmp_path: Path) -> None:
    with Replay.load("apstra", "apply-leaf-1") as replay:
        plan_and_apply(make_driver(tmp_path, "leaf-1", replay.transport))
        writes = [(r.method, r.url.path) for r in replay.sent if r.method != "GET"]
    route, peer = (template_id("static-route:leaf-1:10.244.9.0/24@192.168.1.19"),
                   template_id("bgp-peering:leaf-1:192.168.1.19"))
    assert writes == [("POST", "/api/aaa/login"), ("POST", f"{BP}/security-zones"),
                      ("PUT", f"{BP}/routing-policies/rp-fi-node-n1"), ("POST", f"{BP}/obj-policy-import"),
                      ("POST", f"{BP}/obj-policy-import"), ("POST", f"{BP}/obj-policy-import"),
                      ("DELETE", f"{BP}/endpoint-policies/{route}"), ("DELETE", f"{BP}/endpoint-policies/{peer}"),
                      ("PUT", f"{BP}/deploy")]
    deploy = next(e for e in replay.cassette.exchanges
                  if e.request.method == "PUT" and e.request.path.endswith("/deploy"))
    status = next(e for e in replay.cassette.exchanges if e.request.path.endswith("/diff-status"))
    assert deploy.request.query == {"async": "full"}
    assert deploy.request.body["version"] == status.response.body["staging_version"]  # type: ignore[index,union-attr]
    paths = " ".join(path for _, path in writes)
    for unowned in ("ct-storage", "sz-blue-legacy", "rp-default", "sz-default"):
        assert unowned not in paths, f"a write addressed the unowned object {unowned}"


def test_unowned_objects_are_never_changed(tmp_path: Path) -> None:
    server = FakeApstraServer.load(DATA / "apstra" / "apstra-server.json")
    staging = server.staging["leaf-1"]
    hand_made = {k: dict(staging["templates"][k]) for k in ("ct-storage", "ct-storage-bgp")}
    zones = dict(staging["security-zones"])
    driver = make_driver(tmp_path, "leaf-1", server.transport)
    plan_and_apply(driver)
    driver.apply(driver.plan([], driver.observe())).raise_on_error()  # withdraw everything fabric-intent owns
    after = server.staging["leaf-1"]
    assert {k: after["templates"].get(k) for k in hand_made} == hand_made
    visible = [t["label"] for t in after["templates"].values() if t.get("visible")]
    assert visible == ["FI 10.250.0.0/24 via 192.168.1.77", "storage array"], "another cluster's and hand-made stay"
    assert after["security-zones"] == zones
    assert [p["label"] for p in after["routing-policies"].values()] == ["Default_Immutable"]


def test_record_scrubs_the_token_of_a_live_server(tmp_path: Path) -> None:
    from reconciler.record import driver_secrets, record_device

    make_driver(tmp_path, "leaf-1", FakeApstraServer({}).transport)  # writes fabric.yaml and the password file
    server = FakeApstraServer.load(DATA / "apstra" / "apstra-server.json")
    cassette, report = record_device(tmp_path / "fabric.yaml", "leaf-1", inner=server.transport)
    text = cassette.dumps()
    assert report.startswith("leaf-1: 4 owned object(s), revision ")
    assert "Passw0rd" not in text and all(token not in text for token in server.tokens)
    driver = make_driver(tmp_path, "leaf-1", server.transport)
    driver.observe()
    held = set(driver_secrets(driver))
    assert "fake-apstra-Passw0rd" in held and held & server.tokens, "record can scrub the password and the token"


def test_replayed_422_undoes_the_staging_writes_and_names_apstra_error(tmp_path: Path) -> None:
    with Replay.load("apstra", "staging-422-undone") as replay:
        driver = make_driver(tmp_path, "leaf-1", replay.transport)
        made = plan(driver)
        result = driver.apply(made)
    assert result.error == ("leaf-1: POST /api/blueprints/leaf-1/obj-policy-import failed with HTTP 422: "
                            '{"policies":{"x":{"security_zone":"No node with id: \'sz-gone\'"}}}')
    writes = [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in replay.sent if r.method != "GET"][1:]
    assert writes[:3] == [("POST", "security-zones"), ("PUT", "rp-fi-node-n1"), ("POST", "obj-policy-import")]
    assert [m for m, _ in writes[3:]] == ["PUT", "DELETE"], "undone newest first: the policy, then the new zone"
    assert not any(path == "deploy" for _, path in writes)

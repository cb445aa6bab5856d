"""The aci driver against replayed APIC exchanges (tests/drivers/data/cassettes/aci/*.json).

Every request must be the next one the cassette holds, byte for byte after scrubbing (method, path,
query, cookie, body); every recorded exchange must be used.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aci_support import AciFactory, Sleeps
from driver_harness import desired, expected_plan
from replay import Replay

from drivers.base import ApplyResult
from drivers.rest.aci_translate import ANNOTATION, is_owned
from drivers.rest.http import ControllerBusyError, ControllerError
from intent.plan import DevicePlan

NODE_BLUE = "uni/tn-k8s/out-k8s-blue/lnodep-k8s-leaf-101/rsnodeL3OutAtt-[topology/pod-1/node-101]"


def _posts(replay: Replay) -> list[Any]:
    return [json.loads(r.content) for r in replay.sent if r.method == "POST" and r.url.path.startswith("/api/mo/")]


def _logins(replay: Replay) -> int:
    return sum(1 for r in replay.sent if r.url.path == "/api/aaaLogin.json")


def _plan_apply_replan(make_aci: AciFactory) -> tuple[Replay, DevicePlan, ApplyResult, DevicePlan, ApplyResult]:
    with Replay.load("aci", "plan-apply-replan") as replay:
        driver = make_aci(replay.transport)
        plan = driver.plan(desired("leaf-1"), driver.observe())
        result = driver.apply(plan)
        fresh = make_aci(replay.transport)
        replan = fresh.plan(desired("leaf-1"), fresh.observe())
        again = fresh.apply(replan)
    return replay, plan, result, replan, again


def test_plan_shows_the_changes_with_the_native_apic_payload(make_aci: AciFactory) -> None:
    _, plan, _, _, _ = _plan_apply_replan(make_aci)
    assert {c.key: c.action for c in plan.changes} == expected_plan("leaf-1")
    native = {c.key: [json.loads(line) for line in c.native] for c in plan.changes}
    assert native["static-route:leaf-1:10.244.3.0/24@192.168.1.13"] == [{"ipRouteP": {
        "attributes": {"dn": f"{NODE_BLUE}/rt-[10.244.3.0/24]", "ip": "10.244.3.0/24", "pref": "1",
                       "descr": "fabric-intent tag 64512", "annotation": ANNOTATION, "status": "created,modified"},
        "children": [{"ipNexthopP": {"attributes": {"nhAddr": "192.168.1.13", "pref": "unspecified",
                                                    "annotation": ANNOTATION, "status": "created,modified"}}}]}}]
    assert native["static-route:leaf-1:10.244.9.0/24@192.168.1.19"] == [
        {"ipRouteP": {"attributes": {"dn": f"{NODE_BLUE}/rt-[10.244.9.0/24]", "status": "deleted"}}}]
    assert native["vrf:leaf-1:BLUE"] == [{"tagAnnotation": {"attributes": {
        "dn": f"{NODE_BLUE}/annotationKey-[fabric-intent:vrf]", "key": "fabric-intent:vrf", "value": "BLUE",
        "status": "created,modified"}}}]
    dests = native["prefix-list:leaf-1:FI-NODE-n1"][0]["rtctrlSubjP"]["children"]
    assert [(d["rtctrlMatchRtDest"]["attributes"]["ip"], d["rtctrlMatchRtDest"]["attributes"]["status"])
            for d in dests] == [("10.244.1.0/24", "created,modified"), ("198.51.100.10/32", "created,modified"),
                                ("198.51.100.99/32", "deleted")]


def test_apply_is_one_subtree_post_then_a_new_plan_is_empty_and_sends_no_write(make_aci: AciFactory) -> None:
    replay, plan, result, replan, again = _plan_apply_replan(make_aci)
    assert not result.failed and result.applied == tuple(c.key for c in plan.changes)
    posts = [r for r in replay.sent if r.method == "POST" and r.url.path != "/api/aaaLogin.json"]
    assert [r.url.path for r in posts] == ["/api/mo/uni/tn-k8s.json"]
    body = json.loads(posts[0].content)
    assert list(body) == ["fvTenant"] and body["fvTenant"]["attributes"] == {"dn": "uni/tn-k8s"}
    assert replan.changes == () and replan.owned_objects == len(desired("leaf-1"))
    assert (again.applied, again.failed) == ((), False)
    assert result.revision == again.revision


def _dns(tree: dict[str, Any], parent: str, out: dict[str, str]) -> None:
    """dn -> status of every MO in a posted tree (children named by their naming property)."""
    from drivers.rest.aci_tree import rn_of

    ((cls, body),) = tree.items()
    attrs = body["attributes"]
    dn = attrs.get("dn") or f"{parent}/{rn_of(cls, attrs)}"
    out[dn] = attrs.get("status", "")
    for child in body.get("children", []):
        _dns(child, dn, out)


def test_hand_made_objects_in_the_replayed_state_are_never_written(make_aci: AciFactory) -> None:
    replay, *_ = _plan_apply_replan(make_aci)
    hand_made = set()
    for exchange in replay.cassette.exchanges:
        body = exchange.response.body if exchange.response is not None else None
        for item in (body or {}).get("imdata", []) if isinstance(body, dict) else []:
            ((cls, mo),) = item.items()
            attrs = mo["attributes"]
            if "dn" in attrs and not is_owned(attrs, cls):
                hand_made.add(attrs["dn"])
    assert f"{NODE_BLUE.replace('k8s-blue', 'k8s-default')}/rt-[0.0.0.0/0]" in hand_made
    written: dict[str, str] = {}
    for post in _posts(replay):
        _dns(post, "", written)
    touched = {dn for dn, status in written.items() if status}
    assert touched and not touched & hand_made, touched & hand_made


def test_an_expired_token_is_renewed_by_logging_in_again_once(make_aci: AciFactory) -> None:
    with Replay.load("aci", "relogin-403") as replay:
        state = make_aci(replay.transport).observe()
    assert len(state.objects) == 4
    assert _logins(replay) == 2
    statuses = [e.response.status for e in replay.cassette.exchanges if e.response is not None]
    assert statuses[:3] == [200, 403, 200]


def test_a_wrong_password_is_a_precise_error_without_the_password(make_aci: AciFactory) -> None:
    with Replay.load("aci", "login-401") as replay, pytest.raises(ControllerError) as caught:
        make_aci(replay.transport).observe()
    assert str(caught.value) == ("leaf-1: POST /api/aaaLogin.json (login) failed with HTTP 401: APIC error 401: "
                                 "Username or password is incorrect - FAILED local authentication")
    assert caught.value.status == 401 and "fake-apic-password" not in str(caught.value)


def test_the_token_is_refreshed_past_half_its_refresh_timeout(make_aci: AciFactory) -> None:
    now = [1000.0]
    with Replay.load("aci", "refresh") as replay:
        driver = make_aci(replay.transport, clock=lambda: now[0])
        first = driver.observe()
        now[0] += 301
        assert driver.observe() == first
    paths = [r.url.path for r in replay.sent]
    assert paths.count("/api/aaaLogin.json") == 1 and paths.index("/api/aaaRefresh.json") == 8


def test_a_refused_post_leaves_everything_as_it_was_and_says_why(make_aci: AciFactory) -> None:
    with Replay.load("aci", "apply-refused-400") as replay:
        driver = make_aci(replay.transport)
        plan = driver.plan(desired("leaf-1"), driver.observe())
        result = driver.apply(plan)
    assert result.failed and result.applied == () and result.not_applied == tuple(c.key for c in plan.changes)
    assert result.error == (
        "leaf-1: POST /api/mo/uni/tn-k8s.json failed with HTTP 400: APIC error 801: property maxPfx of "
        "uni/tn-k8s/bgpPfxP-FI-maxpfx.leaf-1.192.168.1.11 failed validation for value '0'; "
        "the APIC refused the change as a whole, nothing was changed")
    assert result.revision == plan.revision and len(_posts(replay)) == 1


def test_an_html_404_from_a_restarting_apic_is_reported_with_its_text(make_aci: AciFactory) -> None:
    with Replay.load("aci", "not-found-404") as replay, pytest.raises(ControllerError) as caught:
        make_aci(replay.transport).observe()
    assert caught.value.status == 404
    assert str(caught.value).startswith(f"leaf-1: GET /api/mo/{NODE_BLUE}.json failed with HTTP 404: 404 Not Found")
    assert str(caught.value).endswith("Cisco APIC")


def test_a_429_waits_for_retry_after_then_goes_on(make_aci: AciFactory) -> None:
    sleeps = Sleeps()
    with Replay.load("aci", "throttled-429") as replay:
        state = make_aci(replay.transport, sleep=sleeps).observe()
    assert sleeps == [3.0] and len(state.objects) == 4


def test_a_503_through_every_retry_is_a_busy_error_with_the_apic_text(make_aci: AciFactory) -> None:
    sleeps = Sleeps()
    with Replay.load("aci", "busy-503") as replay, pytest.raises(ControllerBusyError) as caught:
        make_aci(replay.transport, sleep=sleeps).observe()
    assert len(sleeps) == 4 and all(0 <= s <= 30 for s in sleeps)
    assert caught.value.retryable and caught.value.status == 503
    assert str(caught.value).endswith("refused with HTTP 503 after 4 retries: APIC error 503: Unable to process the "
                                      "query, result dataset is too big")


def test_a_read_timeout_is_retried(make_aci: AciFactory) -> None:
    sleeps = Sleeps()
    with Replay.load("aci", "read-timeout") as replay:
        state = make_aci(replay.transport, sleep=sleeps).observe()
    assert len(sleeps) == 1 and len(state.objects) == 4


def test_a_connection_reset_during_the_post_is_read_back_nothing_changed(make_aci: AciFactory) -> None:
    with Replay.load("aci", "reset-before-commit") as replay:
        driver = make_aci(replay.transport)
        plan = driver.plan(desired("leaf-1"), driver.observe())
        result = driver.apply(plan)
    assert result.failed and result.applied == ()
    assert result.error is not None
    assert "POST /api/mo/uni/tn-k8s.json could not be completed (ReadError: [Errno 104] Connection reset by peer)" \
        in result.error
    assert result.error.endswith("read back: the APIC did not take the change, nothing was changed")
    assert len(_posts(replay)) == 1, "a POST whose fate is unknown is never sent twice"


def test_a_connection_lost_after_the_apic_took_the_post_is_read_back_as_applied(make_aci: AciFactory) -> None:
    with Replay.load("aci", "reset-after-commit") as replay:
        driver = make_aci(replay.transport)
        plan = driver.plan(desired("leaf-1"), driver.observe())
        result = driver.apply(plan)
    assert not result.failed and result.applied == tuple(c.key for c in plan.changes)
    assert len(_posts(replay)) == 1


def test_reads_follow_apic_pages(make_aci: AciFactory) -> None:
    with Replay.load("aci", "paged-observe") as replay:
        paged = make_aci(replay.transport, page_size=4).observe()
    pages = [r.url.params["page"] for r in replay.sent if r.url.path.startswith("/api/mo/")]
    assert pages == ["0", "1", "0", "1", "0", "0"]  # blue: node subtree and peers 2 pages each; default: 1 each
    assert sorted(o.key for o in paged.objects) == sorted([
        "prefix-list:leaf-1:FI-NODE-n1", "bgp-peering:leaf-1:192.168.1.19",
        "static-route:leaf-1:10.244.2.0/24@192.168.1.12", "static-route:leaf-1:10.244.9.0/24@192.168.1.19"])


def test_a_refused_step_is_followed_by_posts_that_undo_the_earlier_steps(make_aci: AciFactory) -> None:
    with Replay.load("aci", "stepwise-undo") as replay:
        driver = make_aci(replay.transport, max_changes_per_post=2)
        plan = driver.plan(desired("leaf-1"), driver.observe())
        result = driver.apply(plan)
    assert result.failed and result.applied == ()
    assert result.error is not None
    assert result.error.endswith("(step 3 of 4); steps 1-2 were undone, nothing was changed")
    posts = _posts(replay)
    assert len(posts) == 5
    # the undo of step 1 restores the prefix-list entry step 1 removed and removes the VRF marker it added
    undo_step_1 = json.dumps(posts[4])
    assert '"ip": "198.51.100.99/32"' in undo_step_1
    assert '"key": "fabric-intent:vrf", "status": "deleted"' in undo_step_1

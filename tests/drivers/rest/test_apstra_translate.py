"""The pure Apstra translation: intent object <-> routing zone, routing policy, connectivity template."""

from __future__ import annotations

import pytest
from driver_harness import desired

from drivers.rest.apstra_steps import step_for
from drivers.rest.apstra_translate import (
    ApstraScope,
    check_supported,
    object_from_template,
    plain,
    policy_body,
    prefix_list_from_policy,
    revision_of,
    template_id,
    template_policies,
    vrf_from_zone,
    zone_body,
)
from intent.errors import DriverError
from intent.model import BgpPeering, PrefixList, PrefixListEntry, StaticRoute, Vrf
from intent.plan import diff

SCOPE = ApstraScope(device="leaf-1", blueprint="bp-1", cluster="prod")


def test_every_kind_round_trips() -> None:
    zones, policies = {"sz-blue": "BLUE"}, {"rp-1": "FI-NODE-n1"}
    for obj in desired("leaf-1"):
        if isinstance(obj, Vrf):
            back: object = vrf_from_zone({**zone_body(obj, SCOPE), "id": "sz-blue"}, SCOPE)
        elif isinstance(obj, PrefixList):
            back = prefix_list_from_policy(policy_body(obj, SCOPE), SCOPE)
        else:
            assert isinstance(obj, StaticRoute | BgpPeering)
            parts = template_policies(obj, SCOPE, "sz-blue", "rp-1")
            assert SCOPE.owns(parts[0]) and parts[0]["visible"] is True
            back = object_from_template(parts[0], {p["id"]: p for p in parts}, zones, policies, SCOPE)
        assert back == obj, obj.key


def test_template_ids_are_stable_per_intent_key() -> None:
    assert template_id("static-route:a:10.0.0.0/24@1.1.1.1") == template_id("static-route:a:10.0.0.0/24@1.1.1.1")
    assert template_id("static-route:a:10.0.0.0/24@1.1.1.1") != template_id("static-route:a:10.0.0.0/24@1.1.1.2")


def test_a_template_pointing_at_a_missing_zone_is_an_error() -> None:
    route = next(o for o in desired("leaf-1") if isinstance(o, StaticRoute))
    parts = template_policies(route, SCOPE, "sz-gone")
    with pytest.raises(DriverError, match="refers to routing zone 'sz-gone', which blueprint bp-1 does not hold"):
        object_from_template(parts[0], {p["id"]: p for p in parts}, {}, {}, SCOPE)


def test_prefix_lists_numbered_otherwise_are_refused() -> None:
    odd = PrefixList(device="leaf-1", name="FI-X", entries=(PrefixListEntry(seq=5, prefix="10.0.0.0/24"),))
    with pytest.raises(DriverError, match="numbered other than 10, 20, 30"):
        check_supported(odd, SCOPE)


def test_revision_ignores_server_ids_but_not_content() -> None:
    zone = {"id": "a1", "label": "BLUE", "vrf_name": "BLUE"}
    template = {"id": "t", "attributes": {"security_zone": "a1"}}
    moved = {"id": "b2", "label": "BLUE", "vrf_name": "BLUE"}
    one = revision_of([plain(zone, {"a1": "BLUE"}), plain(template, {"a1": "BLUE"})])
    two = revision_of([plain(moved, {"b2": "BLUE"}), plain({**template, "attributes": {"security_zone": "b2"}},
                                                           {"b2": "BLUE"})])
    assert one == two
    assert one != revision_of([plain({**zone, "label": "RED"}, {}), plain(template, {"a1": "BLUE"})])


def test_steps_undo_what_they_do() -> None:
    wanted, have = desired("leaf-1"), []
    for change in diff(wanted, have):
        step = step_for(change, SCOPE, {}, "/api/blueprints/bp-1")
        assert step.undo is not None
        assert (step.method, step.undo.method) in {("POST", "DELETE")}, change.key

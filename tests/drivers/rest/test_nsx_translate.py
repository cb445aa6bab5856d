"""The pure NSX translation: intent object <-> NSX body, and the hierarchical PATCH body."""

from __future__ import annotations

import pytest
from driver_harness import desired

from drivers.rest.nsx_translate import (
    NsxScope,
    Write,
    check_supported,
    infra_body,
    is_owned,
    neighbor_from_nsx,
    object_id,
    place_of,
    prefix_list_from_nsx,
    revision_of,
    route_from_nsx,
    route_key,
    to_nsx,
    vrf_from_nsx,
)
from intent.errors import DriverError
from intent.model import BgpPeering, PrefixList, StaticRoute, Vrf

SCOPE = NsxScope(device="leaf-1", gateway="t0-edge", cluster="prod")
OURS = {"scope": "fabric-intent", "tag": "prod"}


def _objects() -> dict[str, object]:
    """The first desired object of each kind on leaf-1."""
    first: dict[str, object] = {}
    for obj in desired("leaf-1"):
        first.setdefault(obj.kind, obj)
    return first


def test_every_kind_round_trips() -> None:
    for obj in desired("leaf-1"):
        body = to_nsx(obj, SCOPE)
        assert is_owned(body, SCOPE)
        if isinstance(obj, Vrf):
            back: object = vrf_from_nsx(body, SCOPE)
        elif isinstance(obj, StaticRoute):
            back = route_from_nsx(body, SCOPE, obj.vrf)
        elif isinstance(obj, PrefixList):
            back = prefix_list_from_nsx(body, SCOPE)
        else:
            assert isinstance(obj, BgpPeering)
            back = neighbor_from_nsx(body, SCOPE, obj.vrf, 65101)
        assert back == obj, obj.key


def test_bodies_follow_the_policy_schema() -> None:
    route = next(o for o in desired("leaf-1") if isinstance(o, StaticRoute) and o.prefix.version == 6)
    assert to_nsx(route, SCOPE) == {
        "resource_type": "StaticRoutes", "id": "fi-2001_db8_244_4___64-via-2001_db8_1__14",
        "display_name": "2001:db8:244:4::/64 via 2001:db8:1::14", "network": "2001:db8:244:4::/64",
        "next_hops": [{"ip_address": "2001:db8:1::14", "admin_distance": 1}],
        "tags": [OURS, {"scope": "fabric-intent/route-tag", "tag": "64512"}]}
    peer = _objects()["bgp-peering"]
    assert to_nsx(peer, SCOPE)["route_filtering"] == [{  # type: ignore[arg-type]
        "address_family": "IPV4", "enabled": True, "maximum_routes": 20,
        "in_route_filters": ["/infra/tier-0s/t0-edge/prefix-lists/FI-NODE-n1"]}]
    assert to_nsx(_objects()["vrf"], SCOPE)["vrf_config"] == {"tier0_path": "/infra/tier-0s/t0-edge"}  # type: ignore[arg-type]


def test_places_follow_the_vrf() -> None:
    route = _objects()["static-route"]
    assert place_of(route, SCOPE).path(SCOPE) == "/infra/tier-0s/t0-edge-BLUE/static-routes/" \
                                                 "fi-10.244.2.0_24-via-192.168.1.12"  # type: ignore[arg-type]
    default = route.model_copy(update={"vrf": "default"})  # type: ignore[attr-defined]
    assert place_of(default, SCOPE).gateway == "t0-edge"
    assert object_id("a/b:c d") == "a_b_c_d"


def test_tags_of_another_cluster_are_not_ours() -> None:
    assert not is_owned({"tags": [{"scope": "fabric-intent", "tag": "staging"}]}, SCOPE)
    assert not is_owned({"tags": [{"scope": "owner", "tag": "prod"}]}, SCOPE)
    assert not is_owned({}, SCOPE)


def test_a_deleted_vrf_gateway_takes_its_objects_with_it() -> None:
    vrf, route = _objects()["vrf"], _objects()["static-route"]
    writes = [Write(place=place_of(route, SCOPE), body={}, delete=True),  # type: ignore[arg-type]
              Write(place=place_of(vrf, SCOPE), body={}, delete=True)]  # type: ignore[arg-type]
    assert infra_body(writes, SCOPE) == {"resource_type": "Infra", "children": [
        {"resource_type": "ChildTier0", "marked_for_delete": True,
         "Tier0": {"resource_type": "Tier0", "id": "t0-edge-BLUE"}}]}


def test_a_new_vrf_gateway_carries_its_locale_service_and_neighbours() -> None:
    vrf, peer = _objects()["vrf"], _objects()["bgp-peering"]
    writes = [Write(place=place_of(o, SCOPE), body=to_nsx(o, SCOPE)) for o in (vrf, peer)]  # type: ignore[arg-type]
    (node,) = infra_body(writes, SCOPE)["children"]
    assert node["resource_type"] == "ChildTier0" and node["marked_for_delete"] is False
    (locale,) = node["Tier0"]["children"]
    assert locale["resource_type"] == "ChildLocaleServices"
    (bgp,) = locale["LocaleServices"]["children"]
    (neighbor,) = bgp["BgpRoutingConfig"]["children"]
    assert neighbor["BgpNeighborConfig"]["neighbor_address"] == "192.168.1.11"


def test_an_existing_gateway_is_only_referenced() -> None:
    peer = _objects()["bgp-peering"].model_copy(update={"vrf": "default"})  # type: ignore[attr-defined]
    body = infra_body([Write(place=place_of(peer, SCOPE), body=to_nsx(peer, SCOPE))], SCOPE)
    (node,) = body["children"]
    assert (node["resource_type"], node["id"], node["target_type"]) == ("ChildResourceReference", "t0-edge", "Tier0")
    (locale,) = node["children"]
    assert (locale["target_type"], locale["children"][0]["target_type"]) == ("LocaleServices", "BgpRoutingConfig")


def test_what_nsx_cannot_hold_is_refused() -> None:
    peer = _objects()["bgp-peering"]
    with pytest.raises(DriverError, match="takes the local AS from Tier-0 t0-edge BGP \\(65000\\)"):
        check_supported(peer, SCOPE, 65000)  # type: ignore[arg-type]
    check_supported(peer, SCOPE, 65101)  # type: ignore[arg-type]


def test_owned_route_with_two_next_hops_is_an_error_and_hand_made_keys_are_found() -> None:
    hops = [{"ip_address": "192.0.2.1"}, {"ip_address": "192.0.2.2"}]
    body = {"id": "r", "network": "10.0.0.0/24", "next_hops": hops, "tags": [OURS]}
    with pytest.raises(DriverError, match="has 2 next hops"):
        route_from_nsx(body, SCOPE, "default")
    assert route_key(body, "leaf-1") == "static-route:leaf-1:10.0.0.0/24@192.0.2.1"
    assert route_key({"network": "bad"}, "leaf-1") is None


def test_revision_moves_with_any_object() -> None:
    one = [{"path": "/a", "_revision": 1}, {"path": "/b", "_revision": 0}]
    assert revision_of(one) == revision_of(list(reversed(one)))
    assert revision_of(one) != revision_of([{"path": "/a", "_revision": 2}, {"path": "/b", "_revision": 0}])
    assert revision_of(one) != revision_of([*one, {"path": "/c", "_revision": 0}])


def test_policy_objects_round_trip() -> None:
    from nsx_scenarios import policy_objects

    from drivers.rest.nsx_policy import group_from_nsx, policy_to_nsx, rule_from_nsx
    from intent.model import AddressGroup, PolicyRule

    scope = SCOPE.model_copy(update={"device": "leaf-2"})
    objects = policy_objects()
    groups = {f"/infra/domains/default/groups/t0-edge-{o.name}": o.name for o in objects if isinstance(o, AddressGroup)}
    for obj in objects:
        body = policy_to_nsx(obj, scope)  # type: ignore[arg-type]
        back = group_from_nsx(body, scope) if isinstance(obj, AddressGroup) else rule_from_nsx(body, scope, groups)
        assert back == obj, obj.key
    egress = PolicyRule(device="leaf-2", name="FI-R-out", stage="egress", action="accept", src="FI-AG-a", dst=None,
                        protocol="SCTP", ports=(9000, 9000))
    body = policy_to_nsx(egress, scope)
    assert (body["direction"], body["scope"]) == ("OUT", ["/infra/domains/default/groups/t0-edge-FI-AG-a"])
    assert body["service_entries"][0]["destination_ports"] == ["9000"]
    assert rule_from_nsx(body, scope, {}) == egress.model_copy(update={"src": "t0-edge-FI-AG-a"}), \
        "a group not read back is named by its id"

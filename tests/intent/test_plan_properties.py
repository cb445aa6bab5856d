"""Properties of the diff and the plan, over random sets of realized intent objects.

Values are drawn from small pools so that desired and observed sets share keys with differing
configuration (updates), as well as keys only one side has (creates and deletes).
"""

from __future__ import annotations

import ipaddress
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from intent.errors import PlanError
from intent.model import APPLY_ORDER, BgpPeering, DeviceObject, PrefixList, PrefixListEntry, SourceRef, StaticRoute, Vrf
from intent.plan import Change, DevicePlan, Plan, apply_changes, diff, parse_plan
from intent.report import render_json, render_text

#: Enough examples to meet every pairing of the small pools; no deadline (shared CI machines are slow).
examples = settings(max_examples=100, deadline=None)

DEVICES = ("leaf-a1", "leaf-b1")
VRFS = ("default", "k8s-pods")
NODES = ("worker-a1", "worker-a2", "worker-b1")
PREFIXES = ("10.244.1.0/24", "10.244.2.0/24", "198.51.100.10/32", "fd00:10:244:1::/64", "2001:db8:100::10/128")
HOPS = ("192.168.1.11", "192.168.1.12", "fd00:192:168:1::11")

prefixes = st.sampled_from(PREFIXES).map(ipaddress.ip_network)
hops = st.sampled_from(HOPS).map(ipaddress.ip_address)
provenance = st.lists(
    st.builds(SourceRef, kind=st.sampled_from(("Node", "Service", "EndpointSlice")), name=st.sampled_from(NODES),
              namespace=st.none() | st.just("shop"), field=st.none() | st.just("spec.podCIDRs"),
              detail=st.none() | st.just("ready on worker-a1")),
    max_size=2).map(tuple)

vrfs = st.builds(Vrf, device=st.sampled_from(DEVICES), name=st.sampled_from(VRFS), provenance=provenance)
routes = st.builds(StaticRoute, device=st.sampled_from(DEVICES), vrf=st.sampled_from(VRFS), prefix=prefixes,
                   next_hop=hops, tag=st.sampled_from((64512, 100)), provenance=provenance)


@st.composite
def prefix_lists(draw: st.DrawFn) -> PrefixList:
    seqs = draw(st.lists(st.sampled_from((10, 20, 30, 40)), min_size=1, max_size=4, unique=True))
    entries = tuple(PrefixListEntry(seq=seq, prefix=draw(prefixes), action=draw(st.sampled_from(("permit", "deny"))),
                                    le=draw(st.none() | st.just(32))) for seq in seqs)
    return PrefixList(device=draw(st.sampled_from(DEVICES)), name=f"FI-NODE-{draw(st.sampled_from(NODES))}",
                      entries=entries, provenance=draw(provenance))


@st.composite
def peerings(draw: st.DrawFn) -> BgpPeering:
    node = draw(st.sampled_from(NODES))
    return BgpPeering(device=draw(st.sampled_from(DEVICES)), vrf=draw(st.sampled_from(VRFS)), neighbor=draw(hops),
                      remote_as=draw(st.sampled_from((64512, 65010, 4200000011))),
                      local_as=draw(st.none() | st.just(65101)), description=f"fabric-intent: node {node}",
                      prefix_list=f"FI-NODE-{node}", max_prefix=draw(st.sampled_from((10, 100))),
                      authenticated=draw(st.booleans()), provenance=draw(provenance))


objects = st.one_of(vrfs, routes, prefix_lists(), peerings())
object_sets = st.lists(objects, max_size=14).map(lambda objs: list({o.key: o for o in objs}.values()))


def _configs(objs: dict[str, DeviceObject] | list[DeviceObject]) -> dict[str, dict]:
    items = objs.values() if isinstance(objs, dict) else objs
    return {o.key: o.config() for o in items}


@examples
@given(object_sets)
def test_no_change_between_a_set_and_itself(graph: list[DeviceObject]) -> None:
    assert diff(graph, graph) == []


@examples
@given(object_sets, provenance)
def test_provenance_alone_is_no_change(graph: list[DeviceObject], refs: tuple[SourceRef, ...]) -> None:
    relabelled = [o.model_copy(update={"provenance": refs}) for o in graph]
    assert diff(relabelled, graph) == []


@examples
@given(object_sets, object_sets)
def test_applying_the_diff_gives_the_desired_set(desired: list[DeviceObject], observed: list[DeviceObject]) -> None:
    changes = diff(desired, observed)
    result = apply_changes({o.key: o for o in observed}, changes)
    assert _configs(result) == _configs(desired)
    assert diff(desired, list(result.values())) == []


@examples
@given(object_sets, object_sets)
def test_one_change_per_differing_key(desired: list[DeviceObject], observed: list[DeviceObject]) -> None:
    changes = diff(desired, observed)
    want, have = _configs(desired), _configs(observed)
    assert len({c.key for c in changes}) == len(changes)
    assert {c.key for c in changes if c.action == "create"} == want.keys() - have.keys()
    assert {c.key for c in changes if c.action == "delete"} == have.keys() - want.keys()
    differing = {k for k in want.keys() & have.keys() if want[k] != have[k]}
    assert {c.key for c in changes if c.action == "update"} == differing


@examples
@given(object_sets, object_sets)
def test_make_before_break_order(desired: list[DeviceObject], observed: list[DeviceObject]) -> None:
    changes = diff(desired, observed)
    actions = [c.action for c in changes]
    first_delete = actions.index("delete") if "delete" in actions else len(actions)
    assert all(a == "delete" for a in actions[first_delete:]), actions
    ranks = [APPLY_ORDER[c.kind] for c in changes]
    assert ranks[:first_delete] == sorted(ranks[:first_delete])  # vrf, prefix-list, bgp-peering, static-route
    assert ranks[first_delete:] == sorted(ranks[first_delete:], reverse=True)  # and back


@examples
@given(object_sets, object_sets)
def test_every_update_says_what_differs(desired: list[DeviceObject], observed: list[DeviceObject]) -> None:
    for change in diff(desired, observed):
        if change.action == "update":
            assert change.details, change.key
            assert change.before is not None and change.after is not None
            assert change.before.key == change.after.key == change.key


@examples
@given(prefix_lists(), st.randoms(use_true_random=False))
def test_prefix_list_entries_in_any_order_are_no_change(wanted: PrefixList, rnd: random.Random) -> None:
    """A device may list entries in another order than by seq: that is the same prefix-list."""
    entries = list(wanted.entries)
    rnd.shuffle(entries)
    as_listed = PrefixList(device=wanted.device, name=wanted.name, entries=tuple(entries))
    assert diff([wanted], [as_listed]) == []


def test_a_seq_number_is_used_once() -> None:
    entry = PrefixListEntry(seq=10, prefix=ipaddress.ip_network("10.244.1.0/24"))
    other = PrefixListEntry(seq=10, prefix=ipaddress.ip_network("198.51.100.10/32"))
    with pytest.raises(ValidationError, match="seq 10 is used by more than one entry"):
        PrefixList(device="leaf-a1", name="FI-NODE-worker-a1", entries=(entry, other))


@examples
@given(object_sets, object_sets, st.sets(st.sampled_from(DEVICES)))
def test_a_diff_limited_to_some_keys_is_the_full_diff_on_those_keys(
        desired: list[DeviceObject], observed: list[DeviceObject], devices: set[str]) -> None:
    keys = {o.key for o in desired + observed if o.device in devices}
    assert diff(desired, observed, keys=keys) == [c for c in diff(desired, observed) if c.key in keys]


def _plan(desired: list[DeviceObject], observed: list[DeviceObject], warnings: list[str],
          native: list[str]) -> Plan:
    devices = []
    for device in DEVICES:
        mine = [o for o in observed if o.device == device]
        changes = tuple(c.model_copy(update={"native": tuple(native)})
                        for c in diff([o for o in desired if o.device == device], mine))
        devices.append(DevicePlan(device=device, driver="sim", revision=f"rev-{device}-{len(mine)}",
                                  owned_objects=len(mine), changes=changes))
    return Plan(fabric="dc1", cluster="prod-east", routing_mode="bgp+static", cluster_nodes=len(desired),
                devices=tuple(devices), warnings=tuple(warnings))


texts = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30), max_size=2)


@examples
@given(object_sets, object_sets, texts, texts)
def test_a_plan_round_trips_through_json(desired: list[DeviceObject], observed: list[DeviceObject],
                                         warnings: list[str], native: list[str]) -> None:
    plan = _plan(desired, observed, warnings, native)
    document = json.loads(render_json(plan))
    again = parse_plan(document, "plan.json")
    assert again == plan
    assert render_json(again) == render_json(plan)
    assert render_text(again) == render_text(plan)
    assert document["summary"] == {"add": plan.summary.add, "change": plan.summary.change,
                                   "destroy": plan.summary.destroy, "devices": plan.summary.devices}


@examples
@given(object_sets, object_sets)
def test_an_edited_plan_is_refused(desired: list[DeviceObject], observed: list[DeviceObject]) -> None:
    document = json.loads(render_json(_plan(desired, observed, [], [])))
    document["summary"]["destroy"] += 1
    with pytest.raises(PlanError, match="the summary does not match the changes"):
        parse_plan(document, "plan.json")


def test_change_symbols() -> None:
    route = StaticRoute(device="leaf-a1", vrf="default", prefix=ipaddress.ip_network("10.244.1.0/24"),
                        next_hop=ipaddress.ip_address("192.168.1.11"), tag=64512)
    (create,) = diff([route], [])
    (delete,) = diff([], [route])
    assert isinstance(create, Change) and (create.action, create.symbol) == ("create", "+")
    assert (delete.action, delete.symbol, delete.before, delete.after) == ("delete", "-", route, None)

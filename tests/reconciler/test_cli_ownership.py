"""fabric-intent never touches what it does not own: hand-made entries of any shape survive every apply."""

from __future__ import annotations

import json
from typing import Any

from cli_support import DATA, OWNER, Run, Workspace

HANDMADE = DATA / "handmade"


def _is_owned(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("owner") == OWNER


def _hand_made(state: dict[str, Any]) -> dict[str, Any]:
    """Everything in the sim file but fabric-intent's own entries, as exact JSON text (order kept)."""
    rest = {k: v for k, v in state.items() if k != "devices"}
    devices = {name: [json.dumps(e) for e in entries if not _is_owned(e)] for name, entries in state["devices"].items()}
    return {"rest": json.dumps(rest), "devices": devices}


def _apply(ws: Workspace, cli: Run, *extra: str) -> str:
    result = cli("apply", *ws.args(), "--auto-approve", *extra)
    assert result.code == 0, result.text
    return result.out


def test_hand_made_entries_survive_apply_and_deletions(ws: Workspace, cli: Run) -> None:
    ws.overlay(HANDMADE)
    original = json.loads((HANDMADE / "state" / "sim-fabric.json").read_text())
    assert not any(_is_owned(e) for entries in original["devices"].values() for e in entries)
    expected = _hand_made(original)

    out = _apply(ws, cli)  # create everything
    assert "Plan: 16 to add, 0 to change, 0 to destroy" in out, "hand-made look-alikes are not taken as owned"
    assert _hand_made(ws.state()) == expected
    assert len(ws.owned("leaf-a1")) == 5

    ws.overlay(DATA / "scenarios" / "minus-worker-a3")  # delete one node
    assert "1 to destroy" in _apply(ws, cli)
    assert _hand_made(ws.state()) == expected

    ws.overlay(DATA / "scenarios" / "minus-worker-c2-c3")  # delete two more: a mass delete
    assert "to destroy" in _apply(ws, cli, "--allow-mass-delete")
    assert _hand_made(ws.state()) == expected
    assert {e["name"] for e in ws.owned("leaf-c1") if e["kind"] == "prefix-list"} == {"FI-NODE-worker-c1"}

    result = cli("apply", "--cluster", DATA / "empty-cluster", "--fabric", ws.fabric, "--auto-approve",
                 "--allow-mass-delete")  # withdraw everything fabric-intent owns
    assert result.code == 0, result.text
    state = ws.state()
    assert not any(_is_owned(e) for entries in state["devices"].values() for e in entries)
    assert _hand_made(state) == expected
    assert state == original, "with nothing owned left, the file holds exactly the hand-made configuration"


def test_hand_made_look_alike_of_a_desired_route_is_left_alone(ws: Workspace, cli: Run) -> None:
    # leaf-a1 holds an un-owned route to 10.244.1.0/24 (next hop .99): fabric-intent adds its own
    # route next to it and never adopts, changes or deletes the hand-made one.
    ws.overlay(HANDMADE)
    _apply(ws, cli)
    entries = ws.state()["devices"]["leaf-a1"]
    routes = [e for e in entries if isinstance(e, dict) and e.get("prefix") == "10.244.1.0/24"]
    assert [(r["next_hop"], r.get("owner")) for r in routes] == [("192.168.1.99", None), ("192.168.1.11", OWNER)]


def test_device_outside_the_inventory_is_left_alone(ws: Workspace, cli: Run) -> None:
    ws.overlay(HANDMADE)
    before = ws.state()["devices"]["legacy-fw1"]
    _apply(ws, cli)
    assert ws.state()["devices"]["legacy-fw1"] == before


def test_plan_counts_only_owned_objects(ws: Workspace, cli: Run) -> None:
    ws.overlay(HANDMADE)
    _apply(ws, cli)
    result = cli("plan", *ws.args(), "--detailed-exitcode")
    assert result.code == 0, result.text
    assert "16 objects owned by fabric-intent before" in result.out


def test_hand_made_twin_of_a_desired_object_is_never_taken_over(ws: Workspace, cli: Run) -> None:
    # leaf-a1 holds a hand-made route with the very prefix and next hop fabric-intent wants, and
    # leaf-c1 a hand-made session to a node's address: both are reported and left alone.
    ws.overlay(DATA / "handmade-twin")
    original = ws.state()
    plan = cli("plan", *ws.args())
    assert plan.code == 0, plan.text
    assert "Plan: 14 to add, 0 to change, 0 to destroy" in plan.out
    assert "! left alone: static route 10.244.1.0/24 via 192.168.1.11: the device holds hand-made" in plan.out
    assert "! left alone: bgp neighbor 192.168.3.12 remote-as 64603: the device holds hand-made" in plan.out
    _apply(ws, cli)
    after = _hand_made(ws.state())["devices"]
    assert {d: after[d] for d in original["devices"]} == _hand_made(original)["devices"]
    assert not [e for e in ws.owned("leaf-a1") if e["prefix"] == "10.244.1.0/24"]
    again = cli("plan", *ws.args(), "--detailed-exitcode")
    assert again.code == 0 and "left alone: static route 10.244.1.0/24" in again.out, again.text

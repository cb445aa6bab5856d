"""The safety rules: stale and hand-edited saved plans, mass deletion, an empty cluster view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import DATA, Run, Workspace

from intent.plan import digest_of

EDITS = yaml.safe_load((DATA / "plan-edits.yaml").read_text())
EMPTY_CLUSTER = DATA / "empty-cluster"
MASS_DELETE = "the plan deletes 4 of 16 objects fabric-intent owns (25 %), over the 10 % limit"
EMPTY_VIEW = "refusing to plan from an empty cluster view (no Node)"


def _apply(ws: Workspace, cli: Run, *extra: str | Path) -> None:
    result = cli("apply", *ws.args(), "--auto-approve", *extra)
    assert result.code == 0, result.text


def _save_plan(ws: Workspace, cli: Run, path: Path, *extra: str | Path) -> dict[str, Any]:
    result = cli("plan", *ws.args(), "--format", "json", "--out", path, *extra)
    assert result.code == 0, result.text
    return json.loads(path.read_text())


def _netops_change(ws: Workspace) -> None:
    """A hand-made change on the fabric, as data/netops-change.json describes it."""
    change = json.loads((DATA / "netops-change.json").read_text())
    state = ws.state()
    state["devices"][change["device"]].append(change["entry"])
    ws.state_file.write_text(json.dumps(state, indent=2) + "\n")


# -- stale plans -------------------------------------------------------------------------------

def test_plan_made_before_an_apply_is_stale(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    _save_plan(ws, cli, saved)
    _apply(ws, cli)  # the fabric changes after the plan was saved
    before = ws.files()
    result = cli("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve")
    assert result.code == 1, result.text
    assert "error: leaf-a1: the device changed since the plan was made; nothing was applied" in result.err
    assert ws.files() == before


def test_hand_made_change_on_any_device_makes_the_plan_stale(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    _apply(ws, cli)
    ws.overlay(DATA / "scenarios" / "minus-worker-a3")
    saved = tmp_path / "plan.json"
    document = _save_plan(ws, cli, saved)
    assert {d["device"] for d in document["devices"] if d["changes"]} == {"leaf-a1"}
    _netops_change(ws)  # on leaf-b1, which the plan does not change: the plan is still refused whole
    before = ws.files()
    result = cli("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve")
    assert result.code == 1, result.text
    assert "leaf-b1: the device changed since the plan was made; nothing was applied" in result.err
    assert ws.files() == before


def test_a_fresh_plan_after_a_hand_made_change_applies(ws: Workspace, cli: Run) -> None:
    _apply(ws, cli)
    _netops_change(ws)
    ws.overlay(DATA / "scenarios" / "minus-worker-a3")
    _apply(ws, cli)
    assert cli("plan", *ws.args(), "--detailed-exitcode").code == 0


# -- hand-edited plans -------------------------------------------------------------------------

def _edit(document: Any, path: list[Any], edit: dict[str, Any]) -> None:
    *parents, last = path
    for step in parents:
        document = document[step]
    if edit.get("delete"):
        del document[last]
    else:
        document[last] = edit["set"]


def _base_plan(ws: Workspace, cli: Run, base: str, path: Path) -> None:
    if base == "minus-worker-a3":
        _apply(ws, cli)
        ws.overlay(DATA / "scenarios" / "minus-worker-a3")
    else:
        assert base == "fresh", base
    _save_plan(ws, cli, path)


@pytest.mark.parametrize("case", EDITS, ids=[e["name"] for e in EDITS])
def test_hand_edited_plan_is_refused(case: dict[str, Any], ws: Workspace, cli: Run, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    _base_plan(ws, cli, case["base"], saved)
    if "text" in case:
        saved.write_text(case["text"])
    else:
        document = json.loads(saved.read_text())
        for edit in case["edits"]:
            _edit(document, edit["path"], edit)
        if not case.get("stale_digest"):  # an editor who also recomputes the digest: the deeper checks must hold
            document["digest"] = digest_of(document)
        saved.write_text(json.dumps(document, indent=2))
    before = ws.files()
    result = cli("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve", "--allow-mass-delete")
    assert result.code == 1, result.text
    for expected in case["expect"]:
        assert expected in result.err, f"{expected!r} not in:\n{result.err}"
    assert "Apply complete" not in result.out
    assert ws.files() == before


def test_unedited_saved_plans_apply(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    # Guards the test above: both base plans apply as saved.
    fresh = tmp_path / "fresh.json"
    _save_plan(ws, cli, fresh)
    assert cli("apply", "--plan", fresh, "--fabric", ws.fabric, "--auto-approve").code == 0
    later = tmp_path / "later.json"
    ws.overlay(DATA / "scenarios" / "minus-worker-a3")
    _save_plan(ws, cli, later)
    assert cli("apply", "--plan", later, "--fabric", ws.fabric, "--auto-approve").code == 0


# -- mass deletion -----------------------------------------------------------------------------

def test_small_deletion_needs_no_flag(ws: Workspace, cli: Run) -> None:
    _apply(ws, cli)
    ws.overlay(DATA / "scenarios" / "minus-worker-a3")  # 1 of 16 owned objects
    result = cli("apply", *ws.args(), "--auto-approve")
    assert result.code == 0, result.text
    assert "Plan: 0 to add, 0 to change, 1 to destroy" in result.out


def test_mass_delete_is_refused_without_the_flag(ws: Workspace, cli: Run) -> None:
    _apply(ws, cli)
    ws.overlay(DATA / "scenarios" / "minus-worker-c2-c3")
    before = ws.files()
    planned = cli("plan", *ws.args(), "--detailed-exitcode")
    assert planned.code == 1
    assert MASS_DELETE in planned.err
    assert "--allow-mass-delete" in planned.err
    assert "Plan: 0 to add, 0 to change, 4 to destroy" in planned.out, "the refused plan is still shown"
    applied = cli("apply", *ws.args(), "--auto-approve")
    assert applied.code == 1
    assert MASS_DELETE in applied.err
    assert "applying" not in applied.err
    assert ws.files() == before


def test_mass_delete_is_applied_with_the_flag(ws: Workspace, cli: Run) -> None:
    _apply(ws, cli)
    ws.overlay(DATA / "scenarios" / "minus-worker-c2-c3")
    assert cli("plan", *ws.args(), "--detailed-exitcode", "--allow-mass-delete").code == 2
    result = cli("apply", *ws.args(), "--auto-approve", "--allow-mass-delete")
    assert result.code == 0, result.text
    assert "Apply complete: 4 change(s) applied on 1 device(s)." in result.out
    names = {e.get("name") or e.get("neighbor") for e in ws.owned("leaf-c1")}
    assert names == {"FI-NODE-worker-c1", "192.168.3.11"}
    assert cli("plan", *ws.args(), "--detailed-exitcode").code == 0


def test_saved_mass_delete_plan_needs_the_flag_at_apply_too(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    _apply(ws, cli)
    ws.overlay(DATA / "scenarios" / "minus-worker-c2-c3")
    saved = tmp_path / "plan.json"
    _save_plan(ws, cli, saved, "--allow-mass-delete")
    before = ws.files()
    refused = cli("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve")
    assert refused.code == 1
    assert MASS_DELETE in refused.err
    assert ws.files() == before
    accepted = cli("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve", "--allow-mass-delete")
    assert accepted.code == 0, accepted.text
    assert len(ws.owned("leaf-c1")) == 2


# -- an empty cluster view ---------------------------------------------------------------------

def test_empty_cluster_view_is_refused(ws: Workspace, cli: Run) -> None:
    _apply(ws, cli)
    before = ws.files()
    for command in (["plan", "--detailed-exitcode"], ["apply", "--auto-approve"]):
        result = cli(*command, "--cluster", EMPTY_CLUSTER, "--fabric", ws.fabric)
        assert result.code == 1, result.text
        assert EMPTY_VIEW in result.err
        assert "pass --allow-mass-delete" in result.err
    assert ws.files() == before


def test_empty_cluster_view_on_an_empty_fabric_is_refused_too(ws: Workspace, cli: Run) -> None:
    # Nothing to delete, but an empty view is never trusted without the flag.
    result = cli("plan", "--cluster", EMPTY_CLUSTER, "--fabric", ws.fabric)
    assert result.code == 1
    assert EMPTY_VIEW in result.err


def test_empty_cluster_view_is_applied_with_the_flag(ws: Workspace, cli: Run) -> None:
    _apply(ws, cli)
    seed = json.loads((ws.root / "sim-seed.json").read_text())
    result = cli("apply", "--cluster", EMPTY_CLUSTER, "--fabric", ws.fabric, "--auto-approve", "--allow-mass-delete")
    assert result.code == 0, result.text
    assert "Apply complete: 16 change(s) applied on 3 device(s)." in result.out
    state = ws.state()
    assert state["devices"] == seed["devices"], "only the hand-made seed entries remain"

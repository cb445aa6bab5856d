"""The installed `fabric-intent` console script, run for real in a subprocess: entry point and exit codes."""

from __future__ import annotations

import json

from cli_support import Run, Workspace


def test_plan_apply_plan_exit_codes(ws: Workspace, script: Run) -> None:
    pending = script("plan", *ws.args(), "--detailed-exitcode")
    assert pending.code == 2, pending.text
    assert "Plan: 16 to add" in pending.out
    applied = script("apply", *ws.args(), "--auto-approve")
    assert applied.code == 0, applied.text
    assert "leaf-c1: done" in applied.err
    converged = script("plan", *ws.args(), "--detailed-exitcode")
    assert converged.code == 0, converged.text
    assert "No changes" in converged.out


def test_apply_without_an_answer_changes_nothing(ws: Workspace, script: Run) -> None:
    result = script("apply", *ws.args())  # stdin is /dev/null: no "yes" ever comes
    assert result.code == 1, result.text
    assert "nothing was changed" in result.err
    assert not ws.state_dir.exists()


def test_apply_with_yes_on_stdin(ws: Workspace, script: Run) -> None:
    result = script("apply", *ws.args(), stdin="yes\n")
    assert result.code == 0, result.text
    assert len(ws.owned("leaf-a1")) == 5


def test_saved_plan_round_trip(ws: Workspace, script: Run) -> None:
    saved = ws.root / "plan.json"
    assert script("plan", *ws.args(), "--format", "json", "--out", saved).code == 0
    assert json.loads(saved.read_text())["summary"]["add"] == 16
    result = script("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve")
    assert result.code == 0, result.text
    assert script("plan", *ws.args(), "--detailed-exitcode").code == 0


def test_errors_exit_1(ws: Workspace, script: Run) -> None:
    usage = script("plan", "--fabric", ws.fabric)
    assert usage.code == 1, usage.text
    assert "Missing option '--cluster'" in usage.err
    bad = script("plan", "--cluster", ws.root / "missing", "--fabric", ws.fabric, "--detailed-exitcode")
    assert bad.code == 1
    assert "no such file or folder" in bad.err


def test_runs_from_any_folder(ws: Workspace, script: Run) -> None:
    # Relative paths resolve against the working folder; the sim state against the inventory's folder.
    result = script("plan", "--cluster", "cluster", "--fabric", "fabric.yaml", "--detailed-exitcode", cwd=ws.root)
    assert result.code == 2, result.text
    drivers = script("drivers", cwd=ws.root)
    assert drivers.code == 0 and drivers.out.startswith("sim")

"""plan -> apply -> plan on a copy of the samples; the JSON plan and its schema; approval; saved plans."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cli_support import DATA, ROOT, Run, Workspace

from intent.plan import Plan, Summary

SCHEMA_FILE = ROOT / "docs" / "plan.schema.json"
DEVICES_WITH_CHANGES = {"leaf-a1": 5, "leaf-b1": 5, "leaf-c1": 6}  # the sample cluster on the seeded fabric


def plan_schema() -> dict[str, Any]:
    """docs/plan.schema.json once it exists; until then the `Plan` model's schema plus the summary."""
    if SCHEMA_FILE.exists():
        return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    schema = Plan.model_json_schema()
    schema.setdefault("$defs", {})["Summary"] = Summary.model_json_schema()
    schema["properties"]["summary"] = {"$ref": "#/$defs/Summary"}
    schema["required"] = [*schema["required"], "summary"]
    return schema


def validate(document: Any) -> None:
    schema = plan_schema()
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    validator(schema).validate(document)


def owned_configs(ws: Workspace) -> set[str]:
    """Every owned entry on the fabric, as canonical JSON (owner marker left out)."""
    return {json.dumps({k: v for k, v in e.items() if k != "owner"}, sort_keys=True)
            for device in ws.state()["devices"] for e in ws.owned(device)}


def plan_afters(document: dict[str, Any]) -> set[str]:
    return {json.dumps({k: v for k, v in c["after"].items() if k != "provenance"}, sort_keys=True)
            for d in document["devices"] for c in d["changes"] if c["after"] is not None}


def test_plan_then_apply_then_plan_converges(ws: Workspace, cli: Run) -> None:
    first = cli("plan", *ws.args(), "--detailed-exitcode")
    assert first.code == 2, first.text
    assert "Plan: 16 to add, 0 to change, 0 to destroy on 3 devices" in first.out
    assert "+ static route 10.244.3.0/24 via 192.168.1.13" in first.out
    assert "<- Node worker-a3 .spec.podCIDRs" in first.out
    assert not ws.state_dir.exists(), "plan must not write the fabric"

    assert cli("plan", *ws.args()).code == 0, "without --detailed-exitcode, pending changes still exit 0"

    applied = cli("apply", *ws.args(), "--auto-approve")
    assert applied.code == 0, applied.text
    assert "Apply complete: 16 change(s) applied on 3 device(s)." in applied.out

    second = cli("plan", *ws.args(), "--detailed-exitcode")
    assert second.code == 0, second.text
    assert "No changes. The fabric matches the intent." in second.out
    assert "16 objects owned by fabric-intent before" in second.out


def test_apply_prints_progress_per_device(ws: Workspace, cli: Run) -> None:
    result = cli("apply", *ws.args(), "--auto-approve")
    assert result.code == 0, result.text
    for device, count in DEVICES_WITH_CHANGES.items():
        assert f"{device}: add/change: applying {count} change(s)" in result.err
        assert f"{device}: done" in result.err
    assert "spine-1:" not in result.err, "devices without changes are not worked on"
    order = [result.err.index(f"{d}: done") for d in DEVICES_WITH_CHANGES]
    assert order == sorted(order), "devices are applied in plan order"


def test_json_plan_validates_against_the_schema(ws: Workspace, cli: Run) -> None:
    result = cli("plan", *ws.args(), "--format", "json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    validate(document)
    assert document["summary"] == {"add": 16, "change": 0, "destroy": 0, "devices": 3}
    assert [d["device"] for d in document["devices"]] == ["spine-1", "spine-2", "leaf-a1", "leaf-b1", "leaf-c1"]
    assert all(len(d["revision"]) == 64 for d in document["devices"])

    # ... and after some deletions and an update (another shape of the same document)
    assert cli("apply", *ws.args(), "--auto-approve").code == 0
    ws.overlay(DATA / "scenarios" / "minus-worker-c2-c3")
    later = json.loads(cli("plan", *ws.args(), "--format", "json").out)
    validate(later)
    assert later["summary"]["destroy"] == 4


def test_the_schema_rejects_a_broken_plan(ws: Workspace, cli: Run) -> None:
    # Guards the test above against a schema that accepts anything.
    document = json.loads(cli("plan", *ws.args(), "--format", "json").out)
    for mutate in (lambda d: d["devices"][2]["changes"][0].update(action="destroy"),
                   lambda d: d.pop("devices"),
                   lambda d: d["summary"].update(add="sixteen")):
        broken = copy.deepcopy(document)
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_plan_out_writes_the_report_to_a_file(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = cli("plan", *ws.args(), "--format", "json", "--out", out)
    assert result.code == 0
    assert result.out == ""
    assert f"wrote {out}" in result.err
    assert json.loads(out.read_text()) == json.loads(cli("plan", *ws.args(), "--format", "json").out)


def test_markdown_plan(ws: Workspace, cli: Run) -> None:
    result = cli("plan", *ws.args(), "--format", "markdown")
    assert result.code == 0
    assert result.out.startswith("## fabric-intent plan: cluster `prod-east` on fabric `dc1`")
    assert "### leaf-c1 (`sim`)" in result.out
    assert "```text" in result.out


@pytest.mark.parametrize("typed", ["", "n\n", "no\n"], ids=["no-input", "n", "no"])
def test_apply_without_approval_changes_nothing(ws: Workspace, cli: Run, typed: str) -> None:
    result = cli("apply", *ws.args(), stdin=typed)
    assert result.code == 1, result.text
    assert "Apply these changes to the fabric?" in result.out
    assert "nothing was changed" in result.err
    assert not ws.state_dir.exists()
    assert "applying" not in result.err


def test_apply_with_yes_applies(ws: Workspace, cli: Run) -> None:
    result = cli("apply", *ws.args(), stdin="yes\n")
    assert result.code == 0, result.text
    assert "Apply complete: 16 change(s)" in result.out
    assert len(owned_configs(ws)) == 16


def test_apply_with_nothing_to_do_does_not_ask(ws: Workspace, cli: Run) -> None:
    assert cli("apply", *ws.args(), "--auto-approve").code == 0
    before = ws.files()
    result = cli("apply", *ws.args())  # no --auto-approve, no input: must not need one
    assert result.code == 0, result.text
    assert "No changes" in result.out
    assert "Apply these changes" not in result.out
    assert ws.files() == before


def test_apply_saved_plan_applies_exactly_that_plan(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert cli("plan", *ws.args(), "--format", "json", "--out", saved).code == 0
    document = json.loads(saved.read_text())
    # The cluster moves on (worker-a3 leaves) after the plan was saved: `apply --plan` still applies
    # the saved plan, route to worker-a3 included, and never re-plans from the cluster.
    ws.overlay(DATA / "scenarios" / "minus-worker-a3")
    result = cli("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve")
    assert result.code == 0, result.text
    assert "Apply complete: 16 change(s) applied on 3 device(s)." in result.out
    assert owned_configs(ws) == plan_afters(document)
    assert any('"10.244.3.0/24"' in c for c in owned_configs(ws))
    # and the live cluster now asks for exactly the one deletion
    follow_up = cli("plan", *ws.args(), "--detailed-exitcode")
    assert follow_up.code == 2
    assert "Plan: 0 to add, 0 to change, 1 to destroy on 1 device" in follow_up.out
    assert "- static route 10.244.3.0/24 via 192.168.1.13" in follow_up.out


def test_apply_saved_deletion_plan(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    assert cli("apply", *ws.args(), "--auto-approve").code == 0
    ws.overlay(DATA / "scenarios" / "minus-worker-a3")
    saved = tmp_path / "plan.json"
    assert cli("plan", *ws.args(), "--format", "json", "--out", saved).code == 0
    before = owned_configs(ws)
    result = cli("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve")
    assert result.code == 0, result.text
    gone = before - owned_configs(ws)
    assert len(gone) == 1 and '"10.244.3.0/24"' in gone.pop()
    assert owned_configs(ws) < before
    assert cli("plan", *ws.args(), "--detailed-exitcode").code == 0


def test_saved_plan_without_changes(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    assert cli("apply", *ws.args(), "--auto-approve").code == 0
    saved = tmp_path / "plan.json"
    assert cli("plan", *ws.args(), "--format", "json", "--out", saved).code == 0
    before = ws.files()
    result = cli("apply", "--plan", saved, "--fabric", ws.fabric)
    assert result.code == 0
    assert "No changes" in result.out
    assert ws.files() == before


def test_saved_plan_is_asked_for_approval_too(ws: Workspace, cli: Run, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert cli("plan", *ws.args(), "--format", "json", "--out", saved).code == 0
    result = cli("apply", "--plan", saved, "--fabric", ws.fabric)
    assert result.code == 1
    assert not ws.state_dir.exists()

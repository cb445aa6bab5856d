"""Table-driven cases for the pure core: cluster snapshot + inventory (+ what devices hold) -> plan report.

Every folder under `cases/` is one case (see `cases/README.md`):

* `cluster/` — kubectl-style YAML (`kind: List`), one or more files;
* `fabric.yaml` — the fabric inventory; its leading comment says what the case is about;
* `observed.json` — optional: what the devices hold before (a `fabric-intent-sim/1` state file,
  hand-made entries included);
* `expected-plan.txt` (the text report, no colour) or `expected-error.txt` (the problems, one a line).

The run is the real pipeline: load the files, build the intent graph, observe every device through
the sim driver reading `observed.json`, plan with `Fabric.plan` (production defaults, so the
mass-delete guard is on), render as text. Paths in messages are relative to the case folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.fabric import Fabric
from drivers.sim import SimDriver
from intent.build import build_intent
from intent.errors import FabricIntentError, InputError
from intent.model import OWNER, IntentGraph
from intent.plan import FabricState, Plan, apply_changes, check_mass_delete, parse_plan
from intent.report import render_json, render_text
from reconciler.files import load_cluster, load_inventory

CASES = Path(__file__).resolve().parent / "cases"
CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir())
PLAN_CASES = [p for p in CASE_DIRS if (p / "expected-plan.txt").exists()]
ERROR_CASES = [p for p in CASE_DIRS if (p / "expected-error.txt").exists()]


@dataclass
class Outcome:
    graph: IntentGraph
    states: dict[str, FabricState]
    plan: Plan


def run_case(case: Path) -> Outcome:
    """The whole pipeline for one case folder; raises what the core raises."""
    cluster = load_cluster(case / "cluster")
    inventory = load_inventory(case / "fabric.yaml")
    graph = build_intent(cluster, inventory)
    sim_inventory = inventory.model_copy(update={"drivers": {"sim": {"state_file": "observed.json"}}})
    fabric = Fabric(inventory, {s.name: SimDriver(s, sim_inventory, case) for s in inventory.switches})
    states = fabric.observe()
    plan = fabric.plan(graph, states, cluster_nodes=len(cluster.nodes))
    check_mass_delete(plan, allow_mass_delete=False)  # as `plan` and `apply` do without --allow-mass-delete
    return Outcome(graph, states, plan)


def problems_of(error: FabricIntentError) -> list[str]:
    return list(error.problems) if isinstance(error, InputError) else str(error).splitlines()


@pytest.fixture
def in_case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from inside the case folder, so messages carry the paths a user there would see."""
    case: Path = request.param
    monkeypatch.chdir(case)
    return Path(".")


def _ids(cases: list[Path]) -> list[str]:
    return [c.name for c in cases]


def test_every_case_folder_is_complete() -> None:
    assert len(CASE_DIRS) >= 20, "the case folders were not found"
    for case in CASE_DIRS:
        assert (case / "fabric.yaml").is_file(), f"{case.name}: no fabric.yaml"
        assert (case / "cluster").is_dir(), f"{case.name}: no cluster/ folder"
        expected = [(case / name).exists() for name in ("expected-plan.txt", "expected-error.txt")]
        assert sum(expected) == 1, f"{case.name}: needs exactly one of expected-plan.txt, expected-error.txt"


@pytest.mark.parametrize("in_case", PLAN_CASES, ids=_ids(PLAN_CASES), indirect=True)
def test_plan_report(in_case: Path) -> None:
    expected = (in_case / "expected-plan.txt").read_text(encoding="utf-8")
    assert render_text(run_case(in_case).plan) == expected


@pytest.mark.parametrize("in_case", ERROR_CASES, ids=_ids(ERROR_CASES), indirect=True)
def test_error(in_case: Path) -> None:
    expected = (in_case / "expected-error.txt").read_text(encoding="utf-8").splitlines()
    with pytest.raises(FabricIntentError) as info:
        run_case(in_case)
    assert problems_of(info.value) == expected


@pytest.mark.parametrize("in_case", PLAN_CASES, ids=_ids(PLAN_CASES), indirect=True)
def test_plan_brings_every_device_to_the_intent(in_case: Path) -> None:
    """What a perfect device holds after the plan is exactly the graph's share for it."""
    outcome = run_case(in_case)
    for device_plan in outcome.plan.devices:
        held = {o.key: o for o in outcome.states[device_plan.device].objects}
        after = apply_changes(held, device_plan.changes)
        wanted = {o.key: o.config() for o in outcome.graph.for_device(device_plan.device)}
        assert {k: o.config() for k, o in after.items()} == wanted, device_plan.device


@pytest.mark.parametrize("in_case", PLAN_CASES, ids=_ids(PLAN_CASES), indirect=True)
def test_plan_touches_owned_objects_only(in_case: Path) -> None:
    """Updates and deletes name only what the device holds as fabric-intent's; hand-made entries never appear."""
    outcome = run_case(in_case)
    observed = in_case / "observed.json"
    devices = json.loads(observed.read_text(encoding="utf-8"))["devices"] if observed.exists() else {}
    for device_plan in outcome.plan.devices:
        owned = {o.key for o in outcome.states[device_plan.device].objects}
        touched = {c.key for c in device_plan.changes if c.action != "create"}
        assert touched <= owned, device_plan.device
        entries = devices.get(device_plan.device, [])
        owned_entries = [e for e in entries if isinstance(e, dict) and e.get("owner") == OWNER]
        assert device_plan.owned_objects == len(owned_entries), device_plan.device


@pytest.mark.parametrize("in_case", PLAN_CASES, ids=_ids(PLAN_CASES), indirect=True)
def test_plan_survives_json_and_is_deterministic(in_case: Path) -> None:
    first, second = run_case(in_case).plan, run_case(in_case).plan
    assert render_json(first) == render_json(second)
    again = parse_plan(json.loads(render_json(first)), "plan.json")
    assert again == first
    assert render_text(again) == render_text(first)

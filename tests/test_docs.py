"""The documentation stays true: the committed plan schema, real plans against it, and every link."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from drivers.fabric import Fabric
from intent.build import build_intent
from intent.inventory import parse_inventory
from intent.report import plan_json_schema, render_json, render_text
from reconciler.files import load_cluster, load_inventory

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "plan.schema.json"
REGENERATE = ("python -c 'import json; from intent.report import plan_json_schema; "
              "print(json.dumps(plan_json_schema(), indent=2))' > docs/plan.schema.json")


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _errors(document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator().iter_errors(document)]


@pytest.fixture
def fabric_dir(tmp_path: Path) -> Path:
    """The sample inventory and seed in a folder of their own, so the simulated fabric starts from the seed."""
    for name in ("fabric.yaml", "sim-seed.json"):
        shutil.copy(ROOT / "samples" / name, tmp_path / name)
    return tmp_path


def _plan_document(fabric_dir: Path, cluster: Any = None, **inventory_changes: Any) -> tuple[Fabric, Any, dict]:
    inventory = load_inventory(fabric_dir / "fabric.yaml").model_copy(update=inventory_changes)
    snapshot = cluster if cluster is not None else load_cluster(ROOT / "samples" / "cluster")
    fabric = Fabric.from_inventory(inventory, fabric_dir)
    plan = fabric.plan(build_intent(snapshot, inventory), fabric.observe(), cluster_nodes=len(snapshot.nodes))
    return fabric, plan, json.loads(render_json(plan))


def test_committed_schema_is_generated() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == plan_json_schema(), f"docs/plan.schema.json is out of date; regenerate it: {REGENERATE}"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json.dumps(plan_json_schema(), indent=2) + "\n", REGENERATE


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_sample_plan_validates(fabric_dir: Path) -> None:
    _, plan, document = _plan_document(fabric_dir)
    assert plan.summary.add > 0 and {"static-route", "prefix-list", "bgp-peering"} <= {c.kind for c in plan.changes}
    assert _errors(document) == []


def test_plan_with_updates_and_deletes_validates(fabric_dir: Path) -> None:
    fabric, first, _ = _plan_document(fabric_dir)
    assert not any(r.failed for r in fabric.apply(first))
    full = load_cluster(ROOT / "samples" / "cluster")
    smaller = dataclasses.replace(full, nodes={k: v for k, v in full.nodes.items() if k != "worker-a3"})
    bgp = load_inventory(fabric_dir / "fabric.yaml").bgp.model_copy(update={"max_prefix": 30})
    _, plan, document = _plan_document(fabric_dir, smaller, bgp=bgp)
    assert {c.action for c in plan.changes} == {"update", "delete"}
    assert _errors(document) == []


def test_schema_rejects_what_apply_rejects(fabric_dir: Path) -> None:
    _, _, document = _plan_document(fabric_dir)
    change = next(c for d in document["devices"] for c in d["changes"])
    change["action"] = "replace"
    del document["summary"]["destroy"]
    document["extra"] = True
    errors = _errors(document)
    assert any("replace" in e for e in errors) and any("destroy" in e for e in errors)
    assert any("extra" in e for e in errors)


def test_sample_plan_in_docs_is_real(fabric_dir: Path) -> None:
    _, plan, _ = _plan_document(fabric_dir)
    text = (ROOT / "docs" / "plan.md").read_text(encoding="utf-8")
    shown = re.search(r"<!-- sample-plan:text -->\n```text\n(.*?)```", text, re.DOTALL)
    assert shown is not None, "docs/plan.md lost its sample-plan:text block"
    assert shown.group(1) == render_text(plan), "docs/plan.md: the sample plan differs from what the samples give now"


def test_inventory_examples_in_docs_are_valid() -> None:
    text = (ROOT / "docs" / "inventory.md").read_text(encoding="utf-8")
    examples = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL) if re.search(r"^fabric:", b, re.MULTILINE)]
    assert examples, "docs/inventory.md has no complete inventory example"
    for example in examples:
        inventory = parse_inventory(yaml.safe_load(example), "docs/inventory.md")
        assert inventory.switches and inventory.racks


# -- links -----------------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
MARKDOWN = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])


def _relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#)", t, re.IGNORECASE)]


def test_docs_exist() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in MARKDOWN}
    assert {"docs/architecture.md", "docs/inventory.md", "docs/plan.md", "docs/errors.md",
            "docs/drivers/sim.md"} <= names


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path) -> None:
    broken = [t for t in _relative_links(path) if not (path.parent / t.split("#", 1)[0]).exists()]
    assert not broken, f"{path.relative_to(ROOT)} links to missing files: {broken}"

"""Golden rendered configuration: every owned kind, created, changed and deleted, in EOS and NX-OS syntax
(NetworkPolicy address groups and rules: NX-OS only).

Inputs are data/ssh/<platform>/golden/cases.yaml; the expected lines are <case>.cfg beside it.
Set FI_UPDATE_GOLDEN=1 to rewrite the .cfg files after a deliberate change, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_device_harness import DATA, build
from pydantic import TypeAdapter

from drivers import registry
from intent.inventory import parse_inventory
from intent.model import Realized
from intent.plan import diff

_OBJECT: TypeAdapter[Any] = TypeAdapter(Realized)
PLATFORMS = ("eos", "nxos")


def _cases(platform: str) -> list[tuple[str, str, dict[str, Any]]]:
    data = yaml.safe_load((DATA / platform / "golden" / "cases.yaml").read_text(encoding="utf-8"))
    return [(platform, name, case) for name, case in data["cases"].items()]


def _driver(platform: str, tmp_path: Path) -> Any:
    inventory = parse_inventory({"fabric": "golden", "cluster": "prod-east", "switches": [
        {"name": "leaf-1", "role": "leaf", "driver": platform, "asn": 65101,
         "options": {"policy_interfaces": ["Vlan100"]}}]}, "inline")
    return build(platform, "leaf-1", inventory, tmp_path, _no_switch)


def _no_switch() -> Any:
    raise AssertionError("rendering must not connect")


@pytest.mark.parametrize(("platform", "case", "spec"), [c for p in PLATFORMS for c in _cases(p)],
                         ids=lambda value: value if isinstance(value, str) else "")
def test_rendered_lines_match_the_golden_file(platform: str, case: str, spec: dict[str, Any], tmp_path: Path) -> None:
    before = [_OBJECT.validate_python(spec["before"])] if "before" in spec else []
    after = [_OBJECT.validate_python(spec["after"])] if "after" in spec else []
    (change,) = diff(after, before)
    rendered = "\n".join(_driver(platform, tmp_path).render(change)) + "\n"
    golden = DATA / platform / "golden" / f"{case}.cfg"
    if os.environ.get("FI_UPDATE_GOLDEN") == "1":
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8"), f"{platform} {case}: rendering differs from {golden.name}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_case_has_a_golden_file_and_every_golden_file_a_case(platform: str) -> None:
    folder = DATA / platform / "golden"
    assert {p.stem for p in folder.glob("*.cfg")} == {name for _, name, _ in _cases(platform)}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_golden_cases_cover_create_update_delete_of_every_kind(platform: str) -> None:
    covered = set()
    for _, _, spec in _cases(platform):
        kind = (spec.get("after") or spec["before"])["kind"]
        action = "update" if "before" in spec and "after" in spec else "create" if "after" in spec else "delete"
        covered.add((kind, action))
    wanted = {(k, a) for k in ("prefix-list", "bgp-peering", "static-route") for a in ("create", "update", "delete")}
    assert wanted | {("vrf", "create"), ("vrf", "delete")} <= covered
    if "policy-rule" in registry.get(platform).capabilities.kinds:
        assert {("address-group", a) for a in ("create", "update", "delete")} <= covered
        assert {("policy-rule", "create"), ("policy-rule", "delete")} <= covered  # a rule's name is its match

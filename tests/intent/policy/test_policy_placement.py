"""Policy on the fabric: groups and rules placed on the enforcing switches only, a rule budget, and
plans in which pod churn is a member change of an address group, rendered with provenance."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.fabric import Fabric
from intent.build import build_intent
from intent.errors import IntentError, InventoryError
from intent.inventory import FabricInventory, parse_inventory
from intent.model import AddressGroup, PolicyRule
from intent.report import render_text
from reconciler.files import load_cluster

DATA = Path(__file__).parent / "data" / "fabric"


def _inventory(**policy: Any) -> FabricInventory:
    document = yaml.safe_load((DATA / "fabric.yaml").read_text(encoding="utf-8"))
    document["policy"] = {**document["policy"], **policy}
    return parse_inventory(document, "fabric.yaml")


@pytest.fixture(scope="module")
def cluster() -> Any:
    return load_cluster(DATA / "cluster")


def test_groups_and_rules_land_on_the_enforcing_switches_only(cluster: Any) -> None:
    graph = build_intent(cluster, _inventory(enforce_on=["leaf-a1"]))
    placed = [o for o in graph.realized() if isinstance(o, (AddressGroup, PolicyRule))]
    assert {o.device for o in placed} == {"leaf-a1"}
    rules = sorted((o for o in placed if isinstance(o, PolicyRule)), key=lambda r: r.action)  # accepts first
    assert [(r.stage, r.action, r.protocol, r.ports) for r in rules] == [
        ("ingress", "accept", "TCP", (80, 80)), ("ingress", "drop", None, None)]
    accept = rules[0]
    assert [str(ref) for ref in accept.provenance] == ["NetworkPolicy x/a-from-b .spec.ingress[0].from[0] (ports[0])"]
    groups = {g.name: g for g in placed if isinstance(g, AddressGroup)}
    assert [str(a) for a in groups[accept.src].addresses] == ["10.244.1.2"]  # x/b
    assert [str(a) for a in groups["FI-ISOLATED-IN"].addresses] == ["10.244.1.1", "10.244.1.2", "10.244.1.3"]


def test_without_a_policy_section_nothing_is_placed(cluster: Any) -> None:
    inventory = _inventory()
    plain = inventory.model_copy(update={"policy": type(inventory.policy)()})
    assert not [o for o in build_intent(cluster, plain).realized() if isinstance(o, (AddressGroup, PolicyRule))]


def test_a_rule_set_over_the_budget_is_refused_with_the_count(cluster: Any) -> None:
    with pytest.raises(IntentError) as caught:
        build_intent(cluster, _inventory(rule_budget=1, budgets={"leaf-a2": 2}))
    assert caught.value.problems == (
        "policy: switch leaf-a1 would hold 2 policy rules (3 address groups) but its rule budget is 1; "
        "refusing the plan",)


def test_enforcing_an_unknown_switch_is_an_inventory_error() -> None:
    with pytest.raises(InventoryError, match=r"policy.enforce_on\[1\]: 'leaf-z9' is not a switch of this inventory"):
        _inventory(enforce_on=["leaf-a1", "leaf-z9"])


def test_invalid_policies_refuse_the_whole_build(cluster: Any) -> None:
    bad = {**cluster.network_policies}
    key = "x/a-from-b"
    bad[key] = replace(bad[key], spec={"podSelector": {}, "policyTypes": ["Sideways"]})
    with pytest.raises(IntentError, match="NetworkPolicy x/a-from-b: spec.policyTypes"):
        build_intent(replace(cluster, network_policies=bad), _inventory())


def test_pod_churn_plans_member_changes_only(cluster: Any, tmp_path: Path) -> None:
    shutil.copy(DATA / "fabric.yaml", tmp_path / "fabric.yaml")
    inventory = _inventory()
    fabric = Fabric.from_inventory(inventory, tmp_path)
    first = fabric.plan(build_intent(cluster, inventory), fabric.observe(), cluster_nodes=1)
    kinds = [c.kind for c in first.changes if c.device == "leaf-a1"]
    assert kinds.index("policy-rule") > max(i for i, k in enumerate(kinds) if k == "address-group")
    assert not [r for r in fabric.apply(first) if r.failed]
    churned = replace(cluster, pods={k: v for k, v in cluster.pods.items() if k != "x/b"})
    second = fabric.plan(build_intent(churned, inventory), fabric.observe(), cluster_nodes=1)
    assert {(c.action, c.kind) for c in second.changes} == {("update", "address-group")}
    text = render_text(second)
    assert "delete address-group FI-ISOLATED-IN member 10.244.1.2" in text
    assert "- 10.244.1.2" in text
    assert "<- NetworkPolicy x/a-from-b" in text


def test_deleting_a_policy_removes_rules_before_groups(cluster: Any, tmp_path: Path) -> None:
    shutil.copy(DATA / "fabric.yaml", tmp_path / "fabric.yaml")
    inventory = _inventory()
    fabric = Fabric.from_inventory(inventory, tmp_path)
    fabric.apply(fabric.plan(build_intent(cluster, inventory), fabric.observe(), cluster_nodes=1))
    fewer = replace(cluster, network_policies={k: v for k, v in cluster.network_policies.items() if k != "x/a-from-b"})
    plan = fabric.plan(build_intent(fewer, inventory), fabric.observe(), cluster_nodes=1)
    deletes = [c.kind for c in plan.changes if c.device == "leaf-a1" and c.action == "delete"]
    assert deletes == ["policy-rule", "address-group", "address-group"]

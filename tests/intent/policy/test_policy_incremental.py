"""Pod churn changes group members only, and the incremental update equals a full compile.

Every conformance case is replayed: compile without one pod, add it (`update_pod`), remove
another; after each step the members and rules must equal a compile from scratch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from policy_cases import case_cluster, case_files, load_case

from intent.cluster import ClusterSnapshot, Namespace
from intent.policy import RuleSet, compile_policies, update_pod
from intent.policy.placement import device_objects

CASES = case_files()


def _without(cluster: ClusterSnapshot, *keys: str) -> ClusterSnapshot:
    return replace(cluster, pods={k: v for k, v in cluster.pods.items() if k not in keys})


def _members(ruleset: RuleSet) -> dict[str, set[object]]:
    used = set(ruleset.referenced_groups())
    return {name: set(ips) for name, ips in ruleset.membership.members.items() if name in used}


def _same(incremental: RuleSet, full: RuleSet) -> None:
    assert incremental.rules == full.rules
    assert _members(incremental) == _members(full)
    assert device_objects(incremental, "leaf") == device_objects(full, "leaf")  # members in the same order


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_pod_added_then_removed_matches_a_full_compile(path: Path) -> None:
    cluster = case_cluster(load_case(path))
    ruleset = compile_policies(_without(cluster, "x/a"))
    device_objects(ruleset, "leaf")  # groups now keep their members sorted as pods come and go
    delta, ruleset = update_pod(ruleset, "x/a", cluster.pods["x/a"])
    _same(ruleset, compile_policies(cluster))
    assert all(ip in ruleset.membership.members[name] for name, ips in delta.added.items() for ip in ips)
    delta, ruleset = update_pod(ruleset, "y/b", None)
    _same(ruleset, compile_policies(_without(cluster, "y/b")))
    assert not delta.added


def test_pod_churn_changes_members_not_rules() -> None:
    cluster = case_cluster(load_case(Path(CASES[0]).parent / "21-ingress-and-egress-together.yaml"))
    before = compile_policies(_without(cluster, "x/a"))
    rules = before.rules
    delta, after = update_pod(before, "x/a", cluster.pods["x/a"])
    assert after.rules is rules  # the same rule set object: nothing to push but members
    assert delta.groups and not delta.removed
    assert "FI-ISOLATED-IN" in delta.added and "FI-ISOLATED-OUT" in delta.added


def test_a_named_port_with_a_new_number_adds_a_rule() -> None:
    """x/d names serve-80-tcp on 8080, a number no other pod uses: one more rule, as a full compile has."""
    cluster = case_cluster(load_case(Path(CASES[0]).parent / "35-named-port-per-pod.yaml"))
    before = compile_policies(_without(cluster, "x/d"))
    delta, after = update_pod(before, "x/d", cluster.pods["x/d"])
    assert delta.needs_recompile
    assert len(after.rules) == len(before.rules) + 1
    _same(after, compile_policies(cluster))


def test_namespace_relabel_moves_its_pods() -> None:
    """Namespace z labelled ns=y joins the peers `namespaceSelector: ns In [y]` selects; nothing else changes."""
    cluster = case_cluster(load_case(Path(CASES[0]).parent / "08-match-expressions-namespace-in.yaml"))
    ruleset = compile_policies(cluster)
    delta = ruleset.membership.set_namespace(Namespace("z", {"ns": "y"}))
    assert not delta.removed
    assert sorted({str(ip) for ips in delta.added.values() for ip in ips}) == ["10.244.3.1", "10.244.3.2", "10.244.3.3"]
    relabelled = replace(cluster, namespaces={**cluster.namespaces, "z": Namespace("z", {"ns": "y"})})
    assert _members(ruleset) == _members(compile_policies(relabelled))

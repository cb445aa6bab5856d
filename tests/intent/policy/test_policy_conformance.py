"""Conformance: the compiled rule set gives the upstream e2e / cyclonus truth tables, pair by pair."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_cases import case_files, load_case, render, truth_tables

FEATURES = {  # every feature of the compiler; each must be exercised by at least one case
    "policyTypes given", "policyTypes defaulting", "isolation per direction", "union of policies", "peers ORed",
    "namespaceSelector and podSelector ANDed in one peer", "matchExpressions In", "matchExpressions NotIn",
    "matchExpressions Exists", "matchExpressions DoesNotExist", "missing key matches NotIn", "ipBlock with except",
    "protocol defaults to TCP", "named port resolved per destination pod", "endPort range", "UDP", "SCTP",
    "empty from", "empty to", "empty ports", "egress needed at the source and ingress at the destination",
}


@pytest.mark.parametrize("path", case_files(), ids=lambda p: p.stem)
def test_truth_table(path: Path) -> None:
    case = load_case(path)
    for check, want, got in truth_tables(case):
        if want != got:
            wrong = sorted(pair for pair in want if want[pair] != got[pair])
            pytest.fail(f"{check['protocol']}/{check['port']}: {len(wrong)} pair(s) differ, e.g. {wrong[:5]}\n"
                        f"expected:\n{render(want)}\nobserved:\n{render(got)}")


def test_every_feature_is_covered() -> None:
    named = " | ".join(f for path in case_files() for f in load_case(path)["features"])
    missing = sorted(f for f in FEATURES if f not in named)
    assert not missing, f"no conformance case exercises: {missing}"


def test_cases_deny_something() -> None:
    """A case whose table allows everything could not catch a compiler that allows everything."""
    denying = [path.stem for path in case_files()
               if any(not allowed for _, want, _ in truth_tables(load_case(path)) for allowed in want.values())]
    assert len(denying) >= len(case_files()) - 4

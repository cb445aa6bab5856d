"""Invalid NetworkPolicies are refused as the API server would refuse them, each naming policy and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from intent.cluster import parse_snapshot
from intent.errors import PolicyError
from intent.policy import compile_policies
from intent.policy.spec import policy_types

INVALID = yaml.safe_load((Path(__file__).parent / "data" / "invalid-policies.yaml").read_text(encoding="utf-8"))


def _cluster(*specs: dict[str, Any]) -> Any:
    items = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": f"p{i}", "namespace": "x"}, "spec": spec} for i, spec in enumerate(specs)]
    return parse_snapshot([("test", {"apiVersion": "v1", "kind": "List", "items": items})])


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c["error"][:40])
def test_invalid_policy_is_refused_with_its_field(case: dict[str, Any]) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policies(_cluster(case["spec"]))
    assert str(caught.value).startswith("NetworkPolicy x/p0: ")
    assert case["error"] in str(caught.value)


def test_every_invalid_policy_is_reported_at_once() -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policies(_cluster(*(c["spec"] for c in INVALID)))
    assert len(caught.value.problems) == len(INVALID)


@pytest.mark.parametrize(("spec", "types"), [
    ({}, ("Ingress",)),
    ({"egress": []}, ("Ingress",)),
    ({"egress": [{}]}, ("Ingress", "Egress")),
    ({"policyTypes": [], "egress": [{}]}, ("Ingress", "Egress")),
    ({"policyTypes": ["Egress"], "ingress": [{}]}, ("Egress",)),
    ({"policyTypes": ["Egress", "Ingress"]}, ("Ingress", "Egress")),
])
def test_policy_types_default_as_the_api_server_does(spec: dict[str, Any], types: tuple[str, ...]) -> None:
    assert policy_types(spec) == types

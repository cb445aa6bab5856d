"""Reading the conformance cases (tests/intent/policy/cases/*.yaml) into clusters and truth tables."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from intent.cluster import ClusterSnapshot, parse_snapshot
from intent.policy.evaluate import RuleTable
from intent.policy.probes import rule_table

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
TOPOLOGY = HERE / "data" / "xyz" / "cluster.yaml"


def topology() -> list[Any]:
    return list(yaml.safe_load_all(TOPOLOGY.read_text(encoding="utf-8")))


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.yaml"))


def load_case(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return case


def policy_document(policy: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": policy["name"], "namespace": policy["namespace"]}, "spec": policy["spec"]}


def case_cluster(case: dict[str, Any]) -> ClusterSnapshot:
    documents = topology() + case.get("objects", []) + [policy_document(p) for p in case.get("policies", [])]
    return parse_snapshot([("case", {"apiVersion": "v1", "kind": "List", "items": documents})])


def _matches(pattern: str, endpoint: str) -> bool:
    if "/" not in endpoint:
        return pattern == endpoint
    if pattern == "*":
        return True
    namespace, _, pod = pattern.partition("/")
    ep_namespace, _, ep_pod = endpoint.partition("/")
    return namespace == ep_namespace and pod in ("*", ep_pod)


def expected(check: dict[str, Any], sources: list[str], targets: list[str]) -> dict[tuple[str, str], bool]:
    table = {(s, t): True for s in sources for t in targets if s != t}
    for entry in check.get("expect", []):
        for s, t in table:
            if _matches(entry["from"], s) and _matches(entry["to"], t):
                table[(s, t)] = entry["allowed"]
    return table


def observed(table: RuleTable, cluster: ClusterSnapshot, check: dict[str, Any],
             pairs: Iterator[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    def ip(endpoint: str) -> Any:
        return cluster.pods[endpoint].ips[0] if "/" in endpoint else ipaddress.ip_address(endpoint)

    return {(s, t): table.evaluate(ip(s), ip(t), check["protocol"], check["port"]).allowed for s, t in pairs}


def truth_tables(case: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[tuple[str, str], bool],
                                                        dict[tuple[str, str], bool]]]:
    """(check, expected, observed) per check of a case."""
    cluster = case_cluster(case)
    table = rule_table(cluster)
    pods = sorted(cluster.pods)
    for check in case["checks"]:
        sources = pods + [str(i) for i in check.get("extra_from", [])]
        targets = pods + [str(i) for i in check.get("extra_to", [])]
        want = expected(check, sources, targets)
        yield check, want, observed(table, cluster, check, iter(want))


def render(table: dict[tuple[str, str], bool]) -> str:
    """A truth table as upstream prints it: rows are sources, columns destinations, X for denied."""
    sources = sorted({s for s, _ in table})
    targets = sorted({t for _, t in table})
    width = max(len(t) for t in targets + sources)
    lines = [" " * width + " " + " ".join(t.rjust(width) for t in targets)]
    for s in sources:
        cells = ["-" if (s, t) not in table else ("." if table[(s, t)] else "X") for t in targets]
        lines.append(s.rjust(width) + " " + " ".join(c.rjust(width) for c in cells))
    return "\n".join(lines)

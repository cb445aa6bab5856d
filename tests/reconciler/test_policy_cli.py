"""`fabric-intent policy check`: probes against the compiled rule set, JSON and text, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import DATA, Run

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = ROOT / "tests" / "intent" / "policy" / "data" / "xyz" / "cluster.yaml"
POLICY = DATA / "policy"


@pytest.fixture
def cluster(tmp_path: Path) -> Path:
    """Only Namespaces, Pods (with status.podIP) and NetworkPolicies: no Node at all."""
    folder = tmp_path / "cluster"
    folder.mkdir()
    shutil.copy(TOPOLOGY, folder / "topology.yaml")
    shutil.copy(POLICY / "policies.yaml", folder / "policies.yaml")
    return folder


def _probes(tmp_path: Path) -> tuple[Path, list[dict[str, object]]]:
    probes = json.loads((POLICY / "probes.json").read_text(encoding="utf-8"))
    path = tmp_path / "probes.json"
    path.write_text(json.dumps([{k: v for k, v in p.items() if k != "expect"} for p in probes]), encoding="utf-8")
    return path, probes


def test_json_answers_each_probe_with_allowed_and_the_deciding_rules(cli: Run, cluster: Path, tmp_path: Path) -> None:
    path, probes = _probes(tmp_path)
    result = cli("policy", "check", "--cluster", str(cluster), "--probes", str(path), "--format", "json")
    assert result.code == 0, result.err
    answers = json.loads(result.out)
    assert [a["allowed"] for a in answers] == [p["expect"] for p in probes]
    for answer, probe in zip(answers, probes, strict=True):
        assert {k: answer[k] for k in ("from", "to", "port", "protocol")} == {
            k: probe[k] for k in ("from", "to", "port", "protocol")}
        assert [s["stage"] for s in answer["rules"]] == ["egress", "ingress"]
    denied = answers[1]["rules"][1]
    assert (denied["decision"], denied["match"]) == ("drop", "ingress drop any -> FI-ISOLATED-IN any")
    allowed = answers[0]["rules"][1]
    assert allowed["decision"] == "accept" and allowed["rule"].startswith("FI-R-")
    assert allowed["policies"] == ["NetworkPolicy x/allow-client-a-via-pod-selector .spec.ingress[0].from[0]"]
    egress = answers[2]["rules"][0]
    assert egress["policies"] == ["NetworkPolicy x/allow-client-a-via-pod-selector .spec.egress[0] (ports[0])"]
    assert answers[5]["rules"][0]["decision"] == "pass"  # an outside address is isolated by nothing


def test_text_lists_verdicts_and_a_summary(cli: Run, cluster: Path, tmp_path: Path) -> None:
    path, _ = _probes(tmp_path)
    result = cli("policy", "check", "--cluster", str(cluster), "--probes", str(path))
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "ALLOW x/b -> x/a TCP/80"
    assert "DENY  x/c -> x/a TCP/80" in result.out
    assert result.out.rstrip().endswith("7 probes: 5 allowed, 2 denied")


def test_bad_probes_are_all_reported_and_nothing_is_printed(cli: Run, cluster: Path) -> None:
    result = cli("policy", "check", "--cluster", str(cluster), "--probes", str(POLICY / "bad-probes.json"))
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines() == [
        f"error: {POLICY / 'bad-probes.json'}[0]: from: no pod x/zz in the cluster snapshot",
        f"error: {POLICY / 'bad-probes.json'}[1]: port name 'http' needs a destination pod ('to' is an IP address)",
        f"error: {POLICY / 'bad-probes.json'}[2]: protocol 'ICMP' is not one of TCP, UDP, SCTP",
        f"error: {POLICY / 'bad-probes.json'}[3]: pod x/b has no UDP container port named 'serve-80-tcp'",
        f"error: {POLICY / 'bad-probes.json'}[4]: missing port",
    ]


def test_unreadable_probes_and_invalid_policies_are_precise_errors(cli: Run, cluster: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"from": "x/a",\n "to": }]', encoding="utf-8")
    result = cli("policy", "check", "--cluster", str(cluster), "--probes", str(broken))
    assert (result.code, result.err.strip()) == (1, f"error: {broken}:2:8: invalid JSON: Expecting value")
    (cluster / "policies.yaml").write_text((cluster / "policies.yaml").read_text().replace("Ingress, Egress", "Up"))
    path, _ = _probes(tmp_path)
    result = cli("policy", "check", "--cluster", str(cluster), "--probes", str(path))
    assert result.code == 1
    assert result.err.strip() == ("error: NetworkPolicy x/allow-client-a-via-pod-selector: spec.policyTypes ['Up'] "
                                  "may only hold Ingress and Egress")


def test_unknown_format_is_a_usage_error(cli: Run, cluster: Path) -> None:
    result = cli("policy", "check", "--cluster", str(cluster), "--probes", str(POLICY / "probes.json"),
                 "--format", "yaml")
    assert result.code != 0
    assert "'yaml' is not one of json, text" in result.text

"""The policy figures of `fabric-intent bench` at a small scale: nothing timed, only what must hold."""

from __future__ import annotations

import re
from pathlib import Path

from intent import synthetic
from reconciler.bench import write_inputs
from reconciler.policy_bench import measure, report


def _row(label: str, value: str, target: str, ok: bool | None, note: str = "") -> str:
    verdict = "" if ok is None else ("PASS" if ok else "MISS")
    return f"{label} | {value} | {target} | {verdict} | {note}"


def test_one_pod_added_changes_members_not_rules(tmp_path: Path) -> None:
    scale = synthetic.Scale(nodes=20, pods=400, services=20, policies=60)
    write_inputs(scale, tmp_path, repeat=3)
    figures = measure(tmp_path)
    assert figures["policies"] == 60
    assert figures["rules"] > 0 and figures["groups"] > 0
    assert figures["count"] == 3
    assert figures["rule_changes"] == 0
    assert figures["groups_changed"] >= 1 and figures["lines"] >= figures["groups_changed"]
    rows = report(figures, _row)
    assert rows[0].startswith("policy: compile NetworkPolicies -> groups, rules | ")
    assert f"60 policies -> {figures['rules']:,} rules" in rows[0]
    assert re.search(r"^policy: one pod added \(membership only\) \| \d+\.\d\d ms \| <= 10 ms \| (PASS|MISS) \| ",
                     rows[1])

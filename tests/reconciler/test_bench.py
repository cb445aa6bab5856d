"""`fabric-intent bench` at a small scale: it runs end to end and prints every figure with its target.

Nothing here is timed; the figures are read only for what must hold whatever the machine: the
plan against an empty fabric creates every device object, the converged fabric needs no change, a
new node brings changes, and every figure carries its target and a PASS or MISS verdict.
"""

from __future__ import annotations

import re

from cli_support import Run

SMALL = ("bench", "--nodes", "50", "--pods", "500", "--services", "50", "--policies", "50",
         "--events", "3", "--runs", "2")


def _line(out: str, start: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith(start)]
    assert len(lines) == 1, f"no single line starting {start!r} in:\n{out}"
    return lines[0]


def test_small_bench_prints_every_figure_with_its_target(cli: Run) -> None:
    result = cli(*SMALL)
    assert result.code == 0, result.err
    out = result.out
    assert "50 nodes, 500 pods, 50 services, 50 network policies" in out
    device_objects = int(re.search(r"intent: [\d,]+ objects, ([\d,]+) of them device", out).group(1).replace(",", ""))
    empty = _line(out, "cold: load -> intent -> plan, empty fabric")
    assert re.search(r"([\d,]+) changes; median of 2 \(", empty).group(1).replace(",", "") == str(device_objects)
    assert " 0 changes; median of 2 (" in _line(out, "cold: load -> intent -> plan, converged fabric")
    for start in ("cold: load -> intent -> plan, empty", "cold: load -> intent -> plan, converged"):
        assert re.search(r"(\d+\.\d\d s\s+){4}<= 3 s\s+(PASS|MISS)\s", _line(out, start))
    for start in ("peak RSS, cold run on the empty fabric", "peak RSS, cold run on the converged fabric"):
        assert re.search(r"\s\d+ MiB\s+<= 1 GiB\s+(PASS|MISS)$", _line(out, start))
    for start in ("incremental: one node added", "incremental: one pod added"):
        line = _line(out, start)
        assert re.search(r"\s\d+\.\d\d ms\s+<= 10 ms\s+(PASS|MISS)\s+\d+ changes; median of 3 \(", line), line
    node_changes = re.search(r"one node added\s.*\s(\d+) changes;", out).group(1)
    assert int(node_changes) >= 2  # its pod subnet routed on the two leaves of its rack


def test_bench_refuses_a_scale_that_does_not_fit(cli: Run) -> None:
    result = cli("bench", "--nodes", "100000", "--pods", "0", "--services", "0", "--policies", "0")
    assert result.code == 1
    assert "do not fit" in result.err


def test_bench_refuses_an_unknown_mode(cli: Run) -> None:
    result = cli("bench", "--mode", "ospf")
    assert result.code == 1
    assert "static, bgp" in result.err

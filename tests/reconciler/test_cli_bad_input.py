"""Bad input of every kind: a precise message, exit 1, and the simulated fabric left byte for byte as it was.

Each case is a folder under data/bad-input/ laid over a copy of samples/ (see `Workspace.overlay`),
with a `case.yaml` naming the commands that must refuse it and the message they must print.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_support import DATA, Run, Workspace

CASES = sorted(p for p in (DATA / "bad-input").iterdir() if p.is_dir())


def _converge(ws: Workspace, cli: Run) -> None:
    result = cli("apply", *ws.args(), "--auto-approve")
    assert result.code == 0, result.text
    assert ws.owned("leaf-a1"), "the sample fabric should hold owned routes after the first apply"


def test_there_are_cases() -> None:
    assert len(CASES) >= 20, [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_precisely_and_changes_nothing(case: Path, ws: Workspace, cli: Run) -> None:
    spec = yaml.safe_load((case / "case.yaml").read_text())
    _converge(ws, cli)
    ws.overlay(case)
    before = ws.files()
    assert before, "the fabric must exist before the bad input, so that 'unchanged' means something"
    for command in spec["commands"]:
        extra = ["--auto-approve"] if command == "apply" else []
        result = cli(command, *ws.args(), *extra)
        assert result.code == 1, f"{command}: exit {result.code}\n{result.text}"
        for expected in spec["expect"]:
            assert expected in result.err, f"{command}: {expected!r} not in:\n{result.err}"
        assert result.err.lstrip().startswith("error:"), f"{command}: errors start with 'error:'\n{result.err}"
        assert "Apply complete" not in result.out
        assert ws.files() == before, f"{command} changed the simulated fabric"


def test_state_problems_do_not_stop_validate(ws: Workspace, cli: Run) -> None:
    # validate touches no device: a broken fabric file is a problem for plan and apply only.
    ws.overlay(DATA / "bad-input" / "state-malformed-json")
    result = cli("validate", *ws.args())
    assert result.code == 0, result.text
    assert result.out.startswith("valid: 9 nodes")


def test_bad_input_on_a_fresh_fabric_creates_no_state(ws: Workspace, cli: Run) -> None:
    ws.overlay(DATA / "bad-input" / "overlapping-podcidrs")
    result = cli("apply", *ws.args(), "--auto-approve")
    assert result.code == 1
    assert not ws.state_dir.exists()

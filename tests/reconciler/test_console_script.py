"""The installed `fabric-intent` console script, run for real in a subprocess: entry point and exit codes."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess

from cli_support import Run, Workspace


def test_plan_apply_plan_exit_codes(ws: Workspace, script: Run) -> None:
    pending = script("plan", *ws.args(), "--detailed-exitcode")
    assert pending.code == 2, pending.text
    assert "Plan: 16 to add" in pending.out
    applied = script("apply", *ws.args(), "--auto-approve")
    assert applied.code == 0, applied.text
    assert "leaf-c1: done" in applied.err
    converged = script("plan", *ws.args(), "--detailed-exitcode")
    assert converged.code == 0, converged.text
    assert "No changes" in converged.out


def test_apply_without_an_answer_changes_nothing(ws: Workspace, script: Run) -> None:
    result = script("apply", *ws.args())  # stdin is /dev/null: no "yes" ever comes
    assert result.code == 1, result.text
    assert "nothing was changed" in result.err
    assert not ws.state_dir.exists()


def test_apply_with_yes_on_stdin(ws: Workspace, script: Run) -> None:
    result = script("apply", *ws.args(), stdin="yes\n")
    assert result.code == 0, result.text
    assert len(ws.owned("leaf-a1")) == 5


def test_saved_plan_round_trip(ws: Workspace, script: Run) -> None:
    saved = ws.root / "plan.json"
    assert script("plan", *ws.args(), "--format", "json", "--out", saved).code == 0
    assert json.loads(saved.read_text())["summary"]["add"] == 16
    result = script("apply", "--plan", saved, "--fabric", ws.fabric, "--auto-approve")
    assert result.code == 0, result.text
    assert script("plan", *ws.args(), "--detailed-exitcode").code == 0


def test_errors_exit_1(ws: Workspace, script: Run) -> None:
    usage = script("plan", "--fabric", ws.fabric)
    assert usage.code == 1, usage.text
    assert "Missing option '--cluster'" in usage.err
    bad = script("plan", "--cluster", ws.root / "missing", "--fabric", ws.fabric, "--detailed-exitcode")
    assert bad.code == 1
    assert "no such file or folder" in bad.err


def test_runs_from_any_folder(ws: Workspace, script: Run) -> None:
    # Relative paths resolve against the working folder; the sim state against the inventory's folder.
    result = script("plan", "--cluster", "cluster", "--fabric", "fabric.yaml", "--detailed-exitcode", cwd=ws.root)
    assert result.code == 2, result.text
    drivers = script("drivers", cwd=ws.root)
    assert drivers.code == 0 and any(line.startswith("sim ") for line in drivers.out.splitlines())


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """Run the console script with its standard output on a pseudo-terminal, as a person sees it."""
    main, child = pty.openpty()
    try:
        proc = subprocess.run([shutil.which("fabric-intent") or "fabric-intent", *args], stdout=child,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60, check=False)
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed: everything has been read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return proc.returncode, b"".join(chunks).decode()
    finally:
        os.close(main)


def test_text_plan_is_coloured_on_a_terminal_only(ws: Workspace, script: Run) -> None:
    code, shown = _on_a_terminal("plan", *map(str, ws.args()))
    assert code == 0, shown
    assert "\x1b[32m  + static route 10.244.1.0/24 via 192.168.1.11" in shown, "creates are green"
    assert "\x1b[1mPlan: 16 to add" in shown, "the summary is bold"
    piped = script("plan", *ws.args())
    assert "\x1b[" not in piped.out, "no colour codes when the output is not a terminal"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown).replace("\r\n", "\n")
    assert plain == piped.out, "colour changes nothing but the colour"

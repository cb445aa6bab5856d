"""Fixtures for the command-line tests: `ws` (a copy of samples/), `cli` (in-process), `script` (subprocess)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import SAMPLES, Result, Run, Workspace, console_script

from reconciler.cli import main


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "fabric"
    root.mkdir()
    shutil.copytree(SAMPLES / "cluster", root / "cluster")
    shutil.copy(SAMPLES / "fabric.yaml", root / "fabric.yaml")
    shutil.copy(SAMPLES / "sim-seed.json", root / "sim-seed.json")
    return Workspace(root)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run `fabric-intent ARGS` in-process; `stdin` is what the user types (nothing by default)."""

    def run(*args: str | Path, stdin: str = "") -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        code = exit_info.value.code
        assert isinstance(code, int), f"exit code {code!r} is not an int"
        assert "Traceback" not in captured.err, captured.err
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def script() -> Run:
    """Run the installed `fabric-intent` console script in a subprocess."""
    exe = console_script()

    def run(*args: str | Path, stdin: str | None = None, cwd: Path | None = None) -> Result:
        no_input = subprocess.DEVNULL if stdin is None else None
        proc = subprocess.run([exe, *map(str, args)], input=stdin, stdin=no_input, capture_output=True, text=True,
                              timeout=120, cwd=cwd)
        assert "Traceback" not in proc.stderr, proc.stderr
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run

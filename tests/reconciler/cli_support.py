"""Helpers for the command-line tests: a private copy of samples/ and results of running `fabric-intent`.

Every test works on a copy of the shipped samples in its own tmp_path, so nothing ever writes
into samples/. The CLI runs in-process through `reconciler.cli.main` (fast); a few tests run the
installed console script in a subprocess to prove the entry point and its exit codes for real.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
DATA = Path(__file__).resolve().parent / "data"
OWNER = "fabric-intent"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Workspace:
    """A copy of samples/ (cluster/, fabric.yaml, sim-seed.json; no state/) in a temporary folder."""

    root: Path

    @property
    def cluster(self) -> Path:
        return self.root / "cluster"

    @property
    def fabric(self) -> Path:
        return self.root / "fabric.yaml"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "sim-fabric.json"

    def args(self, cluster: Path | None = None) -> list[str]:
        return ["--cluster", str(cluster or self.cluster), "--fabric", str(self.fabric)]

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text(encoding="utf-8"))

    def owned(self, device: str) -> list[dict[str, Any]]:
        return [e for e in self.state()["devices"][device] if isinstance(e, dict) and e.get("owner") == OWNER]

    def files(self) -> dict[str, bytes]:
        """Every file under state/ with its bytes (empty if the fabric was never written)."""
        if not self.state_dir.exists():
            return {}
        files = sorted(p for p in self.state_dir.rglob("*") if p.is_file())
        return {str(p.relative_to(self.state_dir)): p.read_bytes() for p in files}

    def overlay(self, case: Path) -> None:
        """Lay a data folder over the workspace.

        Its cluster/ files are added (or replace same-named ones), its fabric.yaml replaces the
        inventory, its state/ replaces the simulated fabric.
        """
        for item in sorted(case.iterdir()):
            if item.name == "cluster":
                for file in sorted(item.iterdir()):
                    shutil.copy(file, self.cluster / file.name)
            elif item.name == "fabric.yaml":
                shutil.copy(item, self.fabric)
            elif item.name == "state":
                shutil.rmtree(self.state_dir, ignore_errors=True)
                shutil.copytree(item, self.state_dir)


Run = Callable[..., Result]


def console_script() -> str:
    """The installed `fabric-intent` script: next to this interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "fabric-intent"
    found = str(beside) if beside.exists() else shutil.which("fabric-intent")
    if found is None:
        pytest.fail("the fabric-intent console script is not installed; run `pip install -e '.[test]'`")
    return found

"""Support for the loop tests: a sim fabric in a temporary folder, waiting on conditions, reading the fabric."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.fabric import Fabric
from intent.inventory import FabricInventory
from reconciler.files import load_inventory
from reconciler.loop import Reconciler
from reconciler.metrics import Metrics
from reconciler.settings import LoopSettings

ROOT = Path(__file__).resolve().parents[2]
OWNER = "fabric-intent"
FAST = {"debounce": 0.02, "max_delay": 0.2, "backoff_base": 0.05, "backoff_cap": 0.2, "hold_after": 0.3}


@dataclass
class SimFabric:
    """The sample inventory on a sim fabric seeded with hand-made configuration, in its own folder."""

    folder: Path

    @classmethod
    def create(cls, folder: Path) -> SimFabric:
        for name in ("fabric.yaml", "sim-seed.json"):
            shutil.copy(ROOT / "samples" / name, folder / name)
        return cls(folder)

    @property
    def inventory_file(self) -> Path:
        return self.folder / "fabric.yaml"

    @property
    def state_file(self) -> Path:
        return self.folder / "state" / "sim-fabric.json"

    def inventory(self) -> FabricInventory:
        return load_inventory(self.inventory_file)

    def fabric(self) -> Fabric:
        return Fabric.from_inventory(self.inventory(), self.folder)

    def state(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return json.loads((self.folder / "sim-seed.json").read_text(encoding="utf-8"))
        return json.loads(self.state_file.read_text(encoding="utf-8"))

    def entries(self, device: str) -> list[dict[str, Any]]:
        return list(self.state()["devices"].get(device, []))

    def owned(self, device: str | None = None) -> list[dict[str, Any]]:
        devices = [device] if device else list(self.state()["devices"])
        return [e for d in devices for e in self.entries(d) if e.get("owner") == OWNER]

    def prefixes(self, device: str) -> set[str]:
        return {e["prefix"] for e in self.owned(device) if e["kind"] == "static-route"}

    def write_state(self, state: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def settings(**changes: Any) -> LoopSettings:
    return LoopSettings(**{**FAST, **changes})


@contextmanager
def running(reconciler: Reconciler) -> Iterator[Reconciler]:
    """The reconciler's thread, stopped on the way out even when the test fails."""
    reconciler.start()
    try:
        yield reconciler
    finally:
        reconciler.stop()


def value(metrics: Metrics, name: str, **labels: str) -> float:
    """One sample of the service's registry (0 when it has not been set yet)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


def writes(metrics: Metrics) -> float:
    """Device transactions committed, over every device."""
    return sum(s.value for f in metrics.fabric_writes.collect() for s in f.samples if s.name.endswith("_total"))

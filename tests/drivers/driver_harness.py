"""How the driver contract suite builds each driver against a local fixture.

The contract (tests/drivers/test_contract.py) is written once, against the `Harness` protocol; every
driver the registry can build brings a harness here. A harness sets up the driver's local fixture
(a sim state file today; a fake SSH connection factory or recorded controller exchanges later),
builds drivers from the registry (the sim's below; every other driver's in
harness_<name>.py, as class `HARNESS`), and offers the few native views the contract needs: a device's
whole configuration, its hand-made part, a change made behind fabric-intent's back, a commit that
fails, and a way to make the backing store unreadable.

Driver-neutral expectations live in data/contract/*.json; native fixtures in data/contract/<driver>/.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import TypeAdapter

from drivers import registry
from drivers.base import Driver
from intent.inventory import FabricInventory, parse_inventory
from intent.model import OWNER, DeviceObject, Realized

DATA = Path(__file__).resolve().parent / "data" / "contract"
DEVICES = ("leaf-1", "leaf-2")
_OBJECTS: TypeAdapter[list[Any]] = TypeAdapter(list[Realized])


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))["devices"]


def desired(device: str) -> list[DeviceObject]:
    return list(_OBJECTS.validate_python(_load("desired.json")[device]))


def owned_before(device: str) -> list[str]:
    return list(_load("owned-before.json")[device])


def expected_plan(device: str) -> dict[str, str]:
    return dict(_load("expected-plan.json")[device])


class Harness(Protocol):
    name: str
    root: Path  # the fixture's folder: nothing under it may be opened while planning

    def driver(self, device: str) -> Driver: ...

    def failing_driver(self, device: str) -> Driver:
        """A driver whose commit fails at its very last step (the write that would make it live)."""

    def configuration(self, device: str) -> str:
        """The device's whole configuration, owned and hand-made, as comparable text."""

    def hand_made(self, device: str) -> list[str]:
        """The device's configuration that fabric-intent does not own, in device order."""

    def change_behind_our_back(self, device: str) -> None:
        """Someone else changes the device (a hand-made addition)."""

    def leftovers(self) -> list[str]:
        """Temporary files, sessions or checkpoints a driver left behind."""

    def poison(self) -> None:
        """Make any later read of the backing store fail loudly."""


class SimHarness:
    """The sim driver on a copy of data/contract/sim/ (fabric.yaml and sim-fabric.json)."""

    name = "sim"

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "sim"
        shutil.copytree(DATA / "sim", self.root)
        self.inventory: FabricInventory = parse_inventory(yaml.safe_load((self.root / "fabric.yaml").read_text()),
                                                          "fabric.yaml")
        self.state_file = self.root / "sim-fabric.json"

    def _build(self, device: str, **seams: Any) -> Driver:
        return registry.get(self.name)(self.inventory.switch(device), self.inventory, self.root, **seams)

    def driver(self, device: str) -> Driver:
        return self._build(device)

    def failing_driver(self, device: str) -> Driver:
        def no_space(src: str, dst: Path) -> None:
            raise OSError(28, "No space left on device", str(dst))
        return self._build(device, replace=no_space)

    def _entries(self, device: str) -> list[Any]:
        return json.loads(self.state_file.read_text())["devices"].get(device, [])

    def configuration(self, device: str) -> str:
        return json.dumps(self._entries(device))

    def hand_made(self, device: str) -> list[str]:
        return [json.dumps(e) for e in self._entries(device) if not (isinstance(e, dict) and e.get("owner") == OWNER)]

    def change_behind_our_back(self, device: str) -> None:
        data = json.loads(self.state_file.read_text())
        data["devices"].setdefault(device, []).append(
            {"kind": "static-route", "device": device, "vrf": "default", "prefix": "203.0.113.0/24",
             "next_hop": "192.0.2.1", "tag": 7, "owner": "netops", "comment": "added by hand during the change window"})
        self.state_file.write_text(json.dumps(data, indent=2))

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.name not in ("fabric.yaml", "sim-fabric.json"))

    def poison(self) -> None:
        self.state_file.write_bytes(b"\x00 not a sim state file \xff")


HARNESSES: dict[str, type[Any]] = {"sim": SimHarness}


def harness_class(name: str) -> type[Any] | None:
    """The harness for driver `name`: SimHarness here, any other in tests/drivers/harness_<name>.py (`HARNESS`)."""
    if name in HARNESSES:
        return HARNESSES[name]
    try:
        module = importlib.import_module(f"harness_{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"harness_{name}":
            raise
        return None
    return getattr(module, "HARNESS", None)


def harness_for(name: str, tmp_path: Path) -> Harness:
    cls = harness_class(name)
    if cls is None:
        raise AssertionError(f"driver {name!r} is registered but has no contract fixture: add "
                             f"tests/drivers/harness_{name}.py with a HARNESS class (see driver_harness.py)")
    return cls(tmp_path)


# -- watching for I/O --------------------------------------------------------------------------

_IO_EVENTS = ("socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "http.client.")
_PATH_EVENTS = ("open", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.replace", "os.mkdir", "os.chmod",
                "shutil.", "os.truncate", "os.unlink")
_recording: list[tuple[str, str]] | None = None
_watched: str = ""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording is None:
        return
    if event.startswith(_IO_EVENTS):
        _recording.append((event, repr(args)[:200]))
    elif event.startswith(_PATH_EVENTS) and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if os.path.abspath(path).startswith(_watched):
            _recording.append((event, path))


sys.addaudithook(_audit)


@contextmanager
def no_io(root: Path) -> Iterator[list[tuple[str, str]]]:
    """Record file access under `root`, and any network or process access, while the block runs."""
    global _recording, _watched
    events: list[tuple[str, str]] = []
    _recording, _watched = events, str(root.resolve())
    try:
        yield events
    finally:
        _recording = None

"""What the contract harnesses of REST controller drivers share: a fixture folder, a fake controller, drivers on it.

A harness copies data/contract/<name>/ into its own folder, writes the password file `<name>-password`,
loads its fake controller (`fake_class`) from its state file and builds drivers whose `transport=` is the fake's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml
from driver_harness import DATA
from rest.fake_controller import FakeController

from drivers import registry
from drivers.base import Driver
from intent.inventory import FabricInventory, parse_inventory


class ControllerHarness:
    """The shared part of a `Harness` for a driver that talks to a fake REST controller."""

    name: str
    fake_class: type[FakeController]

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / self.name
        shutil.copytree(DATA / self.name, self.root)
        self.fake = self.fake_class.load(self.root / self.fake_class.STATE_FILE)
        (self.root / self.password_file).write_text(self.fake.PASSWORD + "\n")
        self.inventory: FabricInventory = parse_inventory(yaml.safe_load((self.root / "fabric.yaml").read_text()),
                                                          "fabric.yaml")

    @property
    def password_file(self) -> str:
        return f"{self.name}-password"

    def _build(self, device: str, transport: httpx.BaseTransport) -> Driver:
        return registry.get(self.name)(self.inventory.switch(device), self.inventory, self.root,
                                       transport=transport, sleep=lambda _s: None)

    def driver(self, device: str) -> Driver:
        return self._build(device, self.fake.transport)

    def _refusing_driver(self, device: str, refuses: Callable[[httpx.Request], bool],
                         answer: Callable[[], httpx.Response]) -> Driver:
        """A driver on the same fake, but the controller answers the requests `refuses` picks with `answer()`."""
        def handle(request: httpx.Request) -> httpx.Response:
            return answer() if refuses(request) else self.fake.handle(request)
        return self._build(device, httpx.MockTransport(handle))

    def leftovers(self) -> list[str]:
        fixture = ("fabric.yaml", self.fake_class.STATE_FILE, self.password_file)
        return sorted(p.name for p in self.root.iterdir() if p.name not in fixture)

    def poison(self) -> None:
        self.fake.poisoned = True

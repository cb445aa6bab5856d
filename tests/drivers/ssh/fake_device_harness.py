"""The driver-contract harness for the EOS and NX-OS drivers: fake switches loaded from data files.

Each device of data/ssh/<platform>/contract/fabric.yaml is a fake switch whose running configuration
starts as <device>.cfg; drivers reach it through their `connect=` seam, one login per call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import yaml
from fake_device import FakeSwitch, hand_made_lines, parse_tree

from drivers import registry
from drivers.base import Driver
from drivers.ssh.cli_common import CliDriver, ConnectionFactory
from intent.inventory import FabricInventory, parse_inventory

DATA = Path(__file__).resolve().parent.parent / "data" / "ssh"


class FakeSwitchHarness:
    """Harness protocol of tests/drivers/driver_harness.py over fake switches."""

    name: ClassVar[str]
    fake: ClassVar[type[FakeSwitch]]

    def __init__(self, tmp_path: Path) -> None:
        source = DATA / self.name / "contract"
        self.root = tmp_path / self.name
        self.root.mkdir()
        text = (source / "fabric.yaml").read_text(encoding="utf-8")
        (self.root / "fabric.yaml").write_text(text, encoding="utf-8")
        self.inventory: FabricInventory = parse_inventory(yaml.safe_load(text), "fabric.yaml")
        self.switches = {s.name: self.fake(s.name, (source / f"{s.name}.cfg").read_text(encoding="utf-8"))
                         for s in self.inventory.switches}
        self.poisoned = False

    def _build(self, device: str, **connect: Any) -> Driver:
        def login() -> Any:
            if self.poisoned:
                raise OSError(113, "No route to host")
            return self.switches[device].connect(**connect)
        return build(self.name, device, self.inventory, self.root, login)

    def driver(self, device: str) -> Driver:
        return self._build(device)

    def failing_driver(self, device: str) -> Driver:
        return self._build(device, fail_commit=True)

    def configuration(self, device: str) -> str:
        return self.switches[device].config_text()

    def hand_made(self, device: str) -> list[str]:
        switch = self.switches[device]
        return hand_made_lines(switch.config_text(), switch.grammar.indent)

    def change_behind_our_back(self, device: str) -> None:
        self.switches[device].running.children += parse_tree("ip route 203.0.113.0/24 192.0.2.1 tag 7",
                                                             FakeSwitch.decoration).children

    def leftovers(self) -> list[str]:
        return [f"{name}: {left}" for name, switch in self.switches.items() for left in switch.leftovers()]

    def poison(self) -> None:
        self.poisoned = True


def inventory_for(platform: str, **extra: Any) -> FabricInventory:
    """The contract inventory of `platform`, with top-level fields replaced by `extra`."""
    data = yaml.safe_load((DATA / platform / "contract" / "fabric.yaml").read_text(encoding="utf-8"))
    return parse_inventory({**data, **extra}, "fabric.yaml")


def build(platform: str, device: str, inventory: FabricInventory, base_dir: Path,
          connect: ConnectionFactory) -> CliDriver:
    """The registered `platform` driver for `device`, connecting through `connect`."""
    cls = registry.get(platform)
    assert issubclass(cls, CliDriver), f"{platform} is not an SSH CLI driver"
    return cls(inventory.switch(device), inventory, base_dir, connect=connect)


def driver_on(switch: FakeSwitch, inventory: FabricInventory, base_dir: Path, **connect: Any) -> CliDriver:
    """A driver for the fake switch's device, logging in to it through the `connect=` seam."""
    return build(switch.grammar.name, switch.hostname, inventory, base_dir, lambda: switch.connect(**connect))

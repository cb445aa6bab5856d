"""The fake-controller REST drivers side by side, for the tests they share (parametrised by controller name)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import apstra_scenarios
import httpx
import nsx_scenarios
from driver_harness import DATA
from fake_apstra import FakeApstraServer
from fake_nsx import FakeNsxManager
from rest.fake_controller import FakeController

from drivers.base import Driver


@dataclass(frozen=True)
class Controller:
    """One controller's driver factory, fake and login, as the shared tests need them."""

    name: str
    make_driver: Callable[[Path, str, httpx.BaseTransport], Driver]
    fake_class: type[FakeController]

    def fake(self) -> FakeController:
        """The fake controller loaded with the contract objects."""
        return self.fake_class.load(DATA / self.name / self.fake_class.STATE_FILE)

    def driver(self, tmp_path: Path, fake: FakeController, sleeps: list[float] | None = None) -> Driver:
        """A leaf-1 driver on `fake`; with `sleeps`, its waits are kept there instead of skipped."""
        driver = self.make_driver(tmp_path, "leaf-1", fake.transport)
        if sleeps is not None:
            driver._sleep = sleeps.append  # type: ignore[attr-defined]
        return driver


CONTROLLERS = {c.name: c for c in (
    Controller("nsx", nsx_scenarios.make_driver, FakeNsxManager),
    Controller("apstra", apstra_scenarios.make_driver, FakeApstraServer),
)}
NAMES = sorted(CONTROLLERS)

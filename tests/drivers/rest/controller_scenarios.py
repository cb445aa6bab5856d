"""What the controllers' cassette scenarios share: a driver on the contract inventory, the steps, the recording.

`nsx_scenarios.py` and `apstra_scenarios.py` list their scenarios (a description, a fault to queue on the
fake controller, a step to run); `record` runs each against a freshly loaded fake and writes its cassette.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # driver_harness and the rest package, also when a scenario file is run

from driver_harness import DATA, desired  # noqa: E402
from rest.fake_controller import FakeController  # noqa: E402

from drivers.base import ApplyResult, Driver  # noqa: E402
from drivers.rest.cassette import RecordingTransport  # noqa: E402
from intent.inventory import parse_inventory  # noqa: E402
from intent.model import DeviceObject  # noqa: E402
from intent.plan import DevicePlan  # noqa: E402

CASSETTES = HERE.parent / "data" / "cassettes"
ControllerDriver = TypeVar("ControllerDriver", bound=Driver)
Fault = tuple[str, str, httpx.Response] | None
Scenario = tuple[str, Fault, Callable[[Any], object]]  # description, fault to queue, step to run


def fixture_driver(cls: type[ControllerDriver], root: Path, device: str, transport: httpx.BaseTransport,
                   password: str, **options: object) -> ControllerDriver:
    """A `cls` driver for `device` of the contract inventory (`options` added), its password file in `root`."""
    shutil.copy(DATA / cls.name / "fabric.yaml", root / "fabric.yaml")
    (root / f"{cls.name}-password").write_text(password + "\n")
    document = yaml.safe_load((root / "fabric.yaml").read_text())
    document["drivers"][cls.name].update(options)
    inventory = parse_inventory(document, "fabric.yaml")
    return cls(inventory.switch(device), inventory, root, transport=transport, sleep=lambda _s: None)


def plan(driver: Driver, extra: list[DeviceObject] | None = None) -> DevicePlan:
    return driver.plan(desired(driver.device) + (extra or []), driver.observe())


def plan_and_apply(driver: Driver) -> DevicePlan:
    made = plan(driver)
    driver.apply(made).raise_on_error()
    return made


def plan_and_try(driver: Driver) -> ApplyResult:
    return driver.apply(plan(driver))


def observe(driver: Driver) -> object:
    return driver.observe()


def record(controller: str, scenarios: Mapping[str, Scenario], load_fake: Callable[[], FakeController],
           make_driver: Callable[[Path, str, httpx.BaseTransport], Driver], root: Path,
           folder: Path | None = None) -> None:
    """Run every scenario on a fresh fake and write its cassette (to `folder`, else the controller's cassettes)."""
    for name, (description, fault, run) in scenarios.items():
        fake = load_fake()
        if fault is not None:
            fake.fail_next(*fault)
        recorder = RecordingTransport(fake.transport, lambda fake=fake: (fake.PASSWORD,))
        run(make_driver(root, "leaf-2" if name.endswith("leaf-2") else "leaf-1", recorder))
        recorder.cassette(controller, description).write((folder or CASSETTES / controller) / f"{name}.json")

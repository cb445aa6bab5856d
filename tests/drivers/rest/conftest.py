"""Fixtures of the REST driver tests: the aci contract inventory in a folder of its own, with its password file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aci_support import AciFactory, Sleeps

from drivers.rest.aci import AciDriver
from intent.inventory import FabricInventory, parse_inventory

CONTRACT = Path(__file__).resolve().parent.parent / "data" / "contract" / "aci"
PASSWORD = "fake-apic-password"


@pytest.fixture
def aci_root(tmp_path: Path) -> Path:
    shutil.copy(CONTRACT / "fabric.yaml", tmp_path / "fabric.yaml")
    (tmp_path / "apic-password").write_text(PASSWORD + "\n")
    return tmp_path


@pytest.fixture
def make_aci(aci_root: Path) -> AciFactory:
    """`make_aci(transport, device="leaf-1", clock=..., **aci_settings)` -> an AciDriver on the contract inventory."""
    def make(transport: httpx.BaseTransport, device: str = "leaf-1", sleep: Callable[[float], None] | None = None,
             clock: Callable[[], float] | None = None, **settings: Any) -> AciDriver:
        data = yaml.safe_load((aci_root / "fabric.yaml").read_text())
        data["drivers"]["aci"].update(settings)
        inventory: FabricInventory = parse_inventory(data, "fabric.yaml")
        seams: dict[str, Any] = {"transport": transport, "sleep": Sleeps() if sleep is None else sleep}
        if clock is not None:
            seams["clock"] = clock
        return AciDriver(inventory.switch(device), inventory, aci_root, **seams)
    return make

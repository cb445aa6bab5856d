"""Drivers are found by name through the `fabric_intent.drivers` entry points."""

from __future__ import annotations

import pytest
from driver_harness import harness_class

from drivers import registry
from drivers.base import Driver
from drivers.sim import SimDriver
from intent.errors import DriverNotFoundError, FabricIntentError


def test_sim_is_installed() -> None:
    available = registry.available()
    assert available["sim"] is SimDriver
    assert all(isinstance(cls, type) and issubclass(cls, Driver) for cls in available.values())
    assert list(available) == sorted(available)
    assert registry.get("sim") is SimDriver


def test_every_registered_driver_has_a_contract_fixture() -> None:
    missing = [name for name in registry.available() if harness_class(name) is None]
    assert not missing, f"drivers without a contract fixture: {missing} (add tests/drivers/harness_<name>.py)"


def test_unknown_driver_names_what_is_installed() -> None:
    with pytest.raises(DriverNotFoundError) as info:
        registry.get("nonesuch")
    assert "no driver named 'nonesuch' is installed (installed: " in str(info.value)
    assert "sim" in str(info.value)
    assert isinstance(info.value, FabricIntentError) and not info.value.retryable

"""Contract fixture for the nxos driver: fake Cisco Nexus switches (tests/drivers/ssh/fake_device_nxos.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "ssh"))

from fake_device_harness import FakeSwitchHarness  # noqa: E402
from fake_device_nxos import FakeNxos  # noqa: E402


class NxosHarness(FakeSwitchHarness):
    name = "nxos"
    fake = FakeNxos


HARNESS = NxosHarness

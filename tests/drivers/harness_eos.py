"""Contract fixture for the eos driver: fake Arista switches (tests/drivers/ssh/fake_device_eos.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "ssh"))

from fake_device_eos import FakeEos  # noqa: E402
from fake_device_harness import FakeSwitchHarness  # noqa: E402


class EosHarness(FakeSwitchHarness):
    name = "eos"
    fake = FakeEos


HARNESS = EosHarness

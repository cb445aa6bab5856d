"""The `harness` fixture: one run of the driver contract per driver the registry can build."""

from __future__ import annotations

from pathlib import Path

import pytest
from driver_harness import Harness, harness_for

from drivers import registry


@pytest.fixture(params=sorted(registry.available()))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return harness_for(request.param, tmp_path)

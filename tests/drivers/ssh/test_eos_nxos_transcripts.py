"""The EOS and NX-OS drivers against recorded session transcripts (data/ssh/<platform>/transcripts/).

Each transcript holds the intent to apply, what the result must be, and every exchange with the
switch: the command or configuration lines sent, and what the switch printed (with its prompts).
The driver must send exactly the recorded commands, in order, and nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_device_harness import DATA, build, inventory_for
from fake_device_replay import ReplayConnection
from pydantic import TypeAdapter

from intent.errors import DriverError
from intent.model import Realized

_OBJECTS: TypeAdapter[Any] = TypeAdapter(list[Realized])
TRANSCRIPTS = sorted((DATA / "eos" / "transcripts").glob("*.yaml")) + sorted(
    (DATA / "nxos" / "transcripts").glob("*.yaml"))


def _replay(transcript: Path, tmp_path: Path) -> tuple[Any, ReplayConnection, dict[str, Any]]:
    platform = transcript.parent.parent.name
    spec = yaml.safe_load(transcript.read_text(encoding="utf-8"))
    extra = {"drivers": {platform: spec["options"]}} if "options" in spec else {}
    inventory = inventory_for(platform, **extra)
    replay = ReplayConnection(transcript)
    driver = build(platform, spec["device"], inventory, tmp_path, lambda: replay)
    return driver, replay, spec


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda p: f"{p.parent.parent.name}-{p.stem}")
def test_driver_follows_the_recorded_session(transcript: Path, tmp_path: Path) -> None:
    driver, replay, spec = _replay(transcript, tmp_path)
    plan = driver.plan(_OBJECTS.validate_python(spec["desired"]), driver.observe())
    expect = spec["expect"]
    if "raises" in expect:
        with pytest.raises(DriverError) as info:
            driver.apply(plan)
        assert str(info.value) == expect["raises"]
    else:
        result = driver.apply(plan)
        assert list(result.applied) == expect["applied"]
        assert list(result.not_applied) == expect["not_applied"]
        assert result.error == expect["error"]
    assert replay.finished, f"the driver stopped after exchange {replay.position} of {len(replay.exchanges)}"
    assert replay.disconnected


def test_transcripts_exist_for_each_platform_and_outcome() -> None:
    names = {f"{p.parent.parent.name}/{p.stem}" for p in TRANSCRIPTS}
    assert {"eos/apply-session", "eos/apply-commit-timer", "eos/refused-line", "eos/commit-failed",
            "nxos/apply-checkpoint", "nxos/refused-line", "nxos/rollback-failed", "nxos/policy-apply",
            "nxos/policy-tcam-full", "eos/policy-apply", "eos/policy-egress-unsupported"} <= names


def test_a_driver_that_strays_from_the_recording_is_caught(tmp_path: Path) -> None:
    driver, replay, spec = _replay(DATA / "eos" / "transcripts" / "apply-session.yaml", tmp_path)
    observed = driver.observe()
    plan = driver.plan(_OBJECTS.validate_python(spec["desired"][:1]), observed)  # a different plan
    with pytest.raises(DriverError, match=r"apply-session.yaml #\d+: expected"):  # wrapped: nothing leaks
        driver.apply(plan)

"""What every fake-controller REST driver shows in replay: a converged intent sends nothing, cassettes hold
no secret, and an expired session is logged in again."""

from __future__ import annotations

from pathlib import Path

import pytest
from controller_scenarios import CASSETTES, plan, plan_and_apply
from controllers import CONTROLLERS, NAMES
from replay import Replay


@pytest.mark.parametrize("name", NAMES)
def test_second_plan_after_apply_is_empty_and_sends_nothing(tmp_path: Path, name: str) -> None:
    controller = CONTROLLERS[name]
    fake = controller.fake()
    plan_and_apply(controller.driver(tmp_path, fake))
    before = len(fake.writes())
    again = controller.driver(tmp_path, fake)
    assert plan(again).changes == ()
    assert again.apply(plan(again)).applied == ()
    assert len(fake.writes()) == before, "a converged intent sends no writes"


@pytest.mark.parametrize(("name", "password", "scrubbed"), [
    pytest.param("nsx", "nsx-secret", ('"x-xsrf-token": "<scrubbed>"', "JSESSIONID=<scrubbed>"), id="nsx"),
    pytest.param("apstra", "apstra-secret", ('"authtoken": "<scrubbed>"', '"token": "<scrubbed>"'), id="apstra"),
])
def test_cassettes_hold_no_secret(name: str, password: str, scrubbed: tuple[str, ...]) -> None:
    for path in (CASSETTES / name).glob("*.json"):
        text = path.read_text()
        assert password not in text and "Passw0rd" not in text, path.name
        assert all(mark in text for mark in scrubbed), path.name


@pytest.mark.parametrize("name", NAMES)
def test_replayed_expired_session_logs_in_again(tmp_path: Path, name: str) -> None:
    controller = CONTROLLERS[name]
    with Replay.load(name, "relogin-401") as replay:
        state = controller.make_driver(tmp_path, "leaf-1", replay.transport).observe()
    assert len(state.objects) == 4
    assert [r.url.path for r in replay.sent].count(controller.fake_class.LOGIN) == 2

"""Every failure of the Apstra server ends in a precise error, staging is put back and nothing is deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apstra_scenarios import make_driver
from driver_harness import DATA, desired
from fake_apstra import FakeApstraServer, apstra_error

from drivers.rest.apstra import ApstraDriver
from drivers.rest.errors import ControllerError
from intent.errors import ApplyError

BP = "/api/blueprints/leaf-1"


@pytest.fixture
def server() -> FakeApstraServer:
    return FakeApstraServer.load(DATA / "apstra" / "apstra-server.json")


def _driver(tmp_path: Path, server: FakeApstraServer, sleeps: list[float] | None = None,
            **options: object) -> ApstraDriver:
    driver = make_driver(tmp_path, "leaf-1", server.transport, **options)
    if sleeps is not None:
        driver._sleep = sleeps.append
    return driver


def _content(graph: dict[str, Any]) -> str:
    """The staging graph without the ids Apstra chooses (a zone put back gets a new one)."""
    return json.dumps({name: sorted(json.dumps({k: v for k, v in o.items() if k != "id"}, sort_keys=True)
                                    for o in objects.values()) for name, objects in graph.items()}, sort_keys=True)


def test_a_missing_blueprint_is_named(tmp_path: Path, server: FakeApstraServer) -> None:
    with pytest.raises(ControllerError) as info:
        _driver(tmp_path, server, blueprint="bp-nope").observe()
    assert str(info.value) == ("leaf-1: GET /api/blueprints/bp-nope failed with HTTP 404: "
                               "Blueprint bp-nope of type staging not found")


def test_a_422_mid_staging_undoes_the_earlier_writes(tmp_path: Path, server: FakeApstraServer) -> None:
    driver = _driver(tmp_path, server)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    before, deployed = _content(server.staging["leaf-1"]), json.dumps(server.deployed, sort_keys=True)
    server.fail_next("POST", f"{BP}/obj-policy-import", apstra_error(
        422, {"policies": {"x": {"security_zone": "No node with id: 'sz-gone'"}}}))
    result = driver.apply(plan)
    assert result.error == ("leaf-1: POST /api/blueprints/leaf-1/obj-policy-import failed with HTTP 422: "
                            '{"policies":{"x":{"security_zone":"No node with id: \'sz-gone\'"}}}')
    assert result.not_applied == tuple(c.key for c in plan.changes) and result.applied == ()
    assert _content(server.staging["leaf-1"]) == before, "staging holds what it held before"
    assert json.dumps(server.deployed, sort_keys=True) == deployed, "nothing was deployed"
    undo = [(m, p) for m, p, _ in server.writes()][3:]
    assert [m for m, _ in undo] == ["PUT", "DELETE"], "the policy update and the new zone are undone, newest first"


def test_build_errors_stop_the_deploy_with_apstra_text(tmp_path: Path, server: FakeApstraServer) -> None:
    driver = _driver(tmp_path, server)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    before = _content(server.staging["leaf-1"])
    server.build_errors = {"nodes": {"leaf1_as": [{"message": "Domain ID for autonomous system required",
                                                   "severity": "error"}]}}
    result = driver.apply(plan)
    assert result.error == ("leaf-1: Apstra reports build errors in the staged blueprint leaf-1: leaf1_as: Domain ID "
                            "for autonomous system required")
    assert _content(server.staging["leaf-1"]) == before
    assert not [r for r in server.writes() if r[1].endswith("/deploy")]


def test_a_failed_deploy_task_is_reported_and_staging_put_back(tmp_path: Path, server: FakeApstraServer) -> None:
    driver = _driver(tmp_path, server)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    before = _content(server.staging["leaf-1"])
    server.task_outcome = "failed"
    result = driver.apply(plan)
    assert result.error is not None and result.error.startswith("leaf-1: the deploy task task-")
    assert result.error.endswith(" failed: ['leaf-1: commit check failed: syntax error']")
    assert _content(server.staging["leaf-1"]) == before


def test_connection_reset_mid_staging_undoes_even_the_write_whose_answer_was_lost(
        tmp_path: Path, server: FakeApstraServer) -> None:
    driver = _driver(tmp_path, server)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    before = _content(server.staging["leaf-1"])
    server.reset_next("POST", f"{BP}/obj-policy-import", after_work=True)
    result = driver.apply(plan)
    assert result.error == ("leaf-1: POST /api/blueprints/leaf-1/obj-policy-import could not be completed "
                            "(ReadError: [Errno 104] Connection reset by peer); controller https://apstra.example.net")
    assert _content(server.staging["leaf-1"]) == before
    assert server.deployed_version["leaf-1"] == 1


def test_a_lost_answer_to_a_zone_create_is_reported_exactly(tmp_path: Path, server: FakeApstraServer) -> None:
    driver = _driver(tmp_path, server)
    plan = driver.plan(desired("leaf-1"), driver.observe())
    server.reset_next("POST", f"{BP}/security-zones", after_work=True)
    with pytest.raises(ApplyError) as info:
        driver.apply(plan)
    assert str(info.value) == ("leaf-1: could not undo every staged change; the staging blueprint leaf-1 may still "
                               "hold: create vrf BLUE (the blueprint holds no vrf:leaf-1:BLUE); revert it in Apstra")


def test_deploy_false_only_stages(tmp_path: Path, server: FakeApstraServer) -> None:
    driver = _driver(tmp_path, server, deploy=False)
    deployed = json.dumps(server.deployed, sort_keys=True)
    result = driver.apply(driver.plan(desired("leaf-1"), driver.observe()))
    assert not result.failed
    assert json.dumps(server.deployed, sort_keys=True) == deployed
    assert server.version["leaf-1"] > server.deployed_version["leaf-1"], "Apstra shows the change as uncommitted"
    assert not [r for r in server.writes() if r[1].endswith("/deploy")]

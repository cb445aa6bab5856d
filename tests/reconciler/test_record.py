"""`fabric-intent record`: a driver's exchanges with its controller written as a cassette, secrets scrubbed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from drivers.rest.cassette import Cassette
from reconciler.cli import main
from reconciler.record import record_device

TESTS = Path(__file__).resolve().parent.parent
CASE = TESTS / "intent" / "cases" / "static-routes"
sys.path.insert(0, str(TESTS / "drivers"))
from fake_apic import FakeApic  # noqa: E402


@pytest.fixture
def fabric(tmp_path: Path) -> Path:
    data = yaml.safe_load((CASE / "fabric.yaml").read_text())
    for switch in data["switches"]:
        if switch["name"] == "leaf-a1":
            switch.update(driver="aci", options={"node_id": 101, "node_profile": "k8s-leaf-101"})
    data["drivers"] = {"aci": {"base_url": "https://apic.example.net", "tenant": "k8s", "node_profile": "k8s-nodes",
                               "l3out": "k8s-default",
                               "credentials": {"username": "admin", "password": {"file": "apic-password"}}}}
    (tmp_path / "fabric.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "apic-password").write_text("fake-apic-password\n")
    return tmp_path / "fabric.yaml"


@pytest.fixture
def apic() -> FakeApic:
    fake = FakeApic()
    fake.load(json.loads((TESTS / "drivers" / "data" / "contract" / "aci" / "apic-state.json").read_text())["imdata"])
    return fake


def test_recording_an_observe_writes_the_reads_with_secrets_scrubbed(fabric: Path, apic: FakeApic) -> None:
    cassette, report = record_device(fabric, "leaf-a1", inner=apic.transport)
    assert report.startswith("leaf-a1: 0 owned object(s), revision ")
    paths = [e.request.path for e in cassette.exchanges]
    assert paths[0] == "/api/aaaLogin.json" and len(paths) == 6  # login, node subtree, peers, three class reads
    text = cassette.dumps()
    assert "fake-apic-password" not in text and not any(token in text for token in apic.tokens)
    assert cassette.controller == "aci" and cassette.description == "aci leaf-a1: observe"


def test_recording_with_a_cluster_plans_and_applies_in_one_post(fabric: Path, apic: FakeApic, tmp_path: Path) -> None:
    cassette, report = record_device(fabric, "leaf-a1", cluster=CASE / "cluster", apply=True, inner=apic.transport)
    posts = [e for e in cassette.exchanges if e.request.method == "POST" and e.request.path.startswith("/api/mo/")]
    assert len(posts) == 1 and posts[0].response is not None and posts[0].response.status == 200
    assert report.count("+ static route") >= 1
    routes = [dn for dn, (cls, _) in apic.mos.items() if cls == "ipRouteP" and "k8s-default" in dn and "10.244." in dn]
    assert len(routes) == report.count("+ static route")
    cassette.write(tmp_path / "out.json")
    assert Cassette.load(tmp_path / "out.json") == cassette


def test_record_names_an_unknown_device(fabric: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as code:
        main(["record", "--fabric", str(fabric), "--device", "leaf-zz", "--out", str(tmp_path / "c.json")])
    assert code.value.code == 1
    assert "error: --device: 'leaf-zz' is not a switch of fabric.yaml (switches: spine-1, leaf-a1, leaf-a2, " \
           "leaf-b1)" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_record_refuses_a_driver_that_does_not_speak_http(fabric: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as code:
        main(["record", "--fabric", str(fabric), "--device", "leaf-b1", "--out", str(tmp_path / "c.json")])
    assert code.value.code == 1
    assert "error: --device: leaf-b1 uses the sim driver, which does not speak HTTP" in capsys.readouterr().err

"""The whole fabric: observe every device, plan, apply device by device, refuse what is unsafe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from driver_harness import desired

from drivers.fabric import Fabric
from drivers.sim import SimDriver
from intent.errors import DriverError, DriverNotFoundError, MassDeleteError, PlanError, StalePlanError
from intent.inventory import FabricInventory, parse_inventory
from intent.model import IntentGraph
from intent.plan import Plan

DATA = Path(__file__).resolve().parent / "data"
DEVICES = ("leaf-1", "leaf-2")


def _no_space(src: str, dst: Path) -> None:
    raise OSError(28, "No space left on device", str(dst))


class Lab:
    """The contract fixture's two leaves as a Fabric, with a commit failure injectable per device."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "lab"
        shutil.copytree(DATA / "contract" / "sim", self.root)
        self.state_file = self.root / "sim-fabric.json"
        self.inventory: FabricInventory = parse_inventory(
            yaml.safe_load((self.root / "fabric.yaml").read_text()), "fabric.yaml")
        self.graph = IntentGraph(fabric="contract-lab", cluster="contract",
                                 objects=tuple(o for d in DEVICES for o in desired(d)))

    def fabric(self, failing: tuple[str, ...] = ()) -> Fabric:
        def seams(device: str) -> dict[str, Any]:
            return {"replace": _no_space} if device in failing else {}
        drivers = {s.name: SimDriver(s, self.inventory, self.root, **seams(s.name)) for s in self.inventory.switches}
        return Fabric(self.inventory, drivers)

    def plan(self, fab: Fabric, cluster_nodes: int = 2) -> Plan:
        """The plan to the desired state (it deletes 2 of leaf-1's 4 owned objects: a mass delete)."""
        return fab.plan(self.graph, fab.observe(), cluster_nodes=cluster_nodes)

    def devices(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())["devices"]


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


def test_apply_reports_progress_and_converges(lab: Lab) -> None:
    fab = lab.fabric()
    plan = lab.plan(fab)
    messages: list[tuple[str, str]] = []
    results = fab.apply(plan, progress=lambda device, message: messages.append((device, message)),
                        allow_mass_delete=True)
    # Make-before-break across the fabric: every device's adds and changes, then every device's deletes.
    assert [r.device for r in results] == ["leaf-1", "leaf-2", "leaf-1"]
    assert not any(r.failed for r in results)
    assert messages == [("leaf-1", "add/change: applying 5 change(s)"), ("leaf-1", "done"),
                        ("leaf-2", "add/change: applying 1 change(s)"), ("leaf-2", "done"),
                        ("leaf-1", "delete: applying 2 change(s)"), ("leaf-1", "done")]
    deleted = {c.key for c in plan.changes if c.action == "delete"}
    assert set(results[2].applied) == deleted and not deleted & set(results[0].applied)
    assert not lab.plan(fab).has_changes


def test_a_vip_moving_between_devices_is_announced_before_it_is_withdrawn(lab: Lab) -> None:
    fab = lab.fabric()
    plan = lab.plan(fab)
    order: list[tuple[str, str]] = []
    fab.apply(plan, progress=lambda device, message: order.append((device, message.split(":")[0])),
              allow_mass_delete=True)
    phases = [phase for _, phase in order if phase in ("add/change", "delete")]
    assert phases == sorted(phases), "no delete step runs before every add/change step has run"


def test_apply_stops_at_the_first_failed_device(lab: Lab) -> None:
    before = lab.devices()
    fab = lab.fabric(failing=("leaf-1",))
    messages: list[tuple[str, str]] = []
    results = fab.apply(lab.plan(fab), progress=lambda device, message: messages.append((device, message)),
                        allow_mass_delete=True)
    assert len(results) == 1 and results[0].failed
    assert (results[0].error or "").startswith("leaf-1: cannot write sim-fabric.json")
    assert messages[-1][0] == "leaf-1" and messages[-1][1].startswith("failed: ")
    assert all(device != "leaf-2" for device, _ in messages), "leaf-2 is not worked on after leaf-1 failed"
    assert lab.devices() == before
    assert sorted(p.name for p in lab.root.iterdir()) == ["fabric.yaml", "sim-fabric.json"]


def test_devices_before_a_failure_keep_their_changes(lab: Lab) -> None:
    before = lab.devices()
    fab = lab.fabric(failing=("leaf-2",))
    results = fab.apply(lab.plan(fab), allow_mass_delete=True)
    assert [(r.device, r.failed) for r in results] == [("leaf-1", False), ("leaf-2", True)]
    assert results[1].not_applied == ("static-route:leaf-2:10.244.5.0/24@192.168.2.11",)
    after = lab.devices()
    assert after["leaf-1"] != before["leaf-1"]
    assert after["leaf-2"] == before["leaf-2"]


def test_a_stale_device_refuses_the_whole_plan(lab: Lab) -> None:
    fab = lab.fabric()
    plan = lab.plan(fab)
    data = json.loads(lab.state_file.read_text())
    data["devices"]["leaf-2"].append({"kind": "note", "text": "hand-made, after the plan", "owner": "netops"})
    lab.state_file.write_text(json.dumps(data))
    before = lab.state_file.read_bytes()
    with pytest.raises(StalePlanError, match="leaf-2: the device changed since the plan was made; nothing was applied"):
        fab.apply(plan, allow_mass_delete=True)
    assert lab.state_file.read_bytes() == before, "leaf-1 comes first in the plan but was not applied either"


def test_an_edited_change_refuses_the_whole_plan(lab: Lab) -> None:
    fab = lab.fabric()
    plan = lab.plan(fab)
    leaf2 = plan.devices[1]
    native = ("set vrf default static-route 0.0.0.0/0 next-hop 1.1.1.1",)
    edited = leaf2.changes[0].model_copy(update={"native": native})
    plan = plan.model_copy(update={"devices": (plan.devices[0], leaf2.model_copy(update={"changes": (edited,)}))})
    before = lab.state_file.read_bytes()
    with pytest.raises(PlanError, match="leaf-2: change static-route:leaf-2:10.244.5.0/24@192.168.2.11 .*native lines"):
        fab.apply(plan, allow_mass_delete=True)
    assert lab.state_file.read_bytes() == before


def test_plan_for_another_fabric_is_refused(lab: Lab) -> None:
    fab = lab.fabric()
    plan = lab.plan(fab).model_copy(update={"cluster": "other"})
    with pytest.raises(PlanError, match="the plan is for fabric contract-lab / cluster other"):
        fab.apply(plan, allow_mass_delete=True)


def test_mass_delete_and_empty_view_are_refused_by_apply(lab: Lab) -> None:
    fab = lab.fabric()
    before = lab.state_file.read_bytes()
    with pytest.raises(MassDeleteError, match="empty cluster view"):
        fab.apply(lab.plan(fab, cluster_nodes=0))
    with pytest.raises(MassDeleteError, match="deletes 2 of 4 objects fabric-intent owns"):
        fab.apply(lab.plan(fab))
    assert lab.state_file.read_bytes() == before, "a refused plan changes nothing"
    assert lab.plan(fab).summary.destroy == 2  # showing such a plan is always allowed
    assert lab.plan(fab, cluster_nodes=0).summary.destroy == 2
    assert not any(r.failed for r in fab.apply(lab.plan(fab), allow_mass_delete=True))


def test_objects_for_unknown_devices_are_refused(lab: Lab) -> None:
    fab = lab.fabric()
    graph = IntentGraph(fabric="contract-lab", cluster="contract",
                        objects=tuple(o.model_copy(update={"device": "leaf-9"}) for o in desired("leaf-2")))
    with pytest.raises(PlanError, match="device leaf-9 is not in the inventory"):
        fab.plan(graph, fab.observe(), cluster_nodes=2)


def test_observe_names_the_device_of_a_crashing_driver(lab: Lab) -> None:
    class Crashing(SimDriver):
        def observe(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("socket closed")

    healthy = lab.fabric()
    crashing = Crashing(lab.inventory.switch("leaf-2"), lab.inventory, lab.root)
    fab = Fabric(healthy.inventory, {**healthy.drivers, "leaf-2": crashing})
    with pytest.raises(DriverError, match="leaf-2: observe failed: RuntimeError: socket closed"):
        fab.observe()


def test_unknown_driver_names_the_switch(lab: Lab) -> None:
    document = yaml.safe_load((lab.root / "fabric.yaml").read_text())
    document["switches"][1]["driver"] = "eos-typo"
    inventory = parse_inventory(document, "fabric.yaml")
    with pytest.raises(DriverNotFoundError, match="switch leaf-2: no driver named 'eos-typo' is installed"):
        Fabric.from_inventory(inventory, lab.root)

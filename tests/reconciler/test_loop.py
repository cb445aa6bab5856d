"""The reconcile loop on the sim fabric, fed by an in-memory cluster source."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from loop_support import SimFabric, running, settings, value, wait_for, writes
from memcluster import MemoryCluster, node, sample_objects

from drivers.base import Driver
from drivers.sim import SimDriver
from intent.errors import DeviceUnreachableError
from intent.plan import FabricState
from reconciler.devices import Backoff, DeviceFailure, DeviceWork
from reconciler.loop import Reconciler
from reconciler.metrics import Metrics


@pytest.fixture
def sim(tmp_path: Path) -> SimFabric:
    return SimFabric.create(tmp_path)


@pytest.fixture
def cluster() -> MemoryCluster:
    return MemoryCluster(sample_objects())


def make(sim: SimFabric, cluster: MemoryCluster, drivers: dict[str, Driver] | None = None, **changes: object
         ) -> Reconciler:
    reconciler = Reconciler(sim.inventory(), drivers or dict(sim.fabric().drivers), cluster,
                            settings=settings(**changes), metrics=Metrics())
    cluster.on_event = reconciler.notify
    return reconciler


def test_first_reconcile_converges_and_the_next_writes_nothing(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster)
    first = reconciler.reconcile()
    assert first.result == "changed" and first.plan is not None
    assert len(sim.owned()) == first.plan.summary.add == 16
    before = sim.state_file.read_bytes()
    second = reconciler.reconcile()
    assert (second.result, second.writes) == ("converged", 0)
    assert writes(reconciler.metrics) == first.writes
    assert sim.state_file.read_bytes() == before


def test_hand_made_configuration_is_kept(sim: SimFabric, cluster: MemoryCluster) -> None:
    handmade = [e for e in sim.entries("leaf-a1") if e.get("owner") != "fabric-intent"]
    assert handmade
    make(sim, cluster).reconcile()
    assert [e for e in sim.entries("leaf-a1") if e.get("owner") != "fabric-intent"] == handmade


def test_node_added_then_deleted_through_events(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster)
    with running(reconciler):
        wait_for(lambda: "10.244.1.0/24" in sim.prefixes("leaf-a1"), what="the initial convergence")
        cluster.put(node("worker-a4", "rack-a", "192.168.1.14", "10.244.10.0/24"))
        wait_for(lambda: "10.244.10.0/24" in sim.prefixes("leaf-a1"), what="the new node's route")
        cluster.delete("Node", "worker-a4")
        wait_for(lambda: "10.244.10.0/24" not in sim.prefixes("leaf-a1"), what="the route withdrawn")
    assert value(reconciler.metrics, "fabric_intent_event_to_applied_seconds_count") == 2
    assert value(reconciler.metrics, "fabric_intent_last_success_timestamp_seconds") > 0


def test_a_burst_of_events_coalesces_into_one_reconcile(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster, debounce=0.2, max_delay=2.0)
    with running(reconciler):
        wait_for(lambda: value(reconciler.metrics, "fabric_intent_last_success_timestamp_seconds") > 0,
                 what="the initial convergence")
        rounds = value(reconciler.metrics, "fabric_intent_reconcile_duration_seconds_count", outcome="changed")
        routes = len(sim.prefixes("leaf-a1"))
        for i in range(30):
            cluster.put(node(f"burst-{i}", "rack-a", f"192.168.1.{100 + i}", f"10.245.{i}.0/24"))
        wait_for(lambda: value(reconciler.metrics, "fabric_intent_event_to_applied_seconds_count") == 30,
                 what="30 events applied")
        after = value(reconciler.metrics, "fabric_intent_reconcile_duration_seconds_count", outcome="changed")
    assert len(sim.prefixes("leaf-a1")) == routes + 30
    assert after - rounds == 1


def test_nothing_is_planned_before_the_cluster_view_is_synced(sim: SimFabric) -> None:
    cluster = MemoryCluster(sample_objects(), synced=False)
    reconciler = make(sim, cluster)
    outcome = reconciler.reconcile()
    assert outcome.result == "held" and "not synced" in outcome.reason
    assert not sim.state_file.exists()
    assert value(reconciler.metrics, "fabric_intent_holding") == 1
    cluster.mark_synced()
    assert reconciler.reconcile().result == "changed"
    assert value(reconciler.metrics, "fabric_intent_holding") == 0


def test_a_watch_broken_longer_than_the_hold_time_withdraws_nothing(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster, hold_after=0.3)
    reconciler.reconcile()
    cluster.break_watch(since=time.monotonic() - 1.0)
    cluster.delete("Node", "worker-a3")
    outcome = reconciler.reconcile()
    assert outcome.result == "held" and "broken" in outcome.reason
    assert "10.244.3.0/24" in sim.prefixes("leaf-a1")
    cluster.heal_watch()
    assert reconciler.reconcile().result == "changed"
    assert "10.244.3.0/24" not in sim.prefixes("leaf-a1")


def test_a_watch_broken_shorter_than_the_hold_time_does_not_hold(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster, hold_after=30)
    cluster.break_watch()
    assert reconciler.reconcile().result == "changed"


def test_the_mass_delete_guard_trips_counts_and_deletes_nothing(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster)
    reconciler.reconcile()
    owned = sim.owned()
    for obj in sample_objects():
        if obj["kind"] == "Node":
            cluster.delete("Node", obj["metadata"]["name"])
    outcome = reconciler.reconcile()
    assert outcome.result == "refused" and "empty cluster view" in outcome.reason
    assert sim.owned() == owned
    assert value(reconciler.metrics, "fabric_intent_mass_delete_trips_total") == 1


def test_allow_mass_delete_lets_a_large_withdrawal_through(sim: SimFabric, cluster: MemoryCluster) -> None:
    make(sim, cluster).reconcile()
    for name in ("worker-c2", "worker-c3"):  # 4 of 16 owned objects
        cluster.delete("Node", name)
    assert make(sim, cluster).reconcile().result == "refused"
    assert make(sim, cluster, allow_mass_delete=True).reconcile().result == "changed"
    assert not any(e.get("neighbor") in ("192.168.3.12", "192.168.3.13") for e in sim.owned("leaf-c1"))


class FailingReplace:
    """The sim driver's commit seam: fails the next `failures` commits, then replaces the file."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def __call__(self, src: str, dst: Path) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        os.replace(src, dst)


def _drivers_with(sim: SimFabric, device: str, replace: FailingReplace) -> dict[str, Driver]:
    inventory = sim.inventory()
    drivers = dict(sim.fabric().drivers)
    drivers[device] = SimDriver(inventory.switch(device), inventory, sim.folder, replace=replace)
    return drivers


def test_a_failing_device_backs_off_without_blocking_the_others(sim: SimFabric, cluster: MemoryCluster) -> None:
    replace = FailingReplace(failures=1)
    reconciler = make(sim, cluster, _drivers_with(sim, "leaf-b1", replace), backoff_base=0.3, backoff_cap=5)
    outcome = reconciler.reconcile()
    assert outcome.result == "partial" and [f.device for f in outcome.failures] == ["leaf-b1"]
    assert sim.owned("leaf-a1") and sim.owned("leaf-c1") and not sim.owned("leaf-b1")
    assert value(reconciler.metrics, "fabric_intent_apply_errors_total", device="leaf-b1") == 1
    assert reconciler.backoff.failures == {"leaf-b1": 1}
    waiting = reconciler.reconcile()  # leaf-b1 is not tried again before its delay is over
    assert [f.reason for f in waiting.failures] == ["waiting"] and replace.failures == 0
    with running(reconciler):
        wait_for(lambda: sim.owned("leaf-b1"), what="leaf-b1 converged after its backoff")
    assert reconciler.backoff.failures == {}


def test_backoff_grows_to_its_cap_and_honours_retry_after() -> None:
    backoff = Backoff(base=1, cap=8, jitter=0)
    assert [backoff.failed("leaf-a1", 0) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.failed("leaf-b1", 0, retry_after=30) == 30
    assert backoff.next_due() == 8 and not backoff.ready("leaf-b1", 29) and backoff.ready("leaf-b1", 30)
    backoff.succeeded("leaf-a1")
    assert backoff.ready("leaf-a1", 0) and backoff.failures == {"leaf-b1": 1}


def test_resync_repairs_a_hand_edit_of_an_owned_object(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster, resync_interval=0.3)
    reconciler.reconcile()
    state = sim.state()
    leaf = state["devices"]["leaf-a1"]
    removed = next(e for e in leaf if e.get("owner") == "fabric-intent" and e["kind"] == "static-route")
    leaf.remove(removed)
    retagged = next(e for e in leaf if e.get("owner") == "fabric-intent" and e["kind"] == "static-route")
    retagged["tag"] = 999
    sim.write_state(state)
    with running(reconciler):  # no event: only the periodic resync can find it
        wait_for(lambda: removed["prefix"] in sim.prefixes("leaf-a1"), what="the removed route restored")
        wait_for(lambda: all(e.get("tag") != 999 for e in sim.owned("leaf-a1")), what="the tag repaired")
    assert sim.entries("leaf-a1")[0]["owner"] == "netops"


class Leadership:
    def __init__(self, leader: bool) -> None:
        self.is_leader = leader


def test_a_follower_writes_nothing_until_it_leads(sim: SimFabric, cluster: MemoryCluster) -> None:
    lease = Leadership(False)
    reconciler = Reconciler(sim.inventory(), dict(sim.fabric().drivers), cluster, settings=settings(), leader=lease)
    assert reconciler.reconcile().result == "standby"
    assert not sim.state_file.exists()
    with running(reconciler):
        lease.is_leader = True
        reconciler.kick()
        wait_for(lambda: len(sim.owned()) == 16, what="the new leader's convergence")


@pytest.mark.parametrize("mode", ["plan", "observe"])
def test_plan_and_observe_modes_publish_and_write_nothing(sim: SimFabric, cluster: MemoryCluster, mode: str) -> None:
    reconciler = make(sim, cluster, mode=mode)
    outcome = reconciler.reconcile()
    assert outcome.result == "planned" and outcome.writes == 0
    assert reconciler.last_plan is not None and reconciler.last_plan.summary.add == 16
    assert not sim.state_file.exists()
    assert value(reconciler.metrics, "fabric_intent_plan_changes", action="create") == 16
    assert value(reconciler.metrics, "fabric_intent_drift_objects", device="leaf-c1") == 6
    assert value(reconciler.metrics, "fabric_intent_mode", mode=mode) == 1


def test_withdrawals_wait_for_creates_elsewhere(sim: SimFabric, cluster: MemoryCluster) -> None:
    make(sim, cluster).reconcile()
    replace = FailingReplace(failures=1)
    reconciler = make(sim, cluster, _drivers_with(sim, "leaf-b1", replace), backoff_base=5, backoff_cap=5)
    cluster.delete("Node", "worker-a3")
    cluster.put(node("worker-b4", "rack-b", "192.168.2.14", "10.244.12.0/24"))
    held = reconciler.reconcile()
    assert held.result == "partial" and "10.244.3.0/24" in sim.prefixes("leaf-a1")
    later = reconciler.reconcile()  # leaf-b1 now waits out its backoff; the withdrawal goes ahead
    assert later.writes == 1 and "10.244.3.0/24" not in sim.prefixes("leaf-a1")


def test_an_unsafe_cluster_changes_nothing(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster)
    reconciler.reconcile()
    before = sim.state_file.read_bytes()
    cluster.put(node("worker-a9", "rack-a", "192.168.1.19", "10.244.1.0/25"))  # overlaps worker-a1
    outcome = reconciler.reconcile()
    assert outcome.result == "error" and "overlap" in outcome.reason
    assert sim.state_file.read_bytes() == before


def test_after_stop_nothing_is_written(sim: SimFabric, cluster: MemoryCluster) -> None:
    reconciler = make(sim, cluster)
    reconciler.stop()
    assert reconciler.reconcile().result == "standby"
    assert not sim.state_file.exists()


class LeaseLostAfter:
    """Leadership that holds for the first `calls` checks, then is lost (as a Lease that lapses mid-round)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    @property
    def is_leader(self) -> bool:
        self.calls -= 1
        return self.calls >= 0


def test_leadership_is_checked_right_before_each_device_write(sim: SimFabric, cluster: MemoryCluster) -> None:
    lease = LeaseLostAfter(calls=2)  # the round's own check, then one device write
    reconciler = Reconciler(sim.inventory(), dict(sim.fabric().drivers), cluster, settings=settings(workers=1),
                            leader=lease)
    outcome = reconciler.reconcile()
    written = [d for d in ("leaf-a1", "leaf-b1", "leaf-c1") if sim.owned(d)]
    assert outcome.result == "partial" and outcome.writes == 1 and len(written) == 1
    assert sorted(f.reason for f in outcome.failures) == ["skipped", "skipped"]


class SlowObserve(SimDriver):
    """A sim switch whose observe waits until the test lets it go."""

    def __init__(self, *args: object, gate: threading.Event, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gate, self.inside = gate, 0
        self.most_inside = 0

    def observe(self) -> FabricState:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            self.gate.wait(5)
            return super().observe()
        finally:
            self.inside -= 1


def test_a_device_is_never_worked_on_by_two_threads_at_once(sim: SimFabric) -> None:
    inventory, gate = sim.inventory(), threading.Event()
    slow = SlowObserve(inventory.switch("leaf-a1"), inventory, sim.folder, gate=gate)
    work = DeviceWork({"leaf-a1": slow})
    first = threading.Thread(target=work.observe, args=("leaf-a1",))
    first.start()
    wait_for(lambda: slow.inside == 1, what="the first observe to start")
    second = work.observe("leaf-a1")
    gate.set()
    first.join(5)
    assert isinstance(second, DeviceFailure) and second.reason == "stale" and "busy" in second.error
    assert slow.most_inside == 1


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_hand_made_configuration_in_the_way_is_reported_once_and_left_alone(sim: SimFabric,
                                                                           cluster: MemoryCluster) -> None:
    seed = json.loads((sim.folder / "sim-seed.json").read_text(encoding="utf-8"))
    twin = {"kind": "static-route", "device": "leaf-a1", "vrf": "default", "prefix": "10.244.1.0/24",
            "next_hop": "192.168.1.11", "tag": 1, "owner": "netops"}
    seed["devices"]["leaf-a1"].append(twin)
    (sim.folder / "sim-seed.json").write_text(json.dumps(seed), encoding="utf-8")
    collect, logger = Collect(), logging.getLogger("fabric_intent.loop")
    logger.addHandler(collect)
    try:
        reconciler = make(sim, cluster)
        reconciler.reconcile()
        reconciler.reconcile()
    finally:
        logger.removeHandler(collect)
    assert len([line for line in collect.lines if "hand-made" in line]) == 1
    assert twin in sim.entries("leaf-a1") and "10.244.1.0/24" not in sim.prefixes("leaf-a1")


class Unreachable(SimDriver):
    """A sim switch that cannot be reached while `down`; its error asks to retry after 30 s, or is a driver bug."""

    down = True
    error: Exception = DeviceUnreachableError("leaf-b1: connection refused", retry_after=30)

    def observe(self) -> FabricState:
        if self.down:
            raise self.error
        return super().observe()


@pytest.mark.parametrize(("error", "least_delay"), [
    (DeviceUnreachableError("leaf-b1: connection refused", retry_after=30), 30.0),
    (RuntimeError("driver bug"), 0.05),
])
def test_an_unreachable_device_waits_as_its_error_asks(sim: SimFabric, cluster: MemoryCluster, error: Exception,
                                                        least_delay: float) -> None:
    inventory = sim.inventory()
    drivers = dict(sim.fabric().drivers)
    drivers["leaf-b1"] = Unreachable(inventory.switch("leaf-b1"), inventory, sim.folder)
    drivers["leaf-b1"].error = error  # type: ignore[attr-defined]
    reconciler = make(sim, cluster, drivers)
    before = time.monotonic()
    outcome = reconciler.reconcile()
    assert outcome.result == "partial" and [f.device for f in outcome.failures] == ["leaf-b1"]
    assert str(error) in outcome.failures[0].error
    assert reconciler.backoff.not_before["leaf-b1"] - before >= least_delay
    assert sim.owned("leaf-a1") and sim.owned("leaf-c1") and not sim.owned("leaf-b1")

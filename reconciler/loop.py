"""Level-triggered reconcile: cluster view -> intent -> plan -> apply, again and again.

Events only mark work as due; a burst of them (quiet for `debounce`, or at most `max_delay` after
the first) ends in one reconcile, which starts from the whole cluster view (`snapshot()`) and
what every device holds now, never from the events themselves. So a lost or repeated event
cannot lead the fabric astray, and reconciling a converged fabric writes nothing. A full
reconcile also runs every `resync_interval` and repairs hand edits of owned objects.

Safety, in the order it is checked:

* hold: while the cluster view is not synced, or a watch has been broken longer than
  `hold_after`, nothing is planned or written; the fabric keeps what it holds;
* only the leader works, and leadership is checked again right before each device write;
* the mass-delete guard refuses a plan made from an empty view or deleting over 10 % of the
  owned objects, unless `allow_mass_delete`;
* make-before-break: every device's creates and updates come before any device's deletes, and
  a round whose creates failed somewhere withdraws nothing.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

from drivers.base import ApplyResult, Driver
from intent.build import build_intent
from intent.cluster import ClusterSnapshot
from intent.errors import FabricIntentError, MassDeleteError
from intent.inventory import FabricInventory
from intent.model import DeviceObject, IntentGraph, SourceRef
from intent.plan import Change, DevicePlan, Plan, check_mass_delete
from reconciler import logs
from reconciler.devices import Backoff, DeviceFailure, DeviceWork, desired_by_device
from reconciler.metrics import Metrics
from reconciler.settings import LoopSettings

log = logs.get("loop")
Result = Literal["converged", "changed", "partial", "planned", "held", "standby", "refused", "error"]
_HOLD_RECHECK = 1.0  # seconds between checks whether a hold has lifted
_MAX_PENDING = 100_000  # event times kept for the latency histogram while the loop cannot apply


class ClusterEvent(Protocol):
    """What the cluster cache reports per watch event (`reconciler.kube.WatchEvent`)."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def received(self) -> float: ...


class ClusterSource(Protocol):
    """The cluster view the loop reads (`reconciler.kube.ClusterCache`)."""

    @property
    def synced(self) -> bool: ...
    def broken_since(self) -> float | None: ...
    def snapshot(self) -> ClusterSnapshot: ...


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...


class ChangeRecorder(Protocol):
    """Told of every change that took effect on the fabric, with the objects that caused it."""

    def fabric_changed(self, change: Change, refs: Sequence[SourceRef]) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did."""

    result: Result
    plan: Plan | None = None
    writes: int = 0  # device transactions committed
    failures: tuple[DeviceFailure, ...] = ()
    reason: str = ""


class Reconciler:
    """Keeps one fabric converged on one cluster view; `start()` runs it in a thread of its own."""

    def __init__(self, inventory: FabricInventory, drivers: Mapping[str, Driver], source: ClusterSource, *,
                 settings: LoopSettings | None = None, metrics: Metrics | None = None,
                 leader: Leadership | None = None, recorder: ChangeRecorder | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inventory, self.source, self.leader, self.recorder = inventory, source, leader, recorder
        self.settings = settings or LoopSettings()
        self.metrics = metrics or Metrics()
        self.metrics.set_mode(self.settings.mode)
        self.work = DeviceWork(drivers)
        self.backoff = Backoff(self.settings.backoff_base, self.settings.backoff_cap)
        self.last_plan: Plan | None = None
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="fabric-device")
        self._round_lock, self._state_lock = threading.Lock(), threading.Lock()
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._pending: deque[float] = deque(maxlen=_MAX_PENDING)
        self._dirty_since: float | None = None
        self._last_event = self._last_round = -math.inf
        self._heartbeat = clock()
        self._hold: str | None = None
        self._provenance: dict[str, tuple[SourceRef, ...]] = {}
        self._notices: tuple[str, ...] = ()  # warnings and conflicts of the last plan
        self._thread: threading.Thread | None = None

    # -- what the cluster cache and the elector call ------------------------------------------------
    def notify(self, event: ClusterEvent) -> None:
        """A watch event: the cluster changed. Marks work due; never blocks."""
        with self._state_lock:
            self._pending.append(event.received)
            now = self._clock()
            self._last_event = now
            if self._dirty_since is None:
                self._dirty_since = now
        self._wake.set()

    def kick(self) -> None:
        """Reconcile soon without an event (leadership gained, resync asked for)."""
        with self._state_lock:
            now = self._clock()
            self._last_event = now
            self._dirty_since = self._dirty_since if self._dirty_since is not None else now
        self._wake.set()

    # -- the thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fabric-intent-loop", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop writing, let the device transaction in flight finish, end the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def healthy(self) -> bool:
        """The loop thread runs and has turned within `stall_after`."""
        alive = self._thread is not None and self._thread.is_alive()
        return alive and self._clock() - self._heartbeat < self.settings.stall_after

    @property
    def holding(self) -> str | None:
        """Why the loop holds every write now, or None."""
        return self._hold

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._heartbeat = now = self._clock()
            self._update_gauges()
            wait = self._due(now) - now
            if wait > 0:
                self._wake.wait(min(wait, _HOLD_RECHECK))
                self._wake.clear()
                continue
            try:
                self.reconcile()
            except Exception:  # the loop must outlive any one round
                log.exception("reconcile failed unexpectedly")
                self._last_round = self._clock()

    def _due(self, now: float) -> float:
        """When the next reconcile is due."""
        due = [self._last_round + self.settings.resync_interval]
        with self._state_lock:
            if self._dirty_since is not None:
                due.append(min(self._last_event + self.settings.debounce, self._dirty_since + self.settings.max_delay))
        retry = self.backoff.next_due()
        if retry is not None and retry > self._last_round:
            due.append(retry)
        if self._hold is not None:
            due.append(self._last_round + _HOLD_RECHECK)
        return min(due)

    def _update_gauges(self) -> None:
        self.metrics.cache_synced.set(1 if self.source.synced else 0)
        self.metrics.leader.set(1 if self._is_leader() else 0)

    # -- one reconcile -------------------------------------------------------------------------------
    def reconcile(self) -> Outcome:
        """One full reconcile, now; returns what it did."""
        with self._round_lock:
            started = self._clock()
            with self._state_lock:
                events, self._dirty_since = list(self._pending), None
                self._pending.clear()
            self._last_round = started
            outcome = self._round(started)
            self._finish(outcome, events, started)
            return outcome

    def hold_reason(self, now: float | None = None) -> str | None:
        """Why nothing may be planned or written now, or None."""
        if not self.source.synced:
            return "the cluster view is not synced yet"
        broken = self.source.broken_since()
        now = self._clock() if now is None else now
        if broken is not None and now - broken > self.settings.hold_after:
            return f"a watch has been broken for {now - broken:.0f} s (hold after {self.settings.hold_after:g} s)"
        return None

    def _round(self, now: float) -> Outcome:
        if self._stopping.is_set():
            return Outcome("standby", reason="stopping")
        hold = self._set_hold(self.hold_reason(now))
        if hold is not None:
            return Outcome("held", reason=hold)
        if not self._is_leader():
            return Outcome("standby", reason="not the leader")
        try:
            snapshot = self.source.snapshot()
            graph = _build(snapshot, self.inventory)
            desired = desired_by_device(graph, self.work.drivers)
        except FabricIntentError as exc:
            if str(exc) not in self._notices:  # said once, not on every reconcile
                log.error("cannot build the intent; the fabric keeps what it holds", extra={"problem": str(exc)})
                self._notices = (str(exc),)
            return Outcome("error", reason=str(exc))
        plan, failures = self._plan(graph, desired, len(snapshot.nodes), now)
        self._publish(plan)
        if self.settings.mode != "apply":
            return Outcome("planned", plan, failures=failures)
        outcome = self._apply(plan, failures)
        self._provenance = {k: o.provenance for k, o in graph.items()}
        return outcome

    def _plan(self, graph: IntentGraph, desired: Mapping[str, Mapping[str, DeviceObject]], nodes: int,
              now: float) -> tuple[Plan, tuple[DeviceFailure, ...]]:
        waiting = [d for d in self.work.drivers if not self.backoff.ready(d, now)]
        ready = [d for d in self.work.drivers if d not in waiting]
        observed = dict(zip(ready, self._pool.map(self.work.observe, ready), strict=True))
        failures = [s for s in observed.values() if isinstance(s, DeviceFailure)]
        failures += [DeviceFailure(d, f"{d}: waiting to retry after earlier failures", reason="waiting")
                     for d in waiting]
        devices = tuple(self.work.plan(d, desired[d], s) for d, s in observed.items()
                        if not isinstance(s, DeviceFailure))
        modes = sorted({self.inventory.routing_mode(r) for r in self.inventory.racks} or {self.inventory.routing.mode})
        plan = Plan(fabric=graph.fabric, cluster=graph.cluster, routing_mode="+".join(modes), cluster_nodes=nodes,
                    devices=devices, warnings=graph.warnings)
        return plan, tuple(failures)

    def _publish(self, plan: Plan) -> None:
        self.last_plan = plan
        summary = plan.summary
        for action, count in (("create", summary.add), ("update", summary.change), ("delete", summary.destroy)):
            self.metrics.plan_changes.labels(action).set(count)
        for device_plan in plan.devices:
            self.metrics.drift_objects.labels(device_plan.device).set(len(device_plan.changes))
        if plan.has_changes:
            drift = {d.device: len(d.changes) for d in plan.devices if d.changes}
            log.info(str(summary), extra={"mode": self.settings.mode, "changes_by_device": drift})
        notices = tuple(plan.warnings) + tuple(c for d in plan.devices for c in d.conflicts)
        if notices != self._notices:  # said once, not on every reconcile
            for notice in notices:
                log.warning(notice)
            self._notices = notices

    def _apply(self, plan: Plan, failures: tuple[DeviceFailure, ...]) -> Outcome:
        if not plan.has_changes:
            return Outcome("partial" if failures else "converged", plan, failures=failures)
        try:
            check_mass_delete(plan, allow_mass_delete=self.settings.allow_mass_delete)
        except MassDeleteError as exc:
            self.metrics.mass_delete_trips.inc()
            log.warning("mass-delete guard: plan refused, nothing applied", extra={"reason": str(exc)})
            return Outcome("refused", plan, failures=failures, reason=str(exc))
        revisions = {d.device: d.revision for d in plan.devices}
        writes, failed = self._phase(plan, revisions, deleting=False)
        if not failed:
            more, failed = self._phase(plan, revisions, deleting=True)
            writes += more
        elif any(c.action == "delete" for c in plan.changes):
            log.warning("withdrawals held this round: creates failed elsewhere (make-before-break)")
        failures += failed
        result: Result = "partial" if failures else "changed"
        return Outcome(result, plan, writes=writes, failures=failures)

    def _phase(self, plan: Plan, revisions: dict[str, str], *, deleting: bool) -> tuple[int, tuple[DeviceFailure, ...]]:
        steps = [_step(d, revisions[d.device], deleting) for d in plan.devices]
        results = list(self._pool.map(self._write, [s for s in steps if s is not None]))
        failures = tuple(r for r in results if isinstance(r, DeviceFailure))
        done = [r for r in results if isinstance(r, ApplyResult)]
        for result in done:
            revisions[result.device] = result.revision or revisions[result.device]
        return len(done), failures

    def _write(self, step: DevicePlan) -> ApplyResult | DeviceFailure:
        """Apply one device's step if this replica may still write."""
        if not self._may_write():
            return DeviceFailure(step.device, f"{step.device}: not written (stopping, holding or not the leader)",
                                 reason="skipped")
        result = self.work.apply(step)
        if isinstance(result, ApplyResult) and result.failed:
            return DeviceFailure(step.device, result.error or f"{step.device}: apply failed")
        if isinstance(result, ApplyResult):
            self.metrics.fabric_writes.labels(step.device).inc()
            log.info("applied", extra={"device": step.device, "changes": len(result.applied)})
            self._record(step.changes)
        return result

    def _may_write(self) -> bool:
        return not self._stopping.is_set() and self._is_leader() and self.hold_reason() is None

    def _is_leader(self) -> bool:
        return self.leader is None or self.leader.is_leader

    def _record(self, changes: Iterable[Change]) -> None:
        if self.recorder is None:
            return
        for change in changes:
            refs = change.provenance or self._provenance.get(change.key, ())
            try:
                self.recorder.fabric_changed(change, refs)
            except Exception:  # an Event is a courtesy; it never stops the loop
                log.exception("could not record a Kubernetes Event", extra={"key": change.key})

    # -- after a round -------------------------------------------------------------------------------
    def _finish(self, outcome: Outcome, events: list[float], started: float) -> None:
        now = self._clock()
        self.metrics.reconcile_duration.labels(outcome.result).observe(now - started)
        self._account(outcome)
        if outcome.result in ("converged", "changed"):
            self.metrics.last_success.set(time.time())
            for received in events:
                self.metrics.applied(max(0.0, now - received))
        elif outcome.result in ("held", "partial", "refused", "error"):
            with self._state_lock:  # not yet applied: they count when the fabric converges
                self._pending.extendleft(reversed(events))

    def _account(self, outcome: Outcome) -> None:
        failed = {f.device for f in outcome.failures}
        for device_plan in outcome.plan.devices if outcome.plan else ():
            if device_plan.device not in failed:
                self.backoff.succeeded(device_plan.device)
        now = self._clock()
        for failure in outcome.failures:
            if failure.reason == "stale":
                self.kick()
            if failure.reason != "error":
                continue
            delay = self.backoff.failed(failure.device, now, failure.retry_after)
            self.metrics.apply_errors.labels(failure.device).inc()
            log.warning("device failed; retrying later",
                        extra={"device": failure.device, "problem": failure.error, "retry_in_s": round(delay, 1)})

    def _set_hold(self, reason: str | None) -> str | None:
        if reason != self._hold:
            if reason is not None:
                log.warning("holding: nothing is planned or written", extra={"reason": reason})
            else:
                log.info("hold lifted")
        self._hold = reason
        self.metrics.holding.set(0 if reason is None else 1)
        return reason


def _step(device_plan: DevicePlan, revision: str, deleting: bool) -> DevicePlan | None:
    """The deletes, or the creates and updates, of one device plan, against the device's current revision."""
    changes = tuple(c for c in device_plan.changes if (c.action == "delete") == deleting)
    return device_plan.model_copy(update={"changes": changes, "revision": revision}) if changes else None


def _build(snapshot: ClusterSnapshot, inventory: FabricInventory) -> IntentGraph:
    """`build_intent`, leaving no frozen objects behind.

    `build_intent` freezes what survives it (`intent.bulk`), which suits a one-shot command; a
    service that rebuilds every few seconds would pile up a permanent generation no collection
    ever frees, so the loop hands everything back to the collector after each build.
    """
    try:
        return build_intent(snapshot, inventory)
    finally:
        gc.unfreeze()

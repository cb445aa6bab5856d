"""Prometheus metrics of the reconcile loop, in a registry of their own (one per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reconciler.settings import MODES

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Every figure the service exports; `render()` gives the text exposition format."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.reconcile_duration = Histogram(
            "fabric_intent_reconcile_duration_seconds", "Time one reconcile took, by its outcome.",
            ["outcome"], buckets=_DURATION_BUCKETS, registry=r)
        self.event_to_applied = Histogram(
            "fabric_intent_event_to_applied_seconds",
            "From a watch event reaching the cache to the fabric holding what it implies.",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.plan_changes = Gauge("fabric_intent_plan_changes", "Changes in the last plan, by action.",
                                  ["action"], registry=r)
        self.apply_errors = Counter("fabric_intent_apply_errors_total",
                                    "Failed observe or apply on a device.", ["device"], registry=r)
        self.drift_objects = Gauge("fabric_intent_drift_objects",
                                   "Owned objects that differ from the intent, by device.", ["device"], registry=r)
        self.cache_synced = Gauge("fabric_intent_cache_synced",
                                  "1 once every initial list of the cluster view has completed.", registry=r)
        self.leader = Gauge("fabric_intent_leader", "1 while this replica holds the Lease.", registry=r)
        self.holding = Gauge("fabric_intent_holding",
                             "1 while the loop holds every write (cluster view not synced or stale).", registry=r)
        self.last_success = Gauge("fabric_intent_last_success_timestamp_seconds",
                                  "Unix time of the last reconcile that left the fabric converged.", registry=r)
        self.mass_delete_trips = Counter("fabric_intent_mass_delete_trips_total",
                                         "Plans refused by the mass-delete guard.", registry=r)
        self.fabric_writes = Counter("fabric_intent_fabric_writes_total",
                                     "Device transactions committed, by device.", ["device"], registry=r)
        self.mode = Gauge("fabric_intent_mode", "1 for the mode the service runs in.", ["mode"], registry=r)
        for action in ("create", "update", "delete"):
            self.plan_changes.labels(action)
        for mode in MODES:
            self.mode.labels(mode)

    def applied(self, latency: float) -> None:
        """One event's change is on the fabric, `latency` seconds after the cache took it in."""
        self.event_to_applied.observe(latency)

    def set_mode(self, mode: str) -> None:
        for name in MODES:
            self.mode.labels(name).set(1 if name == mode else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

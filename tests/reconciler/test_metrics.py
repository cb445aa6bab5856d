"""The service's metrics: every figure the operations guide names, in a registry of its own."""

from __future__ import annotations

from reconciler.metrics import Metrics

NAMES = ("fabric_intent_reconcile_duration_seconds", "fabric_intent_event_to_applied_seconds",
         "fabric_intent_plan_changes", "fabric_intent_apply_errors_total", "fabric_intent_drift_objects",
         "fabric_intent_cache_synced", "fabric_intent_leader", "fabric_intent_last_success_timestamp_seconds",
         "fabric_intent_mass_delete_trips_total", "fabric_intent_holding", "fabric_intent_fabric_writes_total")


def test_every_metric_is_exported() -> None:
    metrics = Metrics()
    metrics.reconcile_duration.labels("converged").observe(0.1)
    metrics.event_to_applied.observe(0.2)
    metrics.apply_errors.labels("leaf-a1").inc()
    metrics.drift_objects.labels("leaf-a1").set(3)
    metrics.fabric_writes.labels("leaf-a1").inc()
    text = metrics.render().decode()
    missing = [n for n in NAMES if f"\n{n}" not in text and not text.startswith(n)]
    assert not missing, missing


def test_two_instances_do_not_share_figures() -> None:
    first, second = Metrics(), Metrics()
    first.mass_delete_trips.inc()
    assert first.registry.get_sample_value("fabric_intent_mass_delete_trips_total") == 1
    assert second.registry.get_sample_value("fabric_intent_mass_delete_trips_total") == 0


def test_mode_gauge_marks_exactly_one_mode() -> None:
    metrics = Metrics()
    metrics.set_mode("plan")
    values = {m: metrics.registry.get_sample_value("fabric_intent_mode", {"mode": m}) for m in ("observe", "plan",
                                                                                               "apply")}
    assert values == {"observe": 0, "plan": 1, "apply": 0}

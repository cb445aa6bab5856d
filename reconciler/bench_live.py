"""The live benchmark: event-to-applied latency of the reconcile loop, and writes on a converged resync.

    python -m reconciler.bench_live [--nodes 1000] [--racks 5] [--events 1000] [--rate 20]

A synthetic cluster (`intent.synthetic`) is converged on a sim fabric in a temporary folder. Then
`--events` node events reach the loop at `--rate` a second, as the cluster cache would deliver them:
first half the nodes the address plan adds next, then the same nodes deleted. An event's latency
runs from the moment the cache took it in (`WatchEvent.received`) to the end of the reconcile that
put its change on the fabric; the loop runs with the service's default timings unless told
otherwise. Last, one full reconcile of the converged fabric is run: it must write nothing.

The cluster view is held in memory here (the same parsed tables `ClusterCache` keeps), so the
figures are the loop's own: building intent, observing and changing the sim devices, pacing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.fabric import Fabric
from intent import synthetic
from intent.cluster import ClusterSnapshot
from intent.events import Delete, event_from_object, target
from reconciler.files import load_inventory
from reconciler.loop import Reconciler
from reconciler.metrics import Metrics
from reconciler.settings import LoopSettings

_TABLES = ("nodes", "namespaces", "pods", "services", "endpoint_slices", "network_policies")


@dataclass(frozen=True)
class NodeEvent:
    kind: str
    type: str
    namespace: str | None
    name: str
    received: float


class ReplayedCluster:
    """A synced cluster view in memory, changed object by object, telling a listener as the cache does."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.on_event: Callable[[NodeEvent], None] | None = None
        self._lock = threading.Lock()
        self._tables: dict[str, dict[str, Any]] = {t: {} for t in _TABLES}
        for document in documents.values():
            for obj in document["items"]:
                self._apply(obj, deleted=False)

    synced = True

    def broken_since(self) -> float | None:
        return None

    def snapshot(self) -> ClusterSnapshot:
        with self._lock:
            t = {name: dict(rows) for name, rows in self._tables.items()}
        return ClusterSnapshot(nodes=t["nodes"], namespaces=t["namespaces"], pods=t["pods"], services=t["services"],
                               endpoint_slices=t["endpoint_slices"], network_policies=t["network_policies"])

    def change(self, obj: dict[str, Any], *, deleted: bool) -> None:
        self._apply(obj, deleted=deleted)
        if self.on_event is not None:
            self.on_event(NodeEvent(obj["kind"], "DELETED" if deleted else "ADDED", None, obj["metadata"]["name"],
                                    time.monotonic()))

    def _apply(self, obj: dict[str, Any], *, deleted: bool) -> None:
        event = event_from_object(obj, deleted=deleted, source="bench")
        table, key, record = target(event)
        with self._lock:
            if isinstance(event, Delete):
                self._tables[table].pop(key, None)
            else:
                self._tables[table][key] = record


class LatencyMetrics(Metrics):
    """The service's metrics, also keeping every event-to-applied latency."""

    def __init__(self) -> None:
        super().__init__()
        self.latencies: list[float] = []

    def applied(self, latency: float) -> None:
        super().applied(latency)
        self.latencies.append(latency)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def fabric_writes(metrics: Metrics) -> int:
    return int(sum(s.value for f in metrics.fabric_writes.collect() for s in f.samples if s.name.endswith("_total")))


def run(scale: synthetic.Scale, events: int, rate: float, settings: LoopSettings,
        echo: Callable[[str], None] = print) -> dict[str, float]:
    """Converge, replay the events, resync once; print and return the figures."""
    lay = synthetic.layout(scale)
    with tempfile.TemporaryDirectory(prefix="fabric-intent-bench-live-") as tmp:
        (Path(tmp) / "fabric.json").write_text(json.dumps(synthetic.inventory(scale)), encoding="utf-8")
        inventory = load_inventory(Path(tmp) / "fabric.json")
        cluster = ReplayedCluster(synthetic.generate(scale))
        metrics = LatencyMetrics()
        loop = Reconciler(inventory, Fabric.from_inventory(inventory, Path(tmp)).drivers, cluster,
                          settings=settings, metrics=metrics)
        started = time.perf_counter()
        first = loop.reconcile()
        echo(f"initial convergence: {first.plan.summary if first.plan else first.result} "
             f"in {time.perf_counter() - started:.2f} s ({len(inventory.switches)} devices)")
        cluster.on_event = loop.notify
        added = [synthetic.node_object(lay, scale.nodes + i) for i in range(events // 2)]
        loop.start()
        try:
            _replay(cluster, added, rate)
            _wait(lambda: len(metrics.latencies) >= len(added) * 2, timeout=120 + events / rate)
            before, began = fabric_writes(metrics), time.perf_counter()
            resync = loop.reconcile()  # what the periodic resync does, on the fabric now converged
            resync_s, resync_writes = time.perf_counter() - began, fabric_writes(metrics) - before
        finally:
            loop.stop()
        figures = {"events": float(len(metrics.latencies)), "p50_s": percentile(metrics.latencies, 0.50),
                   "p99_s": percentile(metrics.latencies, 0.99), "max_s": max(metrics.latencies),
                   "mean_s": statistics.fmean(metrics.latencies),
                   "resync_writes": float(resync_writes),
                   "resync_changes": float(len(resync.plan.changes) if resync.plan else -1),
                   "resync_s": resync_s,
                   "reconciles": _count(metrics, "fabric_intent_reconcile_duration_seconds_count")}
    _print(figures, scale, rate, settings, echo)
    return figures


def _replay(cluster: ReplayedCluster, nodes: list[dict[str, Any]], rate: float) -> None:
    start = time.monotonic()
    sequence = [(n, False) for n in nodes] + [(n, True) for n in nodes]
    for index, (obj, deleted) in enumerate(sequence):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        cluster.change(obj, deleted=deleted)


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the fabric did not converge within {timeout:.0f} s")
        time.sleep(0.05)


def _count(metrics: Metrics, name: str) -> float:
    return sum(s.value for f in metrics.reconcile_duration.collect() for s in f.samples if s.name == name)


def _print(f: dict[str, float], scale: synthetic.Scale, rate: float, settings: LoopSettings,
           echo: Callable[[str], None]) -> None:
    echo(f"fabric-intent bench_live   {scale.nodes:,} nodes, {scale.pods:,} pods, {scale.services:,} services, "
         f"sim driver; {int(f['events']):,} node add/remove events at {rate:g}/s; debounce {settings.debounce:g} s, "
         f"max delay {settings.max_delay:g} s")
    echo(f"  event -> applied latency   p50 {f['p50_s'] * 1000:8.0f} ms   p99 {f['p99_s'] * 1000:8.0f} ms   "
         f"max {f['max_s'] * 1000:8.0f} ms   ({int(f['reconciles'])} reconciles in all)")
    verdict = "ok" if f["resync_writes"] == 0 and f["resync_changes"] == 0 else "NOT ZERO"
    echo(f"  converged resync           {int(f['resync_writes'])} fabric writes, {int(f['resync_changes'])} changes "
         f"planned, {f['resync_s'] * 1000:.0f} ms   [{verdict}]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reconciler.bench_live", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000, help="nodes in the cluster before the events")
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--racks", type=int, default=5, help="racks of two leaves")
    parser.add_argument("--events", type=int, default=1_000, help="node events: half adds, half deletes")
    parser.add_argument("--rate", type=float, default=20.0, help="events a second")
    parser.add_argument("--debounce", type=float, default=None, help="loop debounce (default: the service's)")
    parser.add_argument("--max-delay", type=float, default=None, help="loop max delay (default: the service's)")
    args = parser.parse_args(argv)
    timings = {k: v for k, v in (("debounce", args.debounce), ("max_delay", args.max_delay)) if v is not None}
    scale = synthetic.Scale(nodes=args.nodes, pods=args.pods, services=args.services, policies=0, racks=args.racks)
    run(scale, args.events, args.rate, LoopSettings(**timings))


if __name__ == "__main__":
    main()

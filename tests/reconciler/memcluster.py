"""An in-memory cluster source with the interface of `reconciler.kube.ClusterCache`, for loop tests.

Objects are kept as the API serves them (dicts); `snapshot()` parses them with the same parser the
snapshot files go through. Changes call `on_event` as the watch cache does. Watch breakage and the
synced gate are set by the test.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from intent.cluster import ClusterSnapshot, iter_objects, parse_snapshot

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CLUSTER = ROOT / "samples" / "cluster"


@dataclass(frozen=True)
class Event:
    kind: str
    type: str
    namespace: str | None
    name: str
    received: float


@functools.cache
def _sample() -> tuple[dict[str, Any], ...]:
    objects: list[dict[str, Any]] = []
    for path in sorted(SAMPLE_CLUSTER.glob("*.yaml")):
        objects += iter_objects(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    return tuple(objects)


def sample_objects() -> list[dict[str, Any]]:
    """Every object of the shipped sample cluster, as the API serves them (a fresh copy)."""
    return copy.deepcopy(list(_sample()))


def node(name: str, rack: str, address: str, pod_cidr: str) -> dict[str, Any]:
    """A Node shaped like the sample's (labels, addresses, Ready) with its own name, address and podCIDR."""
    obj = copy.deepcopy(next(o for o in _sample() if o["kind"] == "Node"))
    meta = obj["metadata"]
    meta.update(name=name, uid=f"uid-{name}")
    meta["labels"].update({"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": rack})
    obj["spec"].update(podCIDR=pod_cidr, podCIDRs=[pod_cidr])
    obj["status"]["addresses"] = [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}]
    return obj


class MemoryCluster:
    """Cluster objects in memory, with a synced gate and a breakable watch."""

    def __init__(self, objects: Iterable[dict[str, Any]] = (), *, on_event: Callable[[Event], None] | None = None,
                 synced: bool = True) -> None:
        self.on_event = on_event
        self._objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._broken: float | None = None
        for obj in objects:
            self._objects[_key(obj)] = obj
        if synced:
            self._synced.set()
        self.snapshots = 0

    # -- the ClusterCache interface ----------------------------------------------------------------
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def broken_since(self) -> float | None:
        return self._broken

    def snapshot(self) -> ClusterSnapshot:
        with self._lock:
            objects = [copy.deepcopy(o) for o in self._objects.values()]
            self.snapshots += 1
        return parse_snapshot([("memory", {"apiVersion": "v1", "kind": "List", "items": objects})])

    # -- what a test does to the cluster ------------------------------------------------------------
    def put(self, obj: dict[str, Any]) -> None:
        key = _key(obj)
        with self._lock:
            kind = "MODIFIED" if key in self._objects else "ADDED"
            self._objects[key] = obj
        self._emit(kind, key)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        with self._lock:
            del self._objects[(kind, namespace, name)]
        self._emit("DELETED", (kind, namespace, name))

    def mark_synced(self) -> None:
        self._synced.set()
        self._emit("RELISTED", ("Node", None, ""))

    def break_watch(self, since: float | None = None) -> None:
        self._broken = time.monotonic() if since is None else since

    def heal_watch(self) -> None:
        self._broken = None
        self._emit("RELISTED", ("Node", None, ""))

    def _emit(self, kind: str, key: tuple[str, str | None, str]) -> None:
        if self.on_event is not None:
            self.on_event(Event(key[0], kind, key[1], key[2], time.monotonic()))


def _key(obj: dict[str, Any]) -> tuple[str, str | None, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace"), meta["name"]

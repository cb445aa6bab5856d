"""Kubernetes Events on the objects whose change reached the fabric (`kubectl describe node worker-a4`).

For every change applied, the Kubernetes objects in its provenance (a Node for its pod route, a
Service for its VIP) get an `events.k8s.io/v1` Event: reason `FabricProgrammed` for a create or
update, `FabricWithdrawn` for a delete, the note naming the device and the change. Like client-go's
recorder it never blocks the caller (a queue drained by a thread of its own), folds repeats of
one (object, reason) within `window` into the Event's `series` count instead of new Events, and
posts at most `per_minute` Events a minute, dropping (and counting) the rest.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kubernetes

from intent.model import SourceRef
from intent.plan import Change
from reconciler import logs

log = logs.get("events")
CONTROLLER = "fabric-intent.io/reconciler"
# kind -> apiVersion of the Kubernetes kinds an intent object can come from
API_VERSIONS = {"Node": "v1", "Namespace": "v1", "Pod": "v1", "Service": "v1",
                "EndpointSlice": "discovery.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1"}
# kind -> (client API class, read method) to learn an object's uid, so `kubectl describe` shows its Events
_READERS = {"Namespace": ("CoreV1Api", "read_namespace"), "Pod": ("CoreV1Api", "read_namespaced_pod"),
            "Service": ("CoreV1Api", "read_namespaced_service"),
            "EndpointSlice": ("DiscoveryV1Api", "read_namespaced_endpoint_slice"),
            "NetworkPolicy": ("NetworkingV1Api", "read_namespaced_network_policy")}
REASONS = {"create": "FabricProgrammed", "update": "FabricProgrammed", "delete": "FabricWithdrawn"}
ACTIONS = {"FabricProgrammed": "Program", "FabricWithdrawn": "Withdraw"}
_NOTE_LIMIT = 1024  # the API refuses a note over 1 kB


@dataclass
class _Series:
    name: str
    namespace: str
    count: int
    first: float


@dataclass
class _Bucket:
    """A token bucket: `rate` tokens a minute, at most `rate` saved up."""

    rate: int
    clock: Callable[[], float]
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.stamp = float(self.rate), self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.rate), self.tokens + (now - self.stamp) * self.rate / 60.0)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventRecorder:
    """Posts Events through the official client; `fabric_changed` is what the reconcile loop calls."""

    def __init__(self, api: kubernetes.client.ApiClient, *, instance: str, per_minute: int = 60,
                 window: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self._events = kubernetes.client.EventsV1Api(api)
        self.instance, self.window, self._clock = instance, window, clock
        self._bucket = _Bucket(per_minute, clock)
        self._queue: queue.Queue[tuple[SourceRef, str, str] | None] = queue.Queue(maxsize=10_000)
        self._series: dict[tuple[str, str, str, str], _Series] = {}
        self._thread = threading.Thread(target=self._drain, name="fabric-intent-events", daemon=True)
        self.posted = self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Post what is queued (within `timeout`), then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued change has been posted or dropped."""
        deadline = self._clock() + timeout
        while self._queue.unfinished_tasks and self._clock() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    # -- what the loop calls --------------------------------------------------------------------------
    def fabric_changed(self, change: Change, refs: Sequence[SourceRef]) -> None:
        reason = REASONS[change.action]
        note = f"{change.device}: {change.symbol} {change.summary}"
        seen: set[tuple[str, str | None, str]] = set()
        for ref in refs:
            if ref.kind not in API_VERSIONS or (ref.kind, ref.namespace, ref.name) in seen:
                continue
            seen.add((ref.kind, ref.namespace, ref.name))
            try:
                self._queue.put_nowait((ref, reason, note))
            except queue.Full:
                self.dropped += 1

    # -- the thread ---------------------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._post(*item)
            except Exception as exc:  # an Event is a courtesy: log and carry on
                log.warning("could not post a Kubernetes Event", extra={"problem": f"{type(exc).__name__}: {exc}"})
            finally:
                self._queue.task_done()

    def _post(self, ref: SourceRef, reason: str, note: str) -> None:
        key = (ref.kind, ref.namespace or "", ref.name, reason)
        series = self._series.get(key)
        now = self._clock()
        if series is not None and now - series.first < self.window:
            series.count += 1
            body = {"series": {"count": series.count, "lastObservedTime": _now()}}
            self._events.patch_namespaced_event(series.name, series.namespace, body,
                                                _content_type="application/merge-patch+json")
            return
        if not self._bucket.take():
            self.dropped += 1
            return
        namespace = ref.namespace or "default"  # Events on cluster-scoped objects live in `default`
        created = self._events.create_namespaced_event(namespace, self._event(ref, reason, note, namespace))
        self.posted += 1
        name = created.metadata.name if created.metadata is not None else None
        if name:
            self._forget_older_than(now - self.window)
            self._series[key] = _Series(name, namespace, 1, now)

    def _forget_older_than(self, cutoff: float) -> None:
        for key in [k for k, s in self._series.items() if s.first < cutoff]:
            del self._series[key]

    def _event(self, ref: SourceRef, reason: str, note: str, namespace: str) -> Any:
        regarding = {"apiVersion": API_VERSIONS[ref.kind], "kind": ref.kind, "name": ref.name}
        if ref.namespace:
            regarding["namespace"] = ref.namespace
        uid = self._uid(ref)
        if uid:
            regarding["uid"] = uid
        return kubernetes.client.EventsV1Event.from_dict({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"generateName": f"{ref.name}.", "namespace": namespace},
            "eventTime": _now(), "reportingController": CONTROLLER, "reportingInstance": self.instance,
            "action": ACTIONS[reason], "reason": reason, "regarding": regarding, "type": "Normal",
            "note": note[:_NOTE_LIMIT]})

    def _uid(self, ref: SourceRef) -> str | None:
        """The object's uid, as `kubectl describe` matches Events by it; a Node's is its name, as kubelet's are."""
        if ref.kind == "Node":
            return ref.name
        api_class, method = _READERS[ref.kind]
        read = getattr(getattr(kubernetes.client, api_class)(self._api), method)
        try:
            obj = read(ref.name, ref.namespace) if ref.namespace else read(ref.name)
        except Exception:  # gone already, or not readable: the Event goes without the uid
            return None
        uid = obj.metadata.uid if obj.metadata is not None else None
        return str(uid) if uid else None

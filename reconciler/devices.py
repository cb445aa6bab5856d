"""Per-device work of the reconcile loop: one lock and one retry clock per device.

A device is never worked on by two threads at once (`DeviceWork` holds its lock around every
observe and apply). A device that fails backs off exponentially up to a cap, longer if its error
says when to retry (`retry_after`); the other devices carry on meanwhile.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from drivers.base import ApplyResult, Driver
from intent.errors import FabricIntentError, PlanError, StalePlanError
from intent.model import DeviceObject, IntentGraph
from intent.plan import DevicePlan, FabricState

T = TypeVar("T")


@dataclass(frozen=True)
class DeviceFailure:
    """Why one device could not be observed or changed this round."""

    device: str
    error: str
    retry_after: float | None = None
    # error: back off; stale: the device changed under the plan (or was busy), plan again at once;
    # waiting: still backing off from an earlier failure; skipped: this replica may not write now.
    reason: Literal["error", "stale", "waiting", "skipped"] = "error"


@dataclass
class Backoff:
    """Exponential retry delay per device: base, 2 x base, ... up to `cap`, plus up to `jitter` of it."""

    base: float
    cap: float
    jitter: float = 0.1
    failures: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)

    def failed(self, device: str, now: float, retry_after: float | None = None) -> float:
        """Record a failure; the delay before the device is tried again."""
        count = self.failures.get(device, 0) + 1
        self.failures[device] = count
        delay = min(self.cap, self.base * 2 ** (count - 1)) * (1 + random.uniform(0, self.jitter))
        delay = max(delay, retry_after or 0.0)
        self.not_before[device] = now + delay
        return delay

    def succeeded(self, device: str) -> None:
        self.failures.pop(device, None)
        self.not_before.pop(device, None)

    def ready(self, device: str, now: float) -> bool:
        return self.not_before.get(device, 0.0) <= now

    def next_due(self) -> float | None:
        """When the earliest waiting device may be tried again, or None if none waits."""
        return min(self.not_before.values(), default=None)


class DeviceWork:
    """The drivers of a fabric, each behind its own lock, with failures turned into `DeviceFailure`."""

    def __init__(self, drivers: Mapping[str, Driver]) -> None:
        self.drivers = dict(drivers)
        self._locks = {name: threading.Lock() for name in self.drivers}

    def observe(self, device: str) -> FabricState | DeviceFailure:
        return self._locked(device, self.drivers[device].observe)

    def apply(self, device_plan: DevicePlan) -> ApplyResult | DeviceFailure:
        return self._locked(device_plan.device, lambda: self.drivers[device_plan.device].apply(device_plan))

    def plan(self, device: str, desired: Mapping[str, DeviceObject], observed: FabricState) -> DevicePlan:
        return self.drivers[device].plan(desired, observed)

    def _locked(self, device: str, work: Callable[[], T]) -> T | DeviceFailure:
        lock = self._locks[device]
        if not lock.acquire(blocking=False):
            return DeviceFailure(device, f"{device}: busy with earlier work", reason="stale")
        try:
            return work()
        except StalePlanError as exc:
            return DeviceFailure(device, _named(device, exc), reason="stale")
        except FabricIntentError as exc:
            return DeviceFailure(device, _named(device, exc), exc.retry_after)
        except Exception as exc:  # a driver bug must not stop the loop; it names its device and backs off
            return DeviceFailure(device, f"{device}: {type(exc).__name__}: {exc}")
        finally:
            lock.release()


def _named(device: str, exc: Exception) -> str:
    text = str(exc)
    return text if text.startswith(f"{device}:") else f"{device}: {text}"


def desired_by_device(graph: IntentGraph, drivers: Mapping[str, Driver]) -> dict[str, dict[str, DeviceObject]]:
    """The graph's device objects, by device and key; an object for a device not in the inventory is an error."""
    desired: dict[str, dict[str, DeviceObject]] = {name: {} for name in drivers}
    for key, obj in graph.items():
        if not isinstance(obj, DeviceObject):
            continue
        if obj.device not in desired:
            raise PlanError(f"{obj.key}: device {obj.device} is not in the inventory")
        if obj.kind not in drivers[obj.device].capabilities.kinds:
            raise PlanError(f"{obj.key}: driver {drivers[obj.device].name} of {obj.device} cannot configure "
                            f"{obj.kind}")
        desired[obj.device][key] = obj
    return desired

"""The whole fabric as a set of drivers: observe every device, plan, apply a plan device by device."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from drivers import registry
from drivers.base import ApplyResult, Driver
from intent.errors import DriverError, FabricIntentError, PlanError, StalePlanError
from intent.inventory import FabricInventory
from intent.model import IntentGraph
from intent.plan import FabricState, Plan, check_mass_delete

Progress = Callable[[str, str], None]  # (device, message)


@dataclass
class Fabric:
    """One driver per switch of the inventory."""

    inventory: FabricInventory
    drivers: Mapping[str, Driver]

    @classmethod
    def from_inventory(cls, inventory: FabricInventory, base_dir: Path) -> Fabric:
        return cls(inventory, {s.name: registry.get(s.driver)(s, inventory, base_dir) for s in inventory.switches})

    def observe(self, max_workers: int = 8) -> dict[str, FabricState]:
        """Observe every device in parallel; any failure names its device."""
        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            futures = {name: pool.submit(_observe, d) for name, d in self.drivers.items()}
            return {name: f.result() for name, f in futures.items()}

    def plan(self, graph: IntentGraph, states: Mapping[str, FabricState], *, cluster_nodes: int,
             allow_mass_delete: bool = False) -> Plan:
        """The plan to bring every device to `graph`; refuses mass deletion unless allowed."""
        desired = _by_device(graph, self.drivers)
        devices = tuple(d.plan(desired.get(name, []), states[name]) for name, d in self.drivers.items())
        modes = sorted({self.inventory.routing_mode(r) for r in self.inventory.racks} or {self.inventory.routing.mode})
        plan = Plan(fabric=graph.fabric, cluster=graph.cluster, routing_mode="+".join(modes),
                    cluster_nodes=cluster_nodes, devices=devices, warnings=graph.warnings)
        check_mass_delete(plan, allow_mass_delete=allow_mass_delete)
        return plan

    def apply(self, plan: Plan, progress: Progress | None = None) -> list[ApplyResult]:
        """Apply `plan` exactly: refuse it whole if any device changed since; stop at the first failure."""
        say = progress or (lambda device, message: None)
        self._check_plan_matches(plan)
        for device_plan in plan.devices:
            current = self.drivers[device_plan.device].observe()
            if current.revision != device_plan.revision:
                raise StalePlanError(f"{device_plan.device}: the device changed since the plan was made; "
                                     "nothing was applied, make a new plan")
        results: list[ApplyResult] = []
        for device_plan in plan.devices:
            if not device_plan.changes:
                continue
            say(device_plan.device, f"applying {len(device_plan.changes)} change(s)")
            result = self.drivers[device_plan.device].apply(device_plan)
            results.append(result)
            say(device_plan.device, f"failed: {result.error}" if result.failed else "done")
            if result.failed:
                break
        return results

    def _check_plan_matches(self, plan: Plan) -> None:
        if plan.fabric != self.inventory.fabric or plan.cluster != self.inventory.cluster:
            raise PlanError(f"the plan is for fabric {plan.fabric} / cluster {plan.cluster}, but the inventory "
                            f"describes {self.inventory.fabric} / {self.inventory.cluster}")
        for device_plan in plan.devices:
            driver = self.drivers.get(device_plan.device)
            if driver is None:
                raise PlanError(f"the plan names device {device_plan.device}, which is not in the inventory")
            if driver.name != device_plan.driver:
                raise PlanError(f"{device_plan.device}: the plan was made for driver {device_plan.driver}, "
                                f"the inventory now says {driver.name}")


def _observe(driver: Driver) -> FabricState:
    try:
        return driver.observe()
    except FabricIntentError:
        raise
    except Exception as exc:  # a driver bug must still name its device
        raise DriverError(f"{driver.device}: observe failed: {type(exc).__name__}: {exc}") from exc


def _by_device(graph: IntentGraph, drivers: Mapping[str, Driver]) -> dict[str, list]:
    desired: dict[str, list] = {}
    for obj in graph.realized():
        driver = drivers.get(obj.device)
        if driver is None:
            raise PlanError(f"{obj.key}: device {obj.device} is not in the inventory")
        if obj.kind not in driver.capabilities.kinds:
            raise PlanError(f"{obj.key}: driver {driver.name} of {obj.device} cannot configure {obj.kind}")
        desired.setdefault(obj.device, []).append(obj)
    return desired

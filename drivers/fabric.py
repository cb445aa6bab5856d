"""The whole fabric as a set of drivers: observe every device, plan, apply a plan device by device."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from drivers import registry
from drivers.base import ApplyResult, Driver
from intent.bulk import collector_paused
from intent.errors import DriverError, DriverNotFoundError, FabricIntentError, PlanError, StalePlanError
from intent.inventory import FabricInventory, Switch
from intent.model import DeviceObject, IntentGraph
from intent.plan import Change, DevicePlan, FabricState, Plan, check_mass_delete

Progress = Callable[[str, str], None]  # (device, message)


@dataclass
class Fabric:
    """One driver per switch of the inventory."""

    inventory: FabricInventory
    drivers: Mapping[str, Driver]

    @classmethod
    def from_inventory(cls, inventory: FabricInventory, base_dir: Path) -> Fabric:
        return cls(inventory, {s.name: _driver_class(s)(s, inventory, base_dir) for s in inventory.switches})

    def observe(self, max_workers: int = 8) -> dict[str, FabricState]:
        """Observe every device in parallel; any failure names its device."""
        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            futures = {name: pool.submit(_observe, d) for name, d in self.drivers.items()}
            return {name: f.result() for name, f in futures.items()}

    @collector_paused()  # bulk allocation: see intent.bulk
    def plan(self, graph: IntentGraph, states: Mapping[str, FabricState], *, cluster_nodes: int) -> Plan:
        """The plan to bring every device to `graph`. Pure: showing any plan is safe; `apply` guards."""
        desired = _by_device(graph, self.drivers)
        devices = tuple(d.plan(desired.get(name, {}), states[name]) for name, d in self.drivers.items())
        modes = sorted({self.inventory.routing_mode(r) for r in self.inventory.racks} or {self.inventory.routing.mode})
        plan = Plan(fabric=graph.fabric, cluster=graph.cluster, routing_mode="+".join(modes),
                    cluster_nodes=cluster_nodes, devices=devices, warnings=graph.warnings)
        return plan

    def check(self, plan: Plan) -> None:
        """Refuse a plan that is not for this fabric, was edited, or whose devices changed since it was made."""
        self._check_plan_matches(plan)
        for device_plan in plan.devices:
            current = self.drivers[device_plan.device].observe()
            if current.revision != device_plan.revision:
                raise StalePlanError(f"{device_plan.device}: the device changed since the plan was made; "
                                     "nothing was applied, make a new plan")
            _check_unedited(self.drivers[device_plan.device], device_plan, current)

    def apply(self, plan: Plan, progress: Progress | None = None, *,
              allow_mass_delete: bool = False) -> list[ApplyResult]:
        """Apply `plan` exactly, make-before-break across the whole fabric.

        First every device's creates and updates, then every device's deletes: a VIP moving from
        one rack to another is announced on its new leaf before it is withdrawn from the old one.
        Each step is one transaction on its device; the first failure stops the apply. A plan made
        from an empty cluster view, or deleting over 10 % of the owned objects, is refused unless
        `allow_mass_delete`.
        """
        say = progress or (lambda device, message: None)
        check_mass_delete(plan, allow_mass_delete=allow_mass_delete)
        self.check(plan)
        revisions = {d.device: d.revision for d in plan.devices}
        results: list[ApplyResult] = []
        for phase, deleting in (("add/change", False), ("delete", True)):
            for device_plan in plan.devices:
                changes = tuple(c for c in device_plan.changes if (c.action == "delete") == deleting)
                if not changes:
                    continue
                step = device_plan.model_copy(update={"changes": changes, "revision": revisions[device_plan.device]})
                say(device_plan.device, f"{phase}: applying {len(changes)} change(s)")
                result = self.drivers[device_plan.device].apply(step)
                results.append(result)
                say(device_plan.device, f"failed: {result.error}" if result.failed else "done")
                if result.failed:
                    return results
                revisions[device_plan.device] = result.revision or revisions[device_plan.device]
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


def _driver_class(switch: Switch) -> type[Driver]:
    try:
        return registry.get(switch.driver)
    except DriverNotFoundError as exc:
        raise DriverNotFoundError(f"switch {switch.name}: {exc}") from None


def _check_unedited(driver: Driver, device_plan: DevicePlan, current: FabricState) -> None:
    """Refuse a device plan that is not what `driver.plan` made of the device as it is (a hand-edited file)."""
    have = {o.key: o for o in current.objects}
    problems = [] if device_plan.owned_objects == len(have) else [
        f"the plan says {device_plan.owned_objects} owned objects, the device holds {len(have)}"]
    problems += [f"change {c.key} ({c.action}): {reason}" for c in device_plan.changes
                 if (reason := _change_problem(driver, c, have)) is not None]
    if problems:
        raise PlanError(f"{device_plan.device}: {problems[0]}; the plan file was edited, nothing was applied, "
                        "make a new plan")


def _change_problem(driver: Driver, change: Change, have: Mapping[str, DeviceObject]) -> str | None:
    objects = [o for o in (change.before, change.after) if o is not None]
    if (change.before is None) != (change.action == "create") or (change.after is None) != (change.action == "delete"):
        return "its before/after do not fit the action"
    if any(o.key != change.key or o.device != driver.device for o in objects) or change.device != driver.device:
        return "its key or device does not match its object"
    held = have.get(change.key)
    if (held is None) != (change.before is None) or (held is not None and change.before is not None
                                                     and held.config() != change.before.config()):
        return "its before does not match what the device holds"
    if driver.render(change) != change.native:
        return "its native lines are not what the driver renders for it"
    return None


def _observe(driver: Driver) -> FabricState:
    try:
        return driver.observe()
    except FabricIntentError:
        raise
    except Exception as exc:  # a driver bug must still name its device
        raise DriverError(f"{driver.device}: observe failed: {type(exc).__name__}: {exc}") from exc


def _by_device(graph: IntentGraph, drivers: Mapping[str, Driver]) -> dict[str, dict[str, DeviceObject]]:
    desired: dict[str, dict[str, DeviceObject]] = {}
    for key, obj in graph.items():  # by key: no key is computed twice
        if not isinstance(obj, DeviceObject):
            continue
        driver = drivers.get(obj.device)
        if driver is None:
            raise PlanError(f"{obj.key}: device {obj.device} is not in the inventory")
        if obj.kind not in driver.capabilities.kinds:
            raise PlanError(f"{obj.key}: driver {driver.name} of {obj.device} cannot configure {obj.kind}")
        desired.setdefault(obj.device, {})[key] = obj
    return desired

"""The driver contract every device and controller adapter fulfils.

Modelled on NAPALM's `NetworkDriver`, cut to what fabric-intent needs:

* `observe()` reads what the device holds that fabric-intent owns, plus a revision;
* `render(change)` gives the native lines or payload for one change (pure, no I/O);
* `plan(desired, observed)` diffs and renders (pure, no I/O);
* `apply(device_plan)` refuses a stale plan, then `load_candidate` / `commit`, and `rollback` if the
  commit fails, so the device is left as it was.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from intent.errors import ApplyError, FabricIntentError, StalePlanError
from intent.inventory import FabricInventory, Switch
from intent.model import DeviceObject
from intent.plan import Change, DevicePlan, FabricState, diff, with_native

__all__ = ["ApplyResult", "Capabilities", "Driver", "FabricState"]


class Capabilities(BaseModel):
    """What a driver can do, as `fabric-intent drivers` lists it."""

    model_config = ConfigDict(frozen=True)

    kinds: tuple[str, ...]  # realized intent kinds it can configure
    transactional: bool  # commit is all-or-nothing on the platform itself
    rollback: bool  # can restore the previous owned state after a failed commit
    description: str


class ApplyResult(BaseModel):
    """What one device's apply did: the changes that took effect and the error, if any."""

    model_config = ConfigDict(frozen=True)

    device: str
    applied: tuple[str, ...] = ()  # keys of changes now on the device
    not_applied: tuple[str, ...] = ()  # keys of changes that are not (refused or rolled back)
    revision: str | None = None  # device revision after apply
    error: str | None = None
    device_output: str = ""  # what the device itself reported (e.g. an EOS session diff), secrets removed

    @property
    def failed(self) -> bool:
        return self.error is not None

    def raise_on_error(self) -> None:
        if self.error is not None:
            raise ApplyError(self.error)


class Driver(abc.ABC):
    """Base of every driver; one instance manages one device of the inventory."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, switch: Switch, inventory: FabricInventory, base_dir: Path) -> None:
        self.switch = switch
        self.inventory = inventory
        self.base_dir = base_dir

    @property
    def device(self) -> str:
        return self.switch.name

    @abc.abstractmethod
    def observe(self) -> FabricState:
        """Owned objects on the device now, and its revision."""

    @abc.abstractmethod
    def render(self, change: Change) -> tuple[str, ...]:
        """Native lines or payload for one change. Pure."""

    @abc.abstractmethod
    def load_candidate(self, changes: Sequence[Change]) -> None:
        """Stage the changes without making them live."""

    @abc.abstractmethod
    def commit(self) -> str:
        """Make the staged changes live; returns the new revision."""

    @abc.abstractmethod
    def rollback(self) -> None:
        """Discard staged changes, or restore the owned state from before `commit`."""

    def plan(self, desired: Sequence[DeviceObject] | Mapping[str, DeviceObject], observed: FabricState) -> DevicePlan:
        """Diff and render the device's share of the intent (objects, or objects by key). No I/O."""
        changes, conflicts = [], []
        for change in diff(desired, observed.objects):
            if change.action == "create" and change.key in observed.foreign:
                conflicts.append(f"{change.summary}: the device holds hand-made configuration in its place; "
                                 "fabric-intent leaves it alone and does not take it over")
            else:
                changes.append(with_native(change, self.render(change)))
        return DevicePlan(device=self.device, driver=self.name, revision=observed.revision,
                          owned_objects=len(observed.objects), changes=tuple(changes), conflicts=tuple(conflicts))

    def apply(self, device_plan: DevicePlan) -> ApplyResult:
        """Apply exactly `device_plan`, refusing it if the device changed since it was made."""
        current = self.observe()
        if current.revision != device_plan.revision:
            raise StalePlanError(
                f"{self.device}: the device changed since the plan was made (revision {device_plan.revision[:12]} "
                f"-> {current.revision[:12]}); make a new plan")
        keys = tuple(c.key for c in device_plan.changes)
        if not keys:
            return ApplyResult(device=self.device, revision=current.revision)
        try:
            self.load_candidate(device_plan.changes)
            revision = self.commit()
        except FabricIntentError as exc:
            self.rollback()
            message = str(exc) if str(exc).startswith(f"{self.device}:") else f"{self.device}: {exc}"
            return ApplyResult(device=self.device, not_applied=keys, revision=current.revision, error=message)
        return ApplyResult(device=self.device, applied=keys, revision=revision)

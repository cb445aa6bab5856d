"""The error tree. Every error fabric-intent raises derives from `FabricIntentError`.

Each error says whether trying again may help (`retryable`) and may carry `retry_after` seconds.
Vendor and transport exceptions never leak out of a driver: they are wrapped (`raise ... from exc`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class FabricIntentError(Exception):
    """Root of every error fabric-intent raises."""

    retryable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InputError(FabricIntentError):
    """Input that cannot be used: a malformed file, a bad field, an unsafe combination.

    `problems` lists every problem found, each a complete sentence naming where it is.
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: tuple[str, ...] = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))


class SnapshotError(InputError):
    """A cluster snapshot file or object is malformed."""


class InventoryError(InputError):
    """The fabric inventory is malformed or inconsistent."""


class IntentError(InputError):
    """Cluster state and inventory cannot be made into a safe fabric (overlaps, bad addresses)."""


class PolicyError(InputError):
    """A NetworkPolicy, or a probe against the compiled policy, cannot be used as written."""


class PlanError(FabricIntentError):
    """A plan cannot be made or applied as asked."""


class StalePlanError(PlanError):
    """The fabric changed since the plan was made; make a new plan."""


class MassDeleteError(PlanError):
    """The plan deletes too much, or was made from an empty cluster view."""


class DriverError(FabricIntentError):
    """A driver could not observe or change a device or controller."""


class DriverNotFoundError(DriverError):
    """No installed driver has the requested name."""


class DeviceUnreachableError(DriverError):
    """The device or controller could not be reached; trying again later may help."""

    retryable = True


class ApplyError(DriverError):
    """A change was refused by the device; the device was restored to its previous owned state."""


@dataclass
class Findings:
    """Problems (refuse the input) and warnings (build anyway, tell the operator)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

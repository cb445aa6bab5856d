"""Diff desired intent against what a device holds, and the `Plan` that results.

A plan is data: it round-trips through JSON (`Plan.model_dump_json` / `Plan.model_validate_json`)
and records, per device, the revision it was made against, so a stale plan is refused at apply.
Changes are ordered make-before-break: creates and updates in dependency order (VRF, prefix-list,
BGP neighbour, route), then deletes in reverse order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from intent.errors import MassDeleteError, PlanError
from intent.inventory import format_validation_error
from intent.model import APPLY_ORDER, DeviceObject, Realized, SourceRef

PLAN_FORMAT = "fabric-intent/plan@1"
Action = Literal["create", "update", "delete"]
SYMBOLS: dict[str, str] = {"create": "+", "update": "~", "delete": "-"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FabricState(_Frozen):
    """What a driver observed on one device: owned objects only, plus a revision for stale-plan checks."""

    device: str
    revision: str
    objects: tuple[Realized, ...] = ()


class Change(_Frozen):
    """One create, update or delete of one owned object on one device."""

    action: Action
    key: str
    kind: str
    device: str
    summary: str
    details: tuple[str, ...] = ()  # for updates: what differs, one line per field or entry
    before: Realized | None = None
    after: Realized | None = None
    provenance: tuple[SourceRef, ...] = ()
    native: tuple[str, ...] = ()  # the lines or payload the driver sends for this change

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.action]


class DevicePlan(_Frozen):
    device: str
    driver: str
    revision: str  # revision of the device when the plan was made
    owned_objects: int  # objects fabric-intent owned on the device when the plan was made
    changes: tuple[Change, ...] = ()


class Summary(_Frozen):
    add: int
    change: int
    destroy: int
    devices: int

    def __str__(self) -> str:
        if not (self.add or self.change or self.destroy):
            return "No changes. The fabric matches the intent."
        return (f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy "
                f"on {self.devices} device{'s' if self.devices != 1 else ''}")


class Plan(_Frozen):
    """Every change to bring a fabric to the intent, per device, in apply order."""

    format: Literal["fabric-intent/plan@1"] = PLAN_FORMAT
    fabric: str
    cluster: str
    routing_mode: str
    cluster_nodes: int = Field(ge=0)  # Nodes in the cluster view the plan was made from
    devices: tuple[DevicePlan, ...]
    warnings: tuple[str, ...] = ()

    @property
    def changes(self) -> list[Change]:
        return [c for d in self.devices for c in d.changes]

    @property
    def summary(self) -> Summary:
        counts = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes:
            counts[change.action] += 1
        return Summary(add=counts["create"], change=counts["update"], destroy=counts["delete"],
                       devices=sum(1 for d in self.devices if d.changes))

    @property
    def owned_objects(self) -> int:
        return sum(d.owned_objects for d in self.devices)

    @property
    def has_changes(self) -> bool:
        return any(d.changes for d in self.devices)


def spec_of(obj: DeviceObject) -> tuple[object, ...]:
    """An object's configuration as a tuple, for cheap comparison (provenance left out)."""
    return tuple(getattr(obj, name) for name in type(obj).model_fields if name != "provenance")


def field_changes(before: DeviceObject, after: DeviceObject) -> tuple[str, ...]:
    """What differs between two versions of one object, in words a network engineer reads."""
    lines: list[str] = []
    for name in type(after).model_fields:
        old, new = getattr(before, name), getattr(after, name)
        if name == "provenance" or old == new:
            continue
        if name == "entries":
            old_set, new_set = {str(e) for e in old}, {str(e) for e in new}
            lines += [f"- {e}" for e in sorted(old_set - new_set)] + [f"+ {e}" for e in sorted(new_set - old_set)]
        else:
            lines.append(f"{name}: {old} -> {new}")
    return tuple(lines)


def _order(change: Change) -> tuple[int, int, str]:
    rank = APPLY_ORDER.get(change.kind, 99)
    return (1, -rank, change.key) if change.action == "delete" else (0, rank, change.key)


def diff(desired: Iterable[DeviceObject], observed: Iterable[DeviceObject],
         keys: Iterable[str] | None = None) -> list[Change]:
    """Changes that turn `observed` into `desired`, ordered make-before-break.

    With `keys`, only those keys are compared (an incremental diff after one event).
    """
    want = {o.key: o for o in desired}
    have = {o.key: o for o in observed}
    candidates = set(keys) if keys is not None else want.keys() | have.keys()
    changes = [c for key in candidates if (c := _change(want.get(key), have.get(key))) is not None]
    changes.sort(key=_order)
    return changes


def _change(want: DeviceObject | None, have: DeviceObject | None) -> Change | None:
    if want is not None and have is None:
        return _make("create", want, None, want)
    if want is None and have is not None:
        return _make("delete", have, have, None)
    if want is not None and have is not None and spec_of(want) != spec_of(have):
        return _make("update", want, have, want, field_changes(have, want))
    return None


def _make(action: Action, obj: DeviceObject, before: DeviceObject | None, after: DeviceObject | None,
          details: tuple[str, ...] = ()) -> Change:
    return Change.model_construct(
        action=action, key=obj.key, kind=obj.kind, device=obj.device, summary=obj.describe(), details=details,
        before=before, after=after, provenance=obj.provenance, native=(),
    )


def apply_changes(objects: Mapping[str, DeviceObject], changes: Sequence[Change]) -> dict[str, DeviceObject]:
    """The object set after `changes` (pure; what a perfect device would hold)."""
    result = dict(objects)
    for change in changes:
        if change.action == "delete":
            result.pop(change.key, None)
        elif change.after is not None:
            result[change.key] = change.after
    return result


def check_mass_delete(plan: Plan, *, allow_mass_delete: bool, max_fraction: float = 0.10) -> None:
    """Refuse a plan made from an empty cluster view, or one deleting over `max_fraction` of owned objects."""
    if allow_mass_delete:
        return
    if plan.cluster_nodes == 0:
        raise MassDeleteError(
            "refusing to plan from an empty cluster view (no Node): it would withdraw every pod route; "
            "if the cluster really has no nodes, pass --allow-mass-delete")
    destroy, owned = plan.summary.destroy, plan.owned_objects
    if owned and destroy > owned * max_fraction:
        raise MassDeleteError(
            f"the plan deletes {destroy} of {owned} objects fabric-intent owns ({100 * destroy / owned:.0f} %), "
            f"over the {max_fraction:.0%} limit; check the cluster view, or pass --allow-mass-delete")


def parse_plan(document: object, source: str) -> Plan:
    """A plan from its JSON document (as `render_json` wrote it); the summary is checked, then dropped."""
    if not isinstance(document, dict):
        raise PlanError(f"{source}: a plan must be a JSON object")
    body = {k: v for k, v in document.items() if k != "summary"}
    try:
        plan = Plan.model_validate(body)
    except ValidationError as exc:
        raise PlanError(f"{source}: not a valid fabric-intent plan: " + "; ".join(format_validation_error(exc))) from None
    if "summary" in document and document["summary"] != plan.summary.model_dump():
        raise PlanError(f"{source}: the summary does not match the changes; the plan file was edited")
    return plan

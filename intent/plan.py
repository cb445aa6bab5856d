"""Diff desired intent against what a device holds, and the `Plan` that results.

A plan is data: it round-trips through JSON (`Plan.model_dump_json` / `Plan.model_validate_json`)
and records, per device, the revision it was made against, so a stale plan is refused at apply.
Changes are ordered make-before-break: creates and updates in dependency order (VRF, prefix-list,
BGP neighbour, route), then deletes in reverse order.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from intent.errors import MassDeleteError, PlanError
from intent.inventory import format_validation_error
from intent.model import APPLY_ORDER, DeviceObject, Realized, SourceRef

PLAN_FORMAT: Literal["fabric-intent/plan@1"] = "fabric-intent/plan@1"
Action = Literal["create", "update", "delete"]
SYMBOLS: dict[str, str] = {"create": "+", "update": "~", "delete": "-"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FabricState(_Frozen):
    """What a driver observed on one device: owned objects only, plus a revision for stale-plan checks."""

    device: str
    revision: str
    objects: tuple[Realized, ...] = ()
    # Keys of configuration the device holds that fabric-intent does not own (hand-made) but that
    # an intent object would collide with, e.g. a hand-made route with the same prefix and next hop.
    foreign: frozenset[str] = frozenset()


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
    # Intent objects left out because hand-made configuration holds their place (never taken over).
    conflicts: tuple[str, ...] = ()


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
    spec = _SPEC.get(type(obj))
    if spec is None:  # once per kind: the field values but provenance, read in one C call
        names = [n for n in type(obj).model_fields if n != "provenance"]
        get = operator.attrgetter(*names)
        spec = _SPEC[type(obj)] = get if len(names) > 1 else (lambda o: (get(o),))
    return spec(obj)


_SPEC: dict[type, Callable[[object], tuple[object, ...]]] = {}


def _by_seq(entry: object) -> tuple[int, str]:
    return (getattr(entry, "seq", 0), str(entry))


def field_changes(before: DeviceObject, after: DeviceObject) -> tuple[str, ...]:
    """What differs between two versions of one object, in words a network engineer reads."""
    lines: list[str] = []
    for name in type(after).model_fields:
        old, new = getattr(before, name), getattr(after, name)
        if name == "provenance" or old == new:
            continue
        if name in ("entries", "addresses", "prefixes"):  # lists of members: what came and went
            gone, added = set(old) - set(new), set(new) - set(old)
            lines += [f"- {e}" for e in sorted(gone, key=_by_seq)] + [f"+ {e}" for e in sorted(added, key=_by_seq)]
        else:
            lines.append(f"{name}: {old} -> {new}")
    return tuple(lines)


def _order(change: Change) -> tuple[int, int, str]:
    rank = APPLY_ORDER.get(change.kind, 99)
    return (1, -rank, change.key) if change.action == "delete" else (0, rank, change.key)


def diff(desired: Iterable[DeviceObject] | Mapping[str, DeviceObject], observed: Iterable[DeviceObject],
         keys: Iterable[str] | None = None) -> list[Change]:
    """Changes that turn `observed` into `desired`, ordered make-before-break.

    `desired` may be given by key (as `IntentGraph.items()` holds it): a key formats IP addresses,
    and a plan can hold 100,000 objects. With `keys`, only those keys are compared (an incremental
    diff after one event).
    """
    want = dict(desired) if isinstance(desired, Mapping) else {o.key: o for o in desired}
    have = {o.key: o for o in observed}
    candidates = set(keys) if keys is not None else want.keys() | have.keys()
    changes = [c for key in candidates if (c := _change(key, want.get(key), have.get(key))) is not None]
    changes.sort(key=_order)
    return changes


def _change(key: str, want: DeviceObject | None, have: DeviceObject | None) -> Change | None:
    if want is not None and have is None:
        return _make("create", key, want, None, want)
    if want is None and have is not None:
        return _make("delete", key, have, have, None)
    if want is not None and have is not None and spec_of(want) != spec_of(have):
        return _make("update", key, want, have, want, field_changes(have, want))
    return None


def _make(action: Action, key: str, obj: DeviceObject, before: DeviceObject | None, after: DeviceObject | None,
          details: tuple[str, ...] = ()) -> Change:
    return _construct({"action": action, "key": key, "kind": obj.kind, "device": obj.device, "summary": obj.describe(),
                       "details": details, "before": before, "after": after, "provenance": obj.provenance,
                       "native": ()})


def with_native(change: Change, native: tuple[str, ...]) -> Change:
    """`change` with the driver's native lines: `change.model_copy(update={"native": native})`, faster."""
    return _construct({**change.__dict__, "native": native})


def _construct(values: dict[str, object]) -> Change:
    """What `Change.model_construct(**values)` makes, for values complete (every field, in field order)
    and valid by construction, without its per-call work: a plan can hold 100,000 changes."""
    change = Change.__new__(Change)
    _setattr(change, "__dict__", values)
    _setattr(change, "__pydantic_fields_set__", set(values))
    _setattr(change, "__pydantic_extra__", None)
    _setattr(change, "__pydantic_private__", None)
    return change


_setattr = object.__setattr__  # a frozen model refuses its own __setattr__


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
            f"over the {100 * max_fraction:.0f} % limit; check the cluster view, or pass --allow-mass-delete")


def digest_of(body: Mapping[str, object]) -> str:
    """SHA-256 of a plan's JSON body (without `summary` and `digest`), canonically serialised."""
    canonical = json.dumps({k: v for k, v in body.items() if k not in ("summary", "digest")},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_plan(document: object, source: str) -> Plan:
    """A plan from its JSON document (as `render_json` wrote it); summary and digest are checked, then dropped."""
    if not isinstance(document, dict):
        raise PlanError(f"{source}: a plan must be a JSON object")
    if "digest" in document and document["digest"] != digest_of(document):
        raise PlanError(f"{source}: the digest does not match the content; the plan file was edited")
    body = {k: v for k, v in document.items() if k not in ("summary", "digest")}
    try:
        plan = Plan.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(format_validation_error(exc))
        raise PlanError(f"{source}: not a valid fabric-intent plan: {problems}") from None
    if "summary" in document and document["summary"] != plan.summary.model_dump():
        raise PlanError(f"{source}: the summary does not match the changes; the plan file was edited")
    return plan

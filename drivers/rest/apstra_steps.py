"""The staging-blueprint requests for one change, and the request that undoes each (pure, no I/O).

Ids Apstra chooses (routing zones, routing policies) are not known until it answers, so a request
may name them as `{zone:BLUE}`, `{policy:FI-NODE-n1}` or `{<intent key>}`; they are filled in just
before the request is sent, from the ids observed or returned so far.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from drivers.rest.apstra_translate import ApstraScope, policy_body, template_id, template_policies, zone_body
from intent.errors import DriverError
from intent.model import BgpPeering, DeviceObject, PrefixList, StaticRoute, Vrf
from intent.plan import Change

_PLACEHOLDER = re.compile(r"\{([a-z-]+:[^{}]+)\}")


class Step(BaseModel):
    """One request to the staging blueprint."""

    model_config = ConfigDict(frozen=True)

    method: str
    path: str
    params: dict[str, str] | None = None
    body: Any = None
    creates: str | None = None  # the intent key whose new id the answer carries
    name_key: str | None = None  # `zone:<vrf>` / `policy:<name>`: the same id, by name
    summary: str
    undo: Step | None = None

    def resolved(self, ids: Mapping[str, str], *, strict: bool = True) -> Any:
        return _fill(self.body, ids, strict)

    def resolved_path(self, ids: Mapping[str, str], *, strict: bool = True) -> str:
        return str(_fill(self.path, ids, strict))

    def native(self, ids: Mapping[str, str] = {}) -> tuple[str, ...]:  # noqa: B006 - read only
        query = "?" + "&".join(f"{k}={v}" for k, v in self.params.items()) if self.params else ""
        line = f"{self.method} {self.resolved_path(ids, strict=False)}{query}"
        if self.body is None:
            return (line,)
        return (line, json.dumps(self.resolved(ids, strict=False), sort_keys=True, separators=(",", ":")))


def _fill(value: Any, ids: Mapping[str, str], strict: bool) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: _lookup(m.group(1), ids, strict), value)
    if isinstance(value, dict):
        return {k: _fill(v, ids, strict) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids, strict) for v in value]
    return value


def _lookup(name: str, ids: Mapping[str, str], strict: bool) -> str:
    if name in ids:
        return ids[name]
    if strict:
        what = name.replace("zone:", "a routing zone for VRF ").replace("policy:", "a routing policy named ")
        raise DriverError(f"the blueprint holds no {what}")
    return f"<id of {name}>"


def step_for(change: Change, scope: ApstraScope, ids: Mapping[str, str], base: str) -> Step:
    """The request for `change`, with the request that undoes it."""
    if change.action == "delete":
        assert change.before is not None
        return _delete(change.before, scope, base, ids)
    assert change.after is not None
    zone = ids.get(f"{change.key}#zone")  # an object changed in place stays in its routing zone
    step = _write(change.after, scope, base, update=change.action == "update", zone=zone)
    if change.action == "create":
        return step.model_copy(update={"undo": _delete(change.after, scope, base, ids)})
    assert change.before is not None
    return step.model_copy(update={"undo": _write(change.before, scope, base, update=True, zone=zone)})


def inverse_step(step: Step, base: str) -> Step:
    if step.undo is None:
        raise DriverError(f"no way to undo: {step.summary}")
    return step.undo


def _write(obj: DeviceObject, scope: ApstraScope, base: str, *, update: bool, zone: str | None = None) -> Step:
    summary = f"{'update' if update else 'create'} {obj.describe()}"
    if isinstance(obj, Vrf):
        return Step(method="POST", path=f"{base}/security-zones", body=zone_body(obj, scope), creates=obj.key,
                    name_key=f"zone:{obj.name}", summary=summary)
    if isinstance(obj, PrefixList):
        if update:
            return Step(method="PUT", path=f"{base}/routing-policies/{{{obj.key}}}", body=policy_body(obj, scope),
                        summary=summary)
        return Step(method="POST", path=f"{base}/routing-policies", body=policy_body(obj, scope), creates=obj.key,
                    name_key=f"policy:{obj.name}", summary=summary)
    if isinstance(obj, StaticRoute | BgpPeering):
        policy = f"{{policy:{obj.prefix_list}}}" if isinstance(obj, BgpPeering) else None
        policies = template_policies(obj, scope, zone or f"{{zone:{obj.vrf}}}", policy)
        return Step(method="POST", path=f"{base}/obj-policy-import", body={"policies": policies}, summary=summary)
    raise DriverError(f"{scope.device}: the apstra driver cannot configure {type(obj).__name__}")


def _delete(obj: DeviceObject, scope: ApstraScope, base: str, ids: Mapping[str, str]) -> Step:
    """Delete `obj`; undone by writing it again (a routing zone or policy comes back under a new id)."""
    summary = f"delete {obj.describe()}"
    again = _write(obj, scope, base, update=False, zone=ids.get(f"{obj.key}#zone"))
    if isinstance(obj, Vrf):
        path = f"{base}/security-zones/{{{obj.key}}}"
    elif isinstance(obj, PrefixList):
        path = f"{base}/routing-policies/{{{obj.key}}}"
    else:
        return Step(method="DELETE", path=f"{base}/endpoint-policies/{template_id(obj.key)}",
                    params={"delete_recursive": "true"}, summary=summary, undo=again)
    return Step(method="DELETE", path=path, summary=summary, undo=again)

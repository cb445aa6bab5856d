"""Helpers of the aci tests: a sleep recorder, the driver factory type, and the policy fixture
(data/contract/aci/policy-*.json: leaf-1 enforcing NetworkPolicy on the contract APIC)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from drivers.rest.aci import AciDriver
from intent.model import DeviceObject, Realized

AciFactory = Callable[..., AciDriver]
CONTRACT = Path(__file__).resolve().parent.parent / "data" / "contract" / "aci"
ENFORCE_ON = ("leaf-1",)
_OBJECTS: TypeAdapter[list[Any]] = TypeAdapter(list[Realized])


class Sleeps(list[float]):
    """A `sleep` seam that records the delays asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def with_policy(inventory: dict[str, Any]) -> dict[str, Any]:
    """The contract inventory with leaf-1 enforcing policy."""
    return {**inventory, "policy": {"enforce_on": list(ENFORCE_ON)}}


def policy_objects() -> list[DeviceObject]:
    """leaf-1's compiled policy (address groups and rules)."""
    return list(_OBJECTS.validate_python(json.loads((CONTRACT / "policy-desired.json").read_text())["objects"]))


def policy_state() -> list[dict[str, Any]]:
    """The APIC MOs the policy tests add to apic-state.json: hand-made and owned EPGs and contracts."""
    return list(json.loads((CONTRACT / "policy-state.json").read_text())["imdata"])


def posted(tree: dict[str, Any], parent: str = "", out: dict[str, str] | None = None) -> dict[str, str]:
    """dn -> status of every MO in an APIC tree, posted (children named by their naming property) or read
    (children carrying `rn`)."""
    from drivers.rest.aci_tree import rn_of

    out = {} if out is None else out
    ((cls, body),) = tree.items()
    attrs = body["attributes"]
    dn = attrs.get("dn") or f"{parent}/{attrs.get('rn') or rn_of(cls, attrs)}"
    out[dn] = attrs.get("status", "")
    for child in body.get("children", []):
        posted(child, dn, out)
    return out

"""The compiled rule set of a test cluster, as the device objects renderers receive."""

from __future__ import annotations

from pathlib import Path

from intent.model import AddressGroup, PolicyRule
from intent.policy import compile_policies
from intent.policy.placement import device_objects
from reconciler.files import load_cluster

DATA = Path(__file__).resolve().parent / "data"
CASES = Path(__file__).resolve().parents[2] / "intent" / "policy" / "cases"


def compiled(path: Path) -> tuple[list[AddressGroup], list[PolicyRule]]:
    return device_objects(compile_policies(load_cluster(path)), "leaf-1")

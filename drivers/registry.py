"""Find drivers by name through the `fabric_intent.drivers` entry-point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from drivers.base import Driver
from intent.errors import DriverError, DriverNotFoundError

GROUP = "fabric_intent.drivers"


@cache
def available() -> dict[str, type[Driver]]:
    """Every installed driver, by entry-point name."""
    found: dict[str, type[Driver]] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must not hide the others
            raise DriverError(f"driver {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Driver)):
            raise DriverError(f"driver {ep.name!r} ({ep.value}) is not a fabric-intent Driver")
        found[ep.name] = cls
    return dict(sorted(found.items()))


def get(name: str) -> type[Driver]:
    drivers = available()
    if name not in drivers:
        raise DriverNotFoundError(
            f"no driver named {name!r} is installed (installed: {', '.join(drivers) or 'none'})")
    return drivers[name]

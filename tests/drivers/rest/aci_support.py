"""Helpers of the aci tests: a sleep recorder and the driver factory type."""

from __future__ import annotations

from collections.abc import Callable

from drivers.rest.aci import AciDriver

AciFactory = Callable[..., AciDriver]


class Sleeps(list[float]):
    """A `sleep` seam that records the delays asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

"""Bulk-push benchmark: N static routes to one lab FRR switch until they are all in its kernel.

    samples/lab/bench [--routes 1000] [--repeat 3]        (root; FRR, sshd and iproute2 installed)

Compares, on the same switch in the same run:
  * fabric-intent's frr driver, whole `apply` (SSH login, read, stale check, one batch, read back);
  * the batch alone (one SSH channel, XFRR_start/end_configuration around the lines);
  * netmiko's default `send_config_set` of the very same lines, line by line.
Each figure is seconds from the start of the push until the last route is in `ip route` of the
switch's namespace. Between runs the routes are withdrawn and the kernel checked empty.
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from fabric_lab import lone_switch

from drivers.ssh.frr import FrrDriver
from drivers.ssh.frr_push import push_channel
from drivers.ssh.frr_render import static_route
from drivers.ssh.session import open_connection
from intent.inventory import parse_inventory
from intent.model import StaticRoute
from intent.plan import DevicePlan

PREFIX = "10.250."


def routes(count: int) -> list[StaticRoute]:
    """`count` /32 routes via a host on the switch's node-facing subnet, so the kernel installs them."""
    hop = ipaddress.ip_address("192.168.1.2")
    prefixes = (ipaddress.ip_network(f"{PREFIX}{i // 250}.{i % 250}/32") for i in range(count))
    return [StaticRoute(device="bench-leaf", vrf="default", prefix=prefix, next_hop=hop, tag=64512)
            for prefix in prefixes]


def in_kernel(access: Any) -> int:
    return sum(1 for line in access.kernel_routes() if line.startswith(PREFIX))


def wait_kernel(access: Any, count: int, started: float, timeout: float = 300) -> float:
    """Seconds from `started` until the kernel holds exactly `count` benchmark routes."""
    while in_kernel(access) != count:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the kernel did not reach {count} routes within {timeout:g} s")
        time.sleep(0.005)
    return time.perf_counter() - started


def timed(access: Any, count: int, push: Callable[[], object]) -> tuple[float, float]:
    """(seconds until the push returned, seconds until the kernel held every route)."""
    started = time.perf_counter()
    push()
    returned = time.perf_counter() - started
    return returned, wait_kernel(access, count, started)


def _apply(driver: FrrDriver, plan: DevicePlan) -> None:
    driver.apply(plan).raise_on_error()


def run(count: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fi-bench-") as tmp, \
            lone_switch("bench-leaf", workdir=Path(tmp)) as access:
        entry = access.inventory_switch(options={"known_hosts": str(access.known_hosts)})
        inventory = parse_inventory({"fabric": "bench", "cluster": "bench", "switches": [entry]}, "bench")
        switch, wanted = inventory.switches[0], routes(count)
        lines = [line for r in wanted for line in static_route(r)]
        figures: dict[str, list[tuple[float, float]]] = {"apply": [], "batch": [], "netmiko": []}
        driver = FrrDriver(switch, inventory, Path(tmp))
        for _ in range(repeat):
            plan = driver.plan(wanted, driver.observe())
            figures["apply"].append(timed(access, count, partial(_apply, driver, plan)))
            driver.apply(driver.plan([], driver.observe())).raise_on_error()
            wait_kernel(access, 0, time.perf_counter())
        session = open_connection(switch, inventory, Path(tmp), device_type="cisco_ios")
        try:
            for _ in range(repeat):
                figures["batch"].append(timed(access, count, lambda: push_channel(session, None, lines, 300)))
                push_channel(session, None, [f"no {line}" for line in lines], 300)
                wait_kernel(access, 0, time.perf_counter())
        finally:
            session.disconnect()
        netmiko = open_connection(switch, inventory, Path(tmp), device_type="cisco_ios")
        try:
            figures["netmiko"].append(timed(access, count, lambda: netmiko.send_config_set(lines)))
        finally:
            netmiko.disconnect()
        report(count, figures)


def report(count: int, figures: dict[str, list[tuple[float, float]]]) -> None:
    titles = {"apply": "fabric-intent apply (login, read, batch, read back)",
              "batch": "fabric-intent batch alone (one SSH channel, XFRR)",
              "netmiko": "netmiko send_config_set defaults (line by line)"}
    print(f"{count} static routes to one FRR switch, seconds until all are in its kernel")
    print(f"{'method':<55} {'runs':>4} {'median':>8} {'min':>8} {'max':>8}   push returned (median)")
    for name, runs in figures.items():
        kernel = [k for _, k in runs]
        print(f"{titles[name]:<55} {len(runs):>4} {statistics.median(kernel):>8.3f} {min(kernel):>8.3f} "
              f"{max(kernel):>8.3f}   {statistics.median(r for r, _ in runs):.3f}")
    target = statistics.median(k for _, k in figures["apply"])
    print(f"target <= 1 s for fabric-intent apply: {'met' if target <= 1.0 else 'NOT met'} ({target:.3f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fabric-intent method (netmiko: one)")
    args = parser.parse_args(argv)
    run(args.routes, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())

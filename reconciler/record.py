"""`fabric-intent record`: run a REST driver against its live controller and write a cassette.

The cassette holds every request and response in order, with passwords, tokens, cookies and auth
headers scrubbed. Without `--cluster` the driver only observes; with it, it also plans the device's
share of the intent and, once confirmed, applies it, so the cassette records a whole change.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from drivers import registry
from drivers.base import Driver
from drivers.rest.access import controller_options, rest_settings
from drivers.rest.cassette import Cassette, RecordingTransport
from intent.build import build_intent
from intent.errors import InputError
from reconciler.files import load_cluster, load_inventory


def driver_secrets(driver: Driver | None) -> tuple[str, ...]:
    """The secret values a REST driver's session holds now (password, token), to scrub them everywhere."""
    client = getattr(driver, "client", None) if driver is not None else None
    auth = getattr(client, "auth", None)
    secrets = getattr(auth, "secrets", None)
    return tuple(secrets()) if callable(secrets) else ()


def record_device(fabric: Path, device: str, *, cluster: Path | None = None, apply: bool = False,
                  inner: httpx.BaseTransport | None = None, description: str = "") -> tuple[Cassette, str]:
    """Observe (and with `cluster`, plan; with `apply`, apply) one device; the cassette and the plan as text."""
    inventory = load_inventory(fabric)
    names = [s.name for s in inventory.switches]
    if device not in names:
        raise InputError(f"--device: {device!r} is not a switch of {fabric.name} (switches: {', '.join(names)})")
    switch = inventory.switch(device)
    cls = registry.get(switch.driver)
    if "transport" not in inspect.signature(cls.__init__).parameters:
        raise InputError(f"--device: {device} uses the {switch.driver} driver, which does not speak HTTP; "
                         "record works with REST controller drivers")
    if inner is None:
        settings = rest_settings(controller_options(switch.driver, switch, inventory), switch,
                                 requests_per_second=None)
        inner = httpx.HTTPTransport(verify=settings.verify)
    holder: list[Driver] = []
    recorder = RecordingTransport(inner, secrets=lambda: driver_secrets(holder[0] if holder else None))
    seams: dict[str, Any] = {"transport": recorder}
    driver = cls(switch, inventory, fabric.parent, **seams)
    holder.append(driver)
    observed = driver.observe()
    report = f"{device}: {len(observed.objects)} owned object(s), revision {observed.revision[:12]}\n"
    if cluster is not None:
        graph = build_intent(load_cluster(cluster), inventory)
        plan = driver.plan(graph.for_device(device), observed)
        report += "\n".join(f"{c.symbol} {c.summary}" for c in plan.changes) or "no changes"
        if apply and plan.changes:
            driver.apply(plan).raise_on_error()
    text = description or f"{switch.driver} {device}: {'observe, plan and apply' if apply else 'observe'}"
    return recorder.cassette(switch.driver, text), report


def record(fabric: Annotated[Path, typer.Option("--fabric", help="Fabric inventory YAML file.")],
           device: Annotated[str, typer.Option("--device", help="The switch (controller-managed device) to run.")],
           out: Annotated[Path, typer.Option("--out", help="Cassette file to write (JSON).")],
           cluster: Annotated[Path | None, typer.Option(
               "--cluster", help="Cluster snapshot: also plan the device's intent and apply it.")] = None,
           auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Apply without asking.")] = False,
           description: Annotated[str, typer.Option("--description", help="What the cassette shows.")] = "") -> int:
    """Record a REST driver's exchanges with its live controller as a cassette, secrets scrubbed."""
    apply = cluster is not None and (auto_approve or typer.confirm(
        f"Plan and APPLY the intent on {device} while recording?", default=False))
    cassette, report = record_device(fabric, device, cluster=cluster, apply=apply, description=description)
    typer.echo(report)
    cassette.write(out)
    typer.echo(f"wrote {out}: {len(cassette.exchanges)} exchange(s)", err=True)
    return 0


"""Support for the end-to-end tests: the service wired as `fabric-intent run` wires it, against the fake API."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from cli_support import console_script
from fakeapi import FakeApiServer
from loop_support import FAST, SimFabric

from reconciler.run import Service, connect, lease_namespace
from reconciler.settings import LeaseSettings, LoopSettings, RunSettings

# Short lease timings: takeover within LEASE_DURATION + RETRY_PERIOD.
LEASE = {"duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.2}


def run_settings(identity: str, **loop: Any) -> RunSettings:
    return RunSettings(metrics_port=0, metrics_address="127.0.0.1", watch_backoff_base=0.05, watch_backoff_cap=0.3,
                       loop=LoopSettings(**{**FAST, **loop}), lease=LeaseSettings(identity=identity, **LEASE))


def make_service(api: FakeApiServer, sim: SimFabric, identity: str, **loop: Any) -> Service:
    kubeconfig = api.write_kubeconfig(sim.folder / f"kubeconfig-{identity}")
    access = connect(kubeconfig)
    return Service(sim.inventory_file, access, run_settings(identity, **loop), lease_namespace(access, None))


@contextlib.contextmanager
def serving(*services: Service) -> Iterator[tuple[Service, ...]]:
    """Start the services; stop every one still running on the way out, even when the test fails."""
    started: list[Service] = []
    try:
        for service in services:
            service.start()
            started.append(service)
        yield services
    finally:
        for service in reversed(started):
            with contextlib.suppress(Exception):
                service.stop()


def crash(service: Service) -> None:
    """Stop a replica as a crash would: no Lease release, no goodbye."""
    service.loop.stop()
    service.elector.stop(release=False)
    service.cache.stop()
    service.http.stop()


def get(service: Service, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{service.http.port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def lease(api: FakeApiServer) -> dict[str, Any]:
    leases = [o for o in api.objects("Lease") if o["metadata"]["name"] == "fabric-intent"]
    return leases[0] if leases else {}


def holder(api: FakeApiServer) -> str | None:
    spec: dict[str, Any] = lease(api).get("spec", {})
    return spec.get("holderIdentity")


def writes_of(service: Service) -> float:
    return sum(s.value for f in service.metrics.fabric_writes.collect() for s in f.samples
               if s.name.endswith("_total"))


def owned_snapshot(sim: SimFabric) -> str:
    return json.dumps(sim.owned(), sort_keys=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replica_process(api: FakeApiServer, sim: SimFabric, identity: str, lease_duration: float = 3.0
                    ) -> subprocess.Popen[str]:
    """`fabric-intent run` in a process of its own, with short lease timings; its logs go to a file."""
    env = {**os.environ, "FABRIC_INTENT_LEASE_IDENTITY": identity,
           "FABRIC_INTENT_LEASE_DURATION": str(lease_duration),
           "FABRIC_INTENT_LEASE_RENEW_DEADLINE": str(lease_duration * 2 / 3),
           "FABRIC_INTENT_LEASE_RETRY_PERIOD": "0.2", "FABRIC_INTENT_METRICS_ADDRESS": "127.0.0.1",
           "FABRIC_INTENT_DEBOUNCE": "0.05", "FABRIC_INTENT_MAX_DELAY": "0.3"}
    kubeconfig = api.write_kubeconfig(sim.folder / f"kubeconfig-{identity}")
    args = [console_script(), "run", "--kubeconfig", str(kubeconfig), "--fabric", str(sim.inventory_file),
            "--metrics-port", str(free_port())]
    with (sim.folder / f"{identity}.log").open("w", encoding="utf-8") as log:  # the child keeps its own copy
        return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)


@contextlib.contextmanager
def processes(*procs: subprocess.Popen[str]) -> Iterator[tuple[subprocess.Popen[str], ...]]:
    """Kill every process still running on the way out, even when the test fails."""
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)

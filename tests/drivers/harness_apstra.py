"""Contract fixture for the apstra driver: a fake Apstra server (tests/drivers/rest/fake_apstra.py) loaded
with data/contract/apstra/apstra-server.json, injected into each driver through `transport=`.

A device's configuration is its blueprint's deployed graph: what the switches run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml
from driver_harness import DATA
from rest.fake_apstra import FakeApstraServer, apstra_error

from drivers import registry
from drivers.base import Driver
from intent.inventory import FabricInventory, parse_inventory

FIXTURE_FILES = ("fabric.yaml", "apstra-server.json", "apstra-password")
OWNED = "fabric-intent:contract"


class ApstraHarness:
    name = "apstra"

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "apstra"
        shutil.copytree(DATA / "apstra", self.root)
        (self.root / "apstra-password").write_text(FakeApstraServer.PASSWORD + "\n")
        self.inventory: FabricInventory = parse_inventory(yaml.safe_load((self.root / "fabric.yaml").read_text()),
                                                          "fabric.yaml")
        self.server = FakeApstraServer.load(self.root / "apstra-server.json")

    def _build(self, device: str, transport: httpx.BaseTransport) -> Driver:
        return registry.get(self.name)(self.inventory.switch(device), self.inventory, self.root,
                                       transport=transport, sleep=lambda _s: None)

    def driver(self, device: str) -> Driver:
        return self._build(device, self.server.transport)

    def failing_driver(self, device: str) -> Driver:
        """Apstra refuses the deploy (the write that makes the staged changes live)."""
        def handle(request: httpx.Request) -> httpx.Response:
            if request.method == "PUT" and request.url.path.endswith("/deploy"):
                return apstra_error(422, "Blueprint has build errors: deploy refused")
            return self.server.handle(request)
        return self._build(device, httpx.MockTransport(handle))

    def _objects(self, device: str) -> list[dict[str, Any]]:
        graph = self.server.deployed[device]
        return [{"collection": name, **obj} for name in sorted(graph) for _, obj in sorted(graph[name].items())]

    def configuration(self, device: str) -> str:
        return json.dumps(self._objects(device), sort_keys=True)

    def hand_made(self, device: str) -> list[str]:
        return [json.dumps(o, sort_keys=True) for o in self._objects(device) if OWNED not in (o.get("tags") or [])
                and not (o.get("visible") is False and _owned_primitive(o, self.server.deployed[device]))]

    def change_behind_our_back(self, device: str) -> None:
        zone = {"id": "sz-by-hand", "sz_type": "evpn", "label": "by-hand", "vrf_name": "BYHAND", "vni_id": 20500}
        for graph in (self.server.staging, self.server.deployed):
            graph[device]["security-zones"]["sz-by-hand"] = dict(zone)
        self.server.version[device] += 1
        self.server.deployed_version[device] = self.server.version[device]

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.name not in FIXTURE_FILES)

    def poison(self) -> None:
        self.server.poisoned = True


def _owned_primitive(primitive: dict[str, Any], graph: dict[str, dict[str, dict[str, Any]]]) -> bool:
    """A hidden primitive belongs to whichever visible template holds it."""
    return any(primitive["id"] in (t.get("attributes") or {}).get("subpolicies", []) and OWNED in (t.get("tags") or [])
               for t in graph["templates"].values())


HARNESS = ApstraHarness

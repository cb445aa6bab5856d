"""Contract fixture for the apstra driver: a fake Apstra server (tests/drivers/rest/fake_apstra.py) loaded
with data/contract/apstra/apstra-server.json, injected into each driver through `transport=`.

A device's configuration is its blueprint's deployed graph: what the switches run."""

from __future__ import annotations

import json
from typing import Any

from rest.controller_harness import ControllerHarness
from rest.fake_apstra import FakeApstraServer, apstra_error

from drivers.base import Driver

OWNED = "fabric-intent:contract"


class ApstraHarness(ControllerHarness):
    name = "apstra"
    fake_class = FakeApstraServer
    fake: FakeApstraServer

    def failing_driver(self, device: str) -> Driver:
        """Apstra refuses the deploy (the write that makes the staged changes live)."""
        return self._refusing_driver(
            device, lambda r: r.method == "PUT" and r.url.path.endswith("/deploy"),
            lambda: apstra_error(422, "Blueprint has build errors: deploy refused"))

    def _objects(self, device: str) -> list[dict[str, Any]]:
        graph = self.fake.deployed[device]
        return [{"collection": name, **obj} for name in sorted(graph) for _, obj in sorted(graph[name].items())]

    def configuration(self, device: str) -> str:
        return json.dumps(self._objects(device), sort_keys=True)

    def hand_made(self, device: str) -> list[str]:
        return [json.dumps(o, sort_keys=True) for o in self._objects(device) if OWNED not in (o.get("tags") or [])
                and not (o.get("visible") is False and _owned_primitive(o, self.fake.deployed[device]))]

    def change_behind_our_back(self, device: str) -> None:
        zone = {"id": "sz-by-hand", "sz_type": "evpn", "label": "by-hand", "vrf_name": "BYHAND", "vni_id": 20500}
        for graph in (self.fake.staging, self.fake.deployed):
            graph[device]["security-zones"]["sz-by-hand"] = dict(zone)
        self.fake.version[device] += 1
        self.fake.deployed_version[device] = self.fake.version[device]


def _owned_primitive(primitive: dict[str, Any], graph: dict[str, dict[str, dict[str, Any]]]) -> bool:
    """A hidden primitive belongs to whichever visible template holds it."""
    return any(primitive["id"] in (t.get("attributes") or {}).get("subpolicies", []) and OWNED in (t.get("tags") or [])
               for t in graph["templates"].values())


HARNESS = ApstraHarness

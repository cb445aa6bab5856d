"""Contract harness for the aci driver: the driver against a fake APIC (tests/drivers/fake_apic.py)
seeded from data/contract/aci/apic-state.json, injected as the httpx transport."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml
from driver_harness import DATA
from fake_apic import FakeApic, error_body

from drivers import registry
from drivers.base import Driver
from intent.inventory import FabricInventory, parse_inventory

A = "orchestrator:fabric-intent"
NODES = {"leaf-1": 101, "leaf-2": 102}


class AciHarness:
    name = "aci"

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "aci"
        self.root.mkdir()
        shutil.copy(DATA / "aci" / "fabric.yaml", self.root / "fabric.yaml")
        (self.root / "apic-password").write_text("fake-apic-password\n")
        self.inventory: FabricInventory = parse_inventory(yaml.safe_load((self.root / "fabric.yaml").read_text()),
                                                          "fabric.yaml")
        self.apic = FakeApic()
        self.apic.load(json.loads((DATA / "aci" / "apic-state.json").read_text())["imdata"])

    def _build(self, device: str, transport: httpx.BaseTransport) -> Driver:
        cls: Any = registry.get(self.name)
        return cls(self.inventory.switch(device), self.inventory, self.root, transport=transport, sleep=lambda _: None)

    def driver(self, device: str) -> Driver:
        return self._build(device, self.apic.transport)

    def failing_driver(self, device: str) -> Driver:
        def refuse_writes(request: httpx.Request) -> httpx.Response | None:
            if request.method == "POST" and request.url.path.startswith("/api/mo/"):
                return httpx.Response(400, json=error_body("801", "property maxPfx of uni/tn-k8s failed validation"))
            return None
        return self._build(device, httpx.MockTransport(lambda request: refuse_writes(request)
                                                       or self.apic.handle(request)))

    def _mine(self, device: str) -> dict[str, Any]:
        profile = f"/lnodep-k8s-leaf-{NODES[device]}"
        return {dn: v for dn, v in sorted(self.apic.mos.items()) if profile in dn or f".{device}" in dn}

    def configuration(self, device: str) -> str:
        return json.dumps(self._mine(device), sort_keys=True)

    def hand_made(self, device: str) -> list[str]:
        return [json.dumps([dn, cls, attrs], sort_keys=True) for dn, (cls, attrs) in self._mine(device).items()
                if attrs.get("annotation") != A and cls != "tagAnnotation"]

    def change_behind_our_back(self, device: str) -> None:
        node = (f"uni/tn-k8s/out-k8s-default/lnodep-k8s-leaf-{NODES[device]}"
                f"/rsnodeL3OutAtt-[topology/pod-1/node-{NODES[device]}]")
        self.apic.load([{"ipRouteP": {"attributes": {"dn": f"{node}/rt-[203.0.113.0/24]", "ip": "203.0.113.0/24",
                                                     "descr": "added by hand during the change window"},
                                      "children": [{"ipNexthopP": {"attributes": {"nhAddr": "192.0.2.1"}}}]}}])

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.name not in ("fabric.yaml", "apic-password"))

    def poison(self) -> None:
        self.apic.poisoned = True


HARNESS = AciHarness

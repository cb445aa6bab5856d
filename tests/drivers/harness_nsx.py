"""Contract fixture for the nsx driver: a fake NSX manager (tests/drivers/rest/fake_nsx.py) loaded with
data/contract/nsx/nsx-manager.json, injected into each driver through `transport=`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml
from driver_harness import DATA
from rest.fake_nsx import FakeNsxManager, nsx_error

from drivers import registry
from drivers.base import Driver
from drivers.rest.nsx_translate import is_owned
from intent.inventory import FabricInventory, parse_inventory

FIXTURE_FILES = ("fabric.yaml", "nsx-manager.json", "nsx-password")


class NsxHarness:
    name = "nsx"

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "nsx"
        shutil.copytree(DATA / "nsx", self.root)
        (self.root / "nsx-password").write_text(FakeNsxManager.PASSWORD + "\n")
        self.inventory: FabricInventory = parse_inventory(yaml.safe_load((self.root / "fabric.yaml").read_text()),
                                                          "fabric.yaml")
        self.manager = FakeNsxManager.load(self.root / "nsx-manager.json")

    def _build(self, device: str, manager: Any) -> Driver:
        return registry.get(self.name)(self.inventory.switch(device), self.inventory, self.root,
                                       transport=manager.transport, sleep=lambda _s: None)

    def driver(self, device: str) -> Driver:
        return self._build(device, self.manager)

    def failing_driver(self, device: str) -> Driver:
        """NSX refuses the hierarchical PATCH (its transaction aborted): nothing of it is applied."""
        failing = _RefusingManager(self.manager)
        return self._build(device, failing)

    def configuration(self, device: str) -> str:
        return json.dumps(self.manager.under(device), sort_keys=True)

    def hand_made(self, device: str) -> list[str]:
        scope = registry.get(self.name)(self.inventory.switch(device), self.inventory, self.root).scope  # type: ignore[attr-defined]
        return [json.dumps(o, sort_keys=True) for o in self.manager.under(device).values() if not is_owned(o, scope)]

    def change_behind_our_back(self, device: str) -> None:
        path = f"/infra/tier-0s/{device}/static-routes/added-by-hand"
        self.manager.objects[path] = {
            "resource_type": "StaticRoutes", "id": "added-by-hand", "display_name": "added during the change window",
            "network": "203.0.113.0/24", "next_hops": [{"ip_address": "192.0.2.1", "admin_distance": 1}],
            "path": path, "parent_path": f"/infra/tier-0s/{device}", "_revision": 0}

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.name not in FIXTURE_FILES)

    def poison(self) -> None:
        self.manager.poisoned = True


class _RefusingManager:
    """The same manager, but the hierarchical PATCH is refused with NSX's transaction-aborted error."""

    def __init__(self, manager: FakeNsxManager) -> None:
        self.manager = manager
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH" and request.url.path == "/policy/api/v1/infra":
            return nsx_error(500, 607, "The transaction was aborted, please retry the operation.")
        return self.manager.handle(request)


HARNESS = NsxHarness

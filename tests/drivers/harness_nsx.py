"""Contract fixture for the nsx driver: a fake NSX manager (tests/drivers/rest/fake_nsx.py) loaded with
data/contract/nsx/nsx-manager.json, injected into each driver through `transport=`."""

from __future__ import annotations

import json

from rest.controller_harness import ControllerHarness
from rest.fake_nsx import FakeNsxManager, nsx_error

from drivers import registry
from drivers.base import Driver
from drivers.rest.nsx_translate import is_owned


class NsxHarness(ControllerHarness):
    name = "nsx"
    fake_class = FakeNsxManager
    fake: FakeNsxManager

    def failing_driver(self, device: str) -> Driver:
        """NSX refuses the hierarchical PATCH (its transaction aborted): nothing of it is applied."""
        return self._refusing_driver(
            device, lambda r: r.method == "PATCH" and r.url.path == "/policy/api/v1/infra",
            lambda: nsx_error(500, 607, "The transaction was aborted, please retry the operation."))

    def configuration(self, device: str) -> str:
        return json.dumps(self.fake.under(device), sort_keys=True)

    def hand_made(self, device: str) -> list[str]:
        scope = registry.get(self.name)(self.inventory.switch(device), self.inventory, self.root).scope  # type: ignore[attr-defined]
        return [json.dumps(o, sort_keys=True) for o in self.fake.under(device).values() if not is_owned(o, scope)]

    def change_behind_our_back(self, device: str) -> None:
        path = f"/infra/tier-0s/{device}/static-routes/added-by-hand"
        self.fake.objects[path] = {
            "resource_type": "StaticRoutes", "id": "added-by-hand", "display_name": "added during the change window",
            "network": "203.0.113.0/24", "next_hops": [{"ip_address": "192.0.2.1", "admin_distance": 1}],
            "path": path, "parent_path": f"/infra/tier-0s/{device}", "_revision": 0}


HARNESS = NsxHarness

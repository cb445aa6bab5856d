"""The driver-contract harness for the EOS and NX-OS drivers: fake switches loaded from data files.

Each device of data/ssh/<platform>/contract/fabric.yaml is a fake switch whose running configuration
starts as <device>.cfg; drivers reach it through their `connect=` seam, one login per call. The NetworkPolicy
tests of both platforms share one cluster, data/ssh/nxos/policy/cluster/, compiled for leaf-1.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import yaml
from fake_device import FakeSwitch, hand_made_lines, parse_tree

from drivers import registry
from drivers.base import Driver
from drivers.ssh.cli_common import CliDriver, ConnectionFactory, held_form
from intent.inventory import FabricInventory, parse_inventory
from intent.model import AddressGroup, DeviceObject
from intent.plan import DevicePlan
from intent.policy.compiler import compile_policies
from intent.policy.placement import device_objects
from reconciler.files import load_cluster

DATA = Path(__file__).resolve().parent.parent / "data" / "ssh"
POLICY_CLUSTER = DATA / "nxos" / "policy" / "cluster"
_NEW_API_POD = """---
apiVersion: v1
kind: Pod
metadata: {name: api-2, namespace: shop, labels: {app: api}}
spec: {nodeName: worker-1, containers: [{name: api, image: api}]}
status: {phase: Running, podIP: 10.244.1.21}
"""


class FakeSwitchHarness:
    """Harness protocol of tests/drivers/driver_harness.py over fake switches."""

    name: ClassVar[str]
    fake: ClassVar[type[FakeSwitch]]

    def __init__(self, tmp_path: Path) -> None:
        source = DATA / self.name / "contract"
        self.root = tmp_path / self.name
        self.root.mkdir()
        text = (source / "fabric.yaml").read_text(encoding="utf-8")
        (self.root / "fabric.yaml").write_text(text, encoding="utf-8")
        self.inventory: FabricInventory = parse_inventory(yaml.safe_load(text), "fabric.yaml")
        self.switches = {s.name: self.fake(s.name, (source / f"{s.name}.cfg").read_text(encoding="utf-8"))
                         for s in self.inventory.switches}
        self.poisoned = False

    def _build(self, device: str, **connect: Any) -> Driver:
        def login() -> Any:
            if self.poisoned:
                raise OSError(113, "No route to host")
            return self.switches[device].connect(**connect)
        return build(self.name, device, self.inventory, self.root, login)

    def driver(self, device: str) -> Driver:
        return self._build(device)

    def failing_driver(self, device: str) -> Driver:
        return self._build(device, fail_commit=True)

    def configuration(self, device: str) -> str:
        return self.switches[device].config_text()

    def hand_made(self, device: str) -> list[str]:
        switch = self.switches[device]
        return hand_made_lines(switch.config_text(), switch.grammar.indent)

    def change_behind_our_back(self, device: str) -> None:
        self.switches[device].running.children += parse_tree("ip route 203.0.113.0/24 192.0.2.1 tag 7",
                                                             FakeSwitch.decoration).children

    def leftovers(self) -> list[str]:
        return [f"{name}: {left}" for name, switch in self.switches.items() for left in switch.leftovers()]

    def poison(self) -> None:
        self.poisoned = True


def inventory_for(platform: str, **extra: Any) -> FabricInventory:
    """The contract inventory of `platform`, with top-level fields replaced by `extra`."""
    data = yaml.safe_load((DATA / platform / "contract" / "fabric.yaml").read_text(encoding="utf-8"))
    return parse_inventory({**data, **extra}, "fabric.yaml")


def build(platform: str, device: str, inventory: FabricInventory, base_dir: Path,
          connect: ConnectionFactory) -> CliDriver:
    """The registered `platform` driver for `device`, connecting through `connect`."""
    cls = registry.get(platform)
    assert issubclass(cls, CliDriver), f"{platform} is not an SSH CLI driver"
    return cls(inventory.switch(device), inventory, base_dir, connect=connect)


def driver_on(switch: FakeSwitch, inventory: FabricInventory, base_dir: Path, **connect: Any) -> CliDriver:
    """A driver for the fake switch's device, logging in to it through the `connect=` seam."""
    return build(switch.grammar.name, switch.hostname, inventory, base_dir, lambda: switch.connect(**connect))


def policy_objects(cluster: Path = POLICY_CLUSTER) -> list[DeviceObject]:
    """The address groups and policy rules the cluster's NetworkPolicies compile to on leaf-1."""
    groups, rules = device_objects(compile_policies(load_cluster(cluster)), "leaf-1")
    return [*groups, *rules]


def plan_pod_churn(switch: FakeSwitch, tmp_path: Path) -> tuple[CliDriver, list[DeviceObject], DevicePlan]:
    """The switch's driver after applying the rule set, the objects of the cluster with a second shop/api pod
    (10.244.1.21), and their plan: checked to update the pod's group and the isolated group only."""
    driver = policy_driver(switch, tmp_path)
    driver.apply(driver.plan(policy_objects(), driver.observe())).raise_on_error()
    cluster = tmp_path / "cluster"
    shutil.copytree(POLICY_CLUSTER, cluster)
    (cluster / "api-2.yaml").write_text(_NEW_API_POD, encoding="utf-8")
    wanted = policy_objects(cluster)
    plan = driver.plan(wanted, driver.observe())
    assert [(c.action, c.key) for c in plan.changes] == [
        ("update", "address-group:leaf-1:FI-G-c9f4643a3c"), ("update", "address-group:leaf-1:FI-ISOLATED-OUT")]
    return driver, wanted, plan


def policy_driver(switch: FakeSwitch, tmp_path: Path, **options: Any) -> CliDriver:
    """The fake switch's driver, enforcing policy on Vlan100 unless `options` say otherwise."""
    platform = switch.grammar.name
    spec = {"name": "leaf-1", "role": "leaf", "driver": platform, "asn": 65101, "management": {"host": "127.0.0.1"},
            "options": {"policy_interfaces": ["Vlan100"], **options}}
    driver = driver_on(switch, inventory_for(platform, switches=[spec]), tmp_path)
    assert driver.name == platform
    return driver


def held(objects: list[DeviceObject]) -> dict[str, dict[str, Any]]:
    """The objects' configuration as the switch holds it (address groups in `held_form`), by key."""
    return {o.key: (held_form(o) if isinstance(o, AddressGroup) else o).config() for o in objects}

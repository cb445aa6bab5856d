"""The driver contract on real FRR: two lab switches (leaf-1, leaf-2), each FRR in its own network
namespace with its own sshd on 127.0.0.1, driven over SSH exactly as in production.

The switches start once per test process (the first harness built starts them; they are torn down
at exit, even after failures) and every harness resets them to data/contract/frr/<device>.conf on
top of their own base configuration, with FRR's frr-reload.py. Needs root and FRR: skipped otherwise,
except where FABRIC_INTENT_LAB=require (CI): there a missing prerequisite fails the tests.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers import registry
from drivers.base import Driver
from drivers.ssh.frr_parse import canonical, config_lines
from drivers.ssh.session import ChannelResult, SshSession, open_connection
from intent.inventory import FabricInventory, parse_inventory

LAB = Path(__file__).resolve().parents[2] / "samples" / "lab"
DATA = Path(__file__).resolve().parent / "data" / "contract" / "frr"
GATEWAYS = {"leaf-1": ("192.168.1.1/24", 65101), "leaf-2": ("192.168.2.1/24", 65102)}
FRR_RELOAD = Path("/usr/lib/frr/frr-reload.py")
ROUTE_TAG = 64512


def lab_missing() -> str | None:
    """Why FRR lab switches cannot run here, or None."""
    if os.geteuid() != 0:
        return "FRR lab switches need root (network namespaces, users, sshd)"
    for tool in ("vtysh", "/usr/lib/frr/frrinit.sh", "/usr/sbin/sshd", "ip", "sudo", str(FRR_RELOAD)):
        if shutil.which(tool) is None and not Path(tool).exists():
            return f"FRR lab switches need {tool} (apt-get install frr frr-pythontools openssh-server iproute2 sudo)"
    return None


def _meaning(lines: list[str]) -> dict[str, set[str]]:
    """Configuration as FRR understands it: blocks with the same header merged, lines in any order."""
    merged: dict[str, set[str]] = {}
    for block in canonical(lines):
        head, *children = block.split("\n")
        merged.setdefault(head, set()).update(c.strip() for c in children if c.strip() != "!")
    return merged


class Lab:
    """Lone lab switches for one test process, started on first use."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self.workdir = Path(tempfile.mkdtemp(prefix="fi-frr-contract-"))
        self._stack.callback(shutil.rmtree, self.workdir, True)
        self.switches: dict[str, Any] = {}
        self.base: dict[str, list[str]] = {}

    def switch(self, name: str, login: str = "vtysh") -> Any:
        key = name if login == "vtysh" else f"{name}/{login}"
        if key not in self.switches:
            if str(LAB) not in sys.path:
                sys.path.insert(0, str(LAB))
            from fabric_lab import lone_switch
            gateway, asn = GATEWAYS.get(name, ("192.168.1.1/24", 65101))
            access = self._stack.enter_context(lone_switch(name, login=login, workdir=self.workdir, asn=asn,  # type: ignore[arg-type]
                                                           node_gateway=gateway))
            self.switches[key] = access
            self.base[key] = config_lines(access.vtysh("show running-config"))
        return self.switches[key]

    def reset(self, name: str, fixture: str, login: str = "vtysh") -> None:
        """Make the switch hold its base configuration plus `fixture`, whatever it holds now."""
        access = self.switch(name, login)
        key = name if login == "vtysh" else f"{name}/{login}"
        target = self.workdir / f"{access.netns}.target.conf"
        target.write_text("\n".join(self.base[key]) + "\n!\n" + fixture + "\n")
        for _ in range(3):  # frr-reload.py sometimes needs a second pass (a BGP VRF instance before its parent)
            done = subprocess.run([str(FRR_RELOAD), "--reload", "-N", access.netns, str(target)], capture_output=True,
                                  text=True, timeout=60)
            if _meaning(running(access)) == _meaning(config_lines(target.read_text())):
                return
        raise RuntimeError(f"frr-reload.py could not reset {name}: {(done.stdout + done.stderr)[-2000:]}")

    def close(self) -> None:
        self._stack.close()


_LAB: Lab | None = None


def lab() -> Lab:
    global _LAB
    reason = lab_missing()
    if reason:
        (pytest.fail if os.environ.get("FABRIC_INTENT_LAB") == "require" else pytest.skip)(reason)
    if _LAB is None:
        _LAB = Lab()
        atexit.register(_LAB.close)
    return _LAB


def running(access: Any) -> list[str]:
    return config_lines(access.vtysh("show running-config"))


def hand_made_blocks(lines: list[str]) -> list[str]:
    """The configuration fabric-intent does not own, told apart by the markers alone (no driver code)."""
    result = []
    for block in canonical(lines):
        head, *children = block.split("\n")
        if re.match(rf"^ipv?6? route .* tag {ROUTE_TAG}\b", head) or re.match(r"^(ipv?6? prefix-list|route-map) FI-",
                                                                               head):
            continue
        ours = {m.group(1) for c in children if (m := re.match(r"^ neighbor (\S+) description fabric-intent:", c))}
        kept = [c for c in children if not (re.search(rf" tag {ROUTE_TAG}\b", c) or "route-map FI-" in c
                                            or any(c.strip().startswith(f"neighbor {n} ") for n in ours))]
        substance = [c for c in kept if c.strip() not in ("!", "exit", "exit-vrf", "exit-address-family")
                     and not c.strip().startswith("address-family")]
        if substance or not children:
            result.append("\n".join([head, *kept]))
    return result


class RefuseLastLine:
    """A session on which vtysh refuses the last line of the first batch (a line FRR does not know).

    Everything before it has taken effect by then: vtysh has no rollback, so the driver must compensate.
    """

    def __init__(self, session: SshSession) -> None:
        self.session = session
        self.batches = 0

    def run(self, command: str | None, stdin: str = "", *, timeout: float = 60.0) -> ChannelResult:
        if "XFRR_end_configuration" in stdin:
            self.batches += 1
            if self.batches == 1:
                stdin = stdin.replace("XFRR_end_configuration", "fabric-intent-refused-line\nXFRR_end_configuration")
        return self.session.run(command, stdin, timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


class FrrHarness:
    """The frr driver on lab switches leaf-1 and leaf-2, reset to the contract fixture."""

    name = "frr"

    def __init__(self, tmp_path: Path) -> None:
        self.lab = lab()
        self.root = tmp_path / "frr"
        self.root.mkdir()
        switches = []
        for device in ("leaf-1", "leaf-2"):
            access = self.lab.switch(device)
            shutil.copy(access.known_hosts, self.root / f"{device}.known_hosts")
            switches.append(access.inventory_switch(options={"known_hosts": f"{device}.known_hosts"}))
            self.lab.reset(device, (DATA / f"{device}.conf").read_text())
        document = {"fabric": "contract-lab", "cluster": "contract", "vrf": "BLUE", "switches": switches}
        (self.root / "fabric.yaml").write_text(yaml.safe_dump(document))
        self.inventory: FabricInventory = parse_inventory(document, "fabric.yaml")

    def _build(self, device: str, **seams: Any) -> Driver:
        return registry.get(self.name)(self.inventory.switch(device), self.inventory, self.root, **seams)

    def driver(self, device: str) -> Driver:
        return self._build(device)

    def failing_driver(self, device: str) -> Driver:
        switch = self.inventory.switch(device)
        return self._build(device, connect=lambda: RefuseLastLine(
            open_connection(switch, self.inventory, self.root, device_type="cisco_ios")))

    def configuration(self, device: str) -> str:
        return "\n".join(canonical(running(self.lab.switch(device))))

    def hand_made(self, device: str) -> list[str]:
        return hand_made_blocks(running(self.lab.switch(device)))

    def change_behind_our_back(self, device: str) -> None:
        self.lab.switch(device).vtysh("configure terminal", "ip route 203.0.113.0/24 192.0.2.1 tag 7")

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.suffix not in (".yaml", ".known_hosts"))

    def poison(self) -> None:
        for path in self.root.glob("*.known_hosts"):
            path.write_text("# no trusted host keys: any later connection is refused\n")


HARNESS = FrrHarness

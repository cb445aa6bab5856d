"""One lab switch: an FRR instance in its namespace, reachable over its own sshd on 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lab_frr
import lab_ssh
from lab_host import Ledger, run, wait_for


@dataclass(frozen=True)
class SwitchAccess:
    """How to reach one lab switch: over SSH as a driver does, or directly as a test asserting on it."""

    name: str
    netns: str
    host: str
    port: int
    username: str
    key_file: Path
    known_hosts: Path
    password_file: Path | None = None
    login: lab_ssh.Login = "vtysh"
    asn: int | None = None
    loopback: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def vtysh(self, *commands: str) -> str:
        """Run vtysh commands inside the switch directly (as root, not over SSH)."""
        return lab_frr.vtysh(self.netns, *commands)

    def kernel_routes(self) -> list[str]:
        """`ip route` of the switch's namespace, one route a line."""
        return [line.strip() for line in run("ip", "-n", self.netns, "route").splitlines() if line.strip()]

    def inventory_switch(self, *, role: str = "leaf", driver: str = "frr", **extra: Any) -> dict[str, Any]:
        """This switch's entry in a fabric inventory (key authentication; `extra` adds or replaces fields)."""
        entry: dict[str, Any] = {
            "name": self.name, "role": role, "driver": driver, "platform": "frr",
            "management": {"host": self.host, "port": self.port},
            "credentials": {"username": self.username, "private_key": {"file": str(self.key_file)}},
        }
        if self.asn is not None:
            entry["asn"] = self.asn
        if self.loopback is not None:
            entry["loopback"] = self.loopback
        if self.options:
            entry["options"] = dict(self.options)
        return {**entry, **extra}


def start_switch(ledger: Ledger, *, name: str, netns: str, rundir: Path, config: str, login: lab_ssh.Login,
                 client_key: Path, port: int, nft: bool = False) -> tuple[str, str]:
    """Start FRR in `netns` (which must exist), a login user and an sshd; returns (username, known_hosts line).

    `nft` lets the (bash) login user run `sudo nft` in the switch's namespace."""
    ledger.claim("path", rundir.exists(), str(rundir), path=str(rundir))
    rundir.mkdir(parents=True, exist_ok=True)
    rundir.chmod(0o755)
    inst = lab_frr.Instance(pathspace=netns, hostname=name)
    ledger.claim("frr", lab_frr.taken(inst), f"FRR instance {netns}", pathspace=netns, hostname=name)
    lab_frr.write_instance(inst, config, rundir / "uts-wrap")
    lab_frr.start(inst)
    user = netns
    lab_ssh.add_login_user(ledger, user, rundir, netns, login, nft=nft)
    line = lab_ssh.start_sshd(ledger, rundir / "sshd", user, port, Path(f"{client_key}.pub").read_text())
    return user, line


def wait_configured(netns: str, timeout: float = 30) -> float:
    """Wait until the instance has loaded its startup configuration (watchfrr runs `vtysh -b`)."""
    return wait_for(f"FRR in {netns} to load its configuration",
                    lambda: "router bgp" in _running(netns), timeout=timeout, every=0.2)


def _running(netns: str) -> str:
    try:
        return lab_frr.vtysh(netns, "show running-config")
    except Exception:
        return ""

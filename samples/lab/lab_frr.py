"""FRR instances, one per network namespace, and the configurations the lab starts them with.

FRR's pathspace (`-N NAME`) keeps each instance's files apart: /etc/frr/NAME, /var/run/frr/NAME.
`watchfrr --netns` runs the daemons in the namespace of the same name; `watchfrr_wrap` puts them in
a UTS namespace of their own so that each switch answers with its own hostname (FRR 8.4 daemons
take the hostname from uname(), not from `hostname` in frr.conf).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from lab_host import LabError, kill_pid, pids_matching, remove_path, run, write_file

FRRINIT = "/usr/lib/frr/frrinit.sh"
ETC, RUN, LOG = Path("/etc/frr"), Path("/var/run/frr"), Path("/var/log/frr")

UTS_WRAP = """#!/bin/sh
# Run FRR's watchfrr (and so its daemons) in a UTS namespace whose hostname is the switch's name.
name=$1; shift
exec unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$name" "$@"
"""


@dataclass(frozen=True)
class Instance:
    """One FRR instance: its pathspace (= its network namespace) and the hostname it answers with."""

    pathspace: str
    hostname: str

    @property
    def etc(self) -> Path:
        return ETC / self.pathspace

    @property
    def log_file(self) -> Path:
        return LOG / f"{self.pathspace}.log"


def daemons_file(wrap: Path, hostname: str) -> str:
    return "\n".join([
        "bgpd=yes", "vtysh_enable=yes",
        'zebra_options="  -A 127.0.0.1 -s 90000000"', 'bgpd_options="   -A 127.0.0.1"',
        'staticd_options="-A 127.0.0.1"',
        'watchfrr_options="--netns"', 'frr_profile="datacenter"', f'watchfrr_wrap="{wrap} {hostname}"', ""])


def write_instance(inst: Instance, config: str, wrap: Path) -> None:
    """The instance's /etc/frr/NAME: daemons, vtysh.conf (prompt hostname) and frr.conf."""
    if not wrap.exists():
        write_file(wrap, UTS_WRAP, 0o755)
    run("install", "-d", "-o", "frr", "-g", "frr", "-m", "0750", str(inst.etc))
    files = {"daemons": daemons_file(wrap, inst.hostname),
             "vtysh.conf": f"service integrated-vtysh-config\nhostname {inst.hostname}\n",
             "frr.conf": config}
    for name, text in files.items():
        path = write_file(inst.etc / name, text, 0o640)
        shutil.chown(path, "frr", "frr")


def taken(inst: Instance) -> bool:
    """Whether the pathspace is in use (files or runtime directory), so the lab must not take it over."""
    return inst.etc.exists() or (RUN / inst.pathspace).exists()


def start(inst: Instance) -> None:
    run(FRRINIT, "start", inst.pathspace, timeout=60)


def stop(inst: Instance) -> None:
    """Stop the instance, kill anything of it left, and remove its files (all safe to repeat)."""
    # watchfrr first (it would restart the daemons), then all daemons at once: a second, where
    # `frrinit.sh stop` takes five (it stops the daemons one after the other).
    for pid in pids_matching("/usr/lib/frr/watchfrr", f"-N {inst.pathspace} "):
        kill_pid(pid)
    daemons = pids_matching("/usr/lib/frr/", f"-N {inst.pathspace} ")
    for pid in daemons:
        _terminate(pid)
    for pid in daemons:
        kill_pid(pid)
    for path in (inst.etc, RUN / inst.pathspace, inst.log_file):
        remove_path(path)


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def vtysh(pathspace: str, *commands: str) -> str:
    """Run vtysh commands on an instance as root (each `-c` in order; config lines after `configure`)."""
    args = ["vtysh", "-N", pathspace]
    for command in commands:
        args += ["-c", command]
    return run(*args)


def bgp_established(pathspace: str, peers: int) -> bool:
    """True once at least `peers` IPv4 unicast sessions are Established."""
    try:
        summary = json.loads(vtysh(pathspace, "show bgp ipv4 unicast summary json") or "{}")
    except (LabError, ValueError):
        return False
    states = [p.get("state") for p in summary.get("peers", {}).values()]
    return states.count("Established") >= peers


# --- configurations -----------------------------------------------------------------------------

def _header(inst: Instance) -> list[str]:
    return ["frr defaults datacenter", f"hostname {inst.hostname}", f"log file {inst.log_file} informational",
            "service integrated-vtysh-config", "!"]


def fabric_switch_config(inst: Instance, asn: int, loopback: str, uplinks: list[str]) -> str:
    """A spine or leaf: unnumbered eBGP on its fabric ports, announcing its connected subnets."""
    lines = _header(inst) + ["interface lo", f" ip address {loopback}/32", "exit", "!",
                             f"router bgp {asn}", f" bgp router-id {loopback}", " bgp bestpath as-path multipath-relax",
                             " neighbor fabric peer-group", " neighbor fabric remote-as external"]
    lines += [f" neighbor {port} interface peer-group fabric" for port in uplinks]
    lines += [" address-family ipv4 unicast", "  redistribute connected", " exit-address-family", "exit", ""]
    return "\n".join(lines)


def node_config(inst: Instance, asn: int, router_id: str, leaf_ip: str, leaf_asn: int, pod_cidr: str) -> str:
    """A Kubernetes node's own BGP speaker, as Calico or kube-router run it: it announces its podCIDR."""
    lines = _header(inst) + [
        f"router bgp {asn}", f" bgp router-id {router_id}", f" neighbor {leaf_ip} remote-as {leaf_asn}",
        f" neighbor {leaf_ip} description leaf", " address-family ipv4 unicast", f"  network {pod_cidr}",
        " exit-address-family", "exit", ""]
    return "\n".join(lines)


def minimal_config(inst: Instance, asn: int, loopback: str) -> str:
    """A lone switch: a loopback and an empty BGP process, ready for a driver to configure."""
    return fabric_switch_config(inst, asn, loopback, [])

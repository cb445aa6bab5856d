"""Host plumbing for the lab: commands, network namespaces, login users, processes, and the ledger.

The ledger is a JSON file listing everything the lab created, written *before* each thing is
created, so that tear-down is exact (it removes only what is listed) and idempotent (removing what
is already gone is not an error), even after a bring-up that failed half way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class LabError(RuntimeError):
    """A lab step failed; the message names the command and what it printed."""


def run(*args: str, input: str | None = None, netns: str | None = None, check: bool = True,
        timeout: float = 60) -> str:
    """Run a command (inside `netns` if given) and return its stdout; LabError on failure."""
    argv = (["ip", "netns", "exec", netns] if netns else []) + list(args)
    try:
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"`{' '.join(argv)}` failed: {exc}") from exc
    if check and done.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` exited {done.returncode}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


#: What the lab runs, and the Debian package that brings it.
TOOLS = {"ip": "iproute2", "unshare": "util-linux", "useradd": "passwd", "vtysh": "frr",
         "/usr/lib/frr/frrinit.sh": "frr", "/usr/sbin/sshd": "openssh-server", "ssh-keygen": "openssh-client",
         "/usr/lib/cni/bridge": "containernetworking-plugins", "/usr/lib/cni/host-local": "containernetworking-plugins",
         "ping": "iputils-ping", "nft": "nftables", "sudo": "sudo", "visudo": "sudo"}


def preflight() -> None:
    """The lab needs root and its tools; say which packages are missing."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, FRR, sshd, login users)")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if not (shutil.which(tool) or Path(tool).exists())})
    if missing:
        raise LabError(f"missing tools; install them with: apt-get install {' '.join(missing)}")


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 30, every: float = 0.1) -> float:
    """Poll `probe` until it holds; returns the seconds it took, LabError after `timeout`."""
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > timeout:
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - start


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_file(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# --- network namespaces -------------------------------------------------------------------------

def netns_exists(name: str) -> bool:
    return Path("/var/run/netns", name).exists()


def add_netns(name: str, *, forwarding: bool = False) -> None:
    """A namespace with `lo` up; a router one forwards and does no reverse-path filtering."""
    run("ip", "netns", "add", name)
    run("ip", "-n", name, "link", "set", "lo", "up")
    if forwarding:  # written under /proc/sys directly: the sysctl tool (procps) may not be installed
        settings = {"net/ipv4/ip_forward": 1, "net/ipv6/conf/all/forwarding": 1, "net/ipv4/conf/all/rp_filter": 0,
                    "net/ipv4/conf/default/rp_filter": 0}
        script = "; ".join(f"echo {value} > /proc/sys/{key}" for key, value in settings.items())
        run("sh", "-c", script, netns=name)


def delete_netns(name: str) -> None:
    """Kill whatever still runs in the namespace, then delete it (nothing to do if it is gone)."""
    if not netns_exists(name):
        return
    for pid in run("ip", "netns", "pids", name, check=False).split():
        kill_pid(int(pid))
    run("ip", "netns", "del", name, check=False)


def netns_list() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()]


# --- processes ----------------------------------------------------------------------------------

def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_pid(pid: int, timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL after `timeout`; a process already gone is fine."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return
            time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def pids_matching(*fragments: str) -> list[int]:
    """Live processes whose command line contains every fragment."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and all(f in cmdline(int(entry.name)) for f in fragments):
            if not _is_zombie(int(entry.name)):
                found.append(int(entry.name))
    return found


# --- login users --------------------------------------------------------------------------------

def add_user(name: str, *, shell: str, home: Path, groups: Sequence[str] = ()) -> None:
    """A login user without a usable password hash ('*': not locked, so key login works with UsePAM no)."""
    args = ["useradd", "-M", "-d", str(home), "-s", shell, "-p", "*"]
    if groups:
        args += ["-G", ",".join(groups)]
    _retry_on_lock(args + [name])


def user_exists(name: str) -> bool:
    return bool(run("getent", "passwd", name, check=False).strip())


def delete_user(name: str) -> None:
    """Kill the user's processes (sshd sessions, vtysh), then delete the user; gone already is fine."""
    entry = run("getent", "passwd", name, check=False).strip()
    if not entry:
        return
    uid = entry.split(":")[2]
    for pid in _pids_of_uid(uid):
        kill_pid(pid)
    _retry_on_lock(["userdel", name])


def _pids_of_uid(uid: str) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*/status"):
        try:
            uid_line = next(line for line in entry.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if uid_line.split()[1] == uid:
            found.append(int(entry.parent.name))
    return found


def _retry_on_lock(argv: list[str]) -> None:
    """useradd/userdel exit 10 while another process holds the passwd lock: try again for a while."""
    for _ in range(50):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode == 0:
            return
        if done.returncode != 10 and "lock" not in done.stderr:
            raise LabError(f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()}")
        time.sleep(0.1)
    raise LabError(f"`{' '.join(argv)}`: /etc/passwd stayed locked")


# --- the ledger ---------------------------------------------------------------------------------

class Ledger:
    """What the lab created, in order, kept in a JSON file so another process can undo it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []

    def record(self, kind: str, **fields: Any) -> None:
        """Note a thing about to be created (before creating it: a crash half way is still undone)."""
        self.entries.append({"kind": kind, **fields})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(self.entries, indent=1))
        scratch.replace(self.path)

    def claim(self, kind: str, taken: bool, what: str, **fields: Any) -> None:
        """`record`, refusing a thing that exists already: it is not this lab's, and tear-down must not touch it."""
        if taken:
            raise LabError(f"{what} exists already and is not this lab's; remove it or choose another lab name")
        self.record(kind, **fields)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["kind"] == kind]


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):  # gone, or never made (a parent is not a folder)
            pass

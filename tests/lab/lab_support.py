"""A running lab as the end-to-end tests see it: the `lab` command, the fabric-intent CLI, and probes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LAB_DIR = Path(__file__).resolve().parents[2] / "samples" / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

import lab_probe  # noqa: E402  (samples/lab is not a package: it is put on the path just above)
from lab_probe import Endpoint  # noqa: E402

TOOLS = ("ip", "vtysh", "/usr/lib/frr/frrinit.sh", "/usr/lib/frr/watchfrr", "/usr/sbin/sshd", "ssh-keygen",
         "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "ping", "nft", "sudo", "visudo", "unshare", "useradd")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if not (shutil.which(tool) or Path(tool).exists())]


def lab_name() -> str:
    """A fresh lab name: the prefix of the lab's namespaces and users, unlike any other lab's."""
    return f"t{secrets.token_hex(2)}"


def _env() -> dict[str, str]:
    """This interpreter first on PATH, so the `lab` command's python3 has what fabric-intent has (PyYAML)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}


def lab_command(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(LAB_DIR / "lab"), *args], capture_output=True, text=True, env=_env(), timeout=180)
    if check and done.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def fabric_intent(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `fabric-intent` command line, in a child process."""
    code = "from reconciler.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=180)


def system_view(name: str) -> list[str]:
    """Everything of lab `name` the system still holds: namespaces, users, processes, files."""
    prefix = f"{name}-"
    found = [f"netns {n}" for n in os.listdir("/var/run/netns") if n.startswith(prefix)] if Path(
        "/var/run/netns").exists() else []
    found += [f"user {line.split(':')[0]}" for line in Path("/etc/passwd").read_text().splitlines()
              if line.startswith(prefix)]
    found += [f"file {p}" for root in ("/etc/frr", "/var/run/frr", "/var/log/frr", "/etc/sudoers.d")
              for p in Path(root).glob(f"{prefix}*")]
    found += [f"file {p}" for p in Path("/run").glob(f"fi-lab-{name}*")]
    found += [f"process {pid}: {cmd}" for pid, cmd in _processes()
              if f"-N {prefix}" in cmd or f"/fi-lab-{name}/" in cmd]
    return found


def _processes() -> Iterator[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd:
                yield int(entry.name), cmd


@dataclass
class RunningLab:
    """One lab brought up by `samples/lab/lab up` under a name of its own."""

    name: str
    mode: str
    out: Path
    up_seconds: float

    @property
    def fabric(self) -> Path:
        return self.out / "fabric.yaml"

    @property
    def cluster(self) -> Path:
        return self.out / "cluster"

    def netns(self, member: str) -> str:
        return f"{self.name}-{member}"

    def documents(self, kind: str) -> dict[str, Any]:
        return dict(yaml.safe_load((self.cluster / f"{kind}.yaml").read_text()))

    def snapshot_without(self, node: str, folder: Path) -> Path:
        """A copy of the lab's snapshot in `folder` from which `node` and its pods are gone."""
        shutil.copytree(self.cluster, folder)
        for kind, field in (("nodes", ("metadata", "name")), ("pods", ("spec", "nodeName"))):
            document = self.documents(kind)
            document["items"] = [o for o in document["items"] if o[field[0]][field[1]] != node]
            (folder / f"{kind}.yaml").write_text(yaml.safe_dump(document))
        return folder

    def pods(self) -> list[Endpoint]:
        return lab_probe.endpoints([self.documents("pods")])

    def vtysh(self, member: str, *commands: str) -> str:
        args = ["vtysh", "-N", self.netns(member)]
        for command in commands:
            args += ["-c", command]
        return subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout

    def vtysh_json(self, member: str, command: str) -> Any:
        return json.loads(self.vtysh(member, command) or "{}")

    def routes(self, member: str) -> list[str]:
        out = subprocess.run(["ip", "-n", self.netns(member), "route"], capture_output=True, text=True, check=True)
        return [line for line in out.stdout.splitlines() if line and not line[0].isspace()]

    def plan_json(self, cluster: Path | None = None, *extra: str) -> dict[str, Any]:
        done = fabric_intent("plan", "--cluster", str(cluster or self.cluster), "--fabric", str(self.fabric),
                             "--format", "json", *extra)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def apply(self, cluster: Path | None = None, *extra: str) -> subprocess.CompletedProcess[str]:
        done = fabric_intent("apply", "--cluster", str(cluster or self.cluster), "--fabric", str(self.fabric),
                             "--auto-approve", *extra)
        assert done.returncode == 0, f"apply failed:\n{done.stdout}\n{done.stderr}"
        return done


@contextmanager
def running_lab(name: str, mode: str, out: Path) -> Iterator[RunningLab]:
    """Bring a lab up; on exit tear it down and check that it left nothing behind, even after a failure."""
    start = time.monotonic()
    try:
        lab_command("--name", name, "up", "--mode", mode, "--out", str(out))
        yield RunningLab(name, mode, out, time.monotonic() - start)
    finally:
        lab_command("--name", name, "down", check=False)
        left = system_view(name) + ([f"folder {out}"] if out.exists() else [])
        assert not left, f"lab {name} left behind: {left}"


def wait_until(what: str, probe: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)

"""nftables for real: every rendered rule set passes `nft -c`, and in network namespaces a forwarding
"leaf" with the rule set lets the allowed TCP connection through and drops the denied ones.

Needs root and the `ip` and `nft` binaries; each test makes its own namespaces and removes them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from policy_objects import CASES, DATA, compiled

from drivers.policy.nftables import TABLE, render_members, render_ruleset
from intent.cluster import parse_snapshot
from intent.policy import compile_policies
from intent.policy.placement import device_objects

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"),
                                reason="needs root, ip and nft")

SERVER = textwrap.dedent("""
    import socket, sys, threading
    def serve(port):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(16)
        while True:
            c, _ = s.accept(); c.sendall(b"ok"); c.close()
    for port in (8080, 8081):
        threading.Thread(target=serve, args=(port,), daemon=True).start()
    print("ready", flush=True); sys.stdin.read()
""")
CLIENT = textwrap.dedent("""
    import socket, sys
    s = socket.socket(); s.settimeout(1.5); s.bind((sys.argv[1], 0))
    try:
        s.connect((sys.argv[2], int(sys.argv[3]))); print(s.recv(2).decode())
    except socket.timeout:
        print("timeout")
    except OSError as exc:
        print(type(exc).__name__)
""")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)


def _must(*args: str) -> None:
    done = _run(*args)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"fi-nft-{uuid.uuid4().hex[:8]}"
    _must("ip", "netns", "add", name)
    try:
        yield name
    finally:
        _run("ip", "netns", "del", name)


@pytest.mark.parametrize("case", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_conformance_rule_set_passes_nft_check(case: Path, netns: str, tmp_path: Path) -> None:
    data = yaml.safe_load(case.read_text(encoding="utf-8"))
    topology = list(yaml.safe_load_all((CASES.parent / "data" / "xyz" / "cluster.yaml").read_text(encoding="utf-8")))
    policies = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": p["name"], "namespace": p["namespace"]}, "spec": p["spec"]}
                for p in data["policies"]]
    cluster = parse_snapshot([("case", {"kind": "List", "items": topology + data.get("objects", []) + policies})])
    groups, rules = device_objects(compile_policies(cluster), "leaf-1")
    script = tmp_path / "rules.nft"
    script.write_text(render_ruleset(groups, rules), encoding="utf-8")
    checked = _run("ip", "netns", "exec", netns, "nft", "-c", "-f", str(script))
    assert checked.returncode == 0, checked.stderr
    _must("ip", "netns", "exec", netns, "nft", "-f", str(script))
    _must("ip", "netns", "exec", netns, "nft", "-f", str(script))  # idempotent: the table is replaced whole
    listed = _run("ip", "netns", "exec", netns, "nft", "list", "table", "inet", TABLE).stdout
    assert listed.count(" drop ") == 2 * sum(1 for r in rules if r.action == "drop")


class Lab:
    """client (two pod IPs) -- leaf (forwards, enforces) -- server (listens on 8080 and 8081)."""

    def __init__(self, suffix: str) -> None:
        self.client, self.leaf, self.server = (f"fi-{role}-{suffix}" for role in ("c", "l", "s"))
        self.process: subprocess.Popen[str] | None = None

    def build(self) -> None:
        for ns in (self.client, self.leaf, self.server):
            _must("ip", "netns", "add", ns)
        for ns, side, address, gateway in ((self.client, "c", "10.99.1.2/24", "10.99.1.1/24"),
                                           (self.server, "s", "10.99.2.2/24", "10.99.2.1/24")):
            _must("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", f"to-{side}", "netns", self.leaf)
            _must("ip", "-n", ns, "addr", "add", address, "dev", "eth0")
            _must("ip", "-n", ns, "link", "set", "eth0", "up")
            _must("ip", "-n", ns, "link", "set", "lo", "up")
            _must("ip", "-n", ns, "route", "add", "default", "via", gateway.split("/")[0])
            _must("ip", "-n", self.leaf, "addr", "add", gateway, "dev", f"to-{side}")
            _must("ip", "-n", self.leaf, "link", "set", f"to-{side}", "up")
        _must("ip", "-n", self.client, "addr", "add", "10.99.1.3/24", "dev", "eth0")
        _must("ip", "netns", "exec", self.leaf, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.process = subprocess.Popen(["ip", "netns", "exec", self.server, sys.executable, "-c", SERVER],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def connect(self, source: str, port: int) -> str:
        done = _run("ip", "netns", "exec", self.client, sys.executable, "-c", CLIENT, source, "10.99.2.2", str(port))
        return done.stdout.strip() or done.stderr.strip()

    def teardown(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
        for ns in (self.client, self.leaf, self.server):
            _run("ip", "netns", "del", ns)


@pytest.fixture
def lab() -> Iterator[Lab]:
    made = Lab(uuid.uuid4().hex[:6])
    try:
        made.build()
        yield made
    finally:
        made.teardown()


def test_real_tcp_connections_are_allowed_and_dropped_as_the_policy_says(lab: Lab, tmp_path: Path) -> None:
    assert [lab.connect("10.99.1.2", 8080), lab.connect("10.99.1.3", 8080)] == ["ok", "ok"]  # no policy yet
    groups, rules = compiled(DATA / "lab-cluster.yaml")
    script = tmp_path / "rules.nft"
    script.write_text(render_ruleset(groups, rules), encoding="utf-8")
    _must("ip", "netns", "exec", lab.leaf, "nft", "-f", str(script))
    assert lab.connect("10.99.1.2", 8080) == "ok"  # client/frontend -> shop/web on port http
    started = time.monotonic()
    assert lab.connect("10.99.1.3", 8080) == "timeout"  # client/batch: not selected, dropped silently
    assert time.monotonic() - started >= 1.0
    assert lab.connect("10.99.1.2", 8081) == "timeout"  # frontend, but not on port http
    frontend = next(g for g in groups if "role=frontend" in g.description)
    for line in render_members(frontend.name, ["10.99.1.3"], []):  # batch relabelled frontend: a member change
        _must("ip", "netns", "exec", lab.leaf, "nft", line)
    assert lab.connect("10.99.1.3", 8080) == "ok"

"""Reachability probes between lab pods: a ping matrix, and who each destination sees as the source.

The second is the no-NAT proof: a TCP listener in every destination pod answers each connection
with the peer address it sees; a client in the source pod compares that with its own pod IP.
Run as a script inside a namespace (`serve PORT`, `ask PORT IP...`); the functions drive it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

PROBE_PORT = 7777
Pair = tuple[str, str]  # (source pod, destination pod)


@dataclass(frozen=True)
class Endpoint:
    """A pod (or node) as the snapshot names it: name, network namespace, IP."""

    name: str
    netns: str
    ip: str


def endpoints(documents: Iterable[dict[str, Any]], annotation: str = "fabric-intent.lab/netns") -> list[Endpoint]:
    """Pods of kubectl-style Lists that carry the netns annotation."""
    found = []
    for doc in documents:
        for item in doc.get("items", [doc]):
            meta = item.get("metadata", {})
            netns = meta.get("annotations", {}).get(annotation)
            if item.get("kind") == "Pod" and netns:
                found.append(Endpoint(meta["name"], netns, item["status"]["podIP"]))
    return found


def ping_once(pairs: Sequence[tuple[Endpoint, Endpoint]], timeout_s: int = 1) -> dict[Pair, bool]:
    """One ICMP echo per pair, all pairs at once."""
    procs = {(a.name, b.name): subprocess.Popen(
        ["ip", "netns", "exec", a.netns, "ping", "-n", "-q", "-c", "1", "-W", str(timeout_s), b.ip],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a, b in pairs}
    return {pair: proc.wait() == 0 for pair, proc in procs.items()}


def ping_matrix(pods: Sequence[Endpoint], *, wait: float = 0.0) -> dict[Pair, bool]:
    """Every ordered pair of distinct pods; pairs that fail are tried again until `wait` seconds have passed."""
    return ping_pairs([(a, b) for a in pods for b in pods if a != b], wait=wait)


def ping_pairs(pairs: Sequence[tuple[Endpoint, Endpoint]], *, wait: float = 0.0) -> dict[Pair, bool]:
    """`ping_once`, then the pairs that failed again until `wait` seconds have passed."""
    results = ping_once(pairs)
    deadline = time.monotonic() + wait
    while not all(results.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        retry = [(a, b) for a, b in pairs if not results[(a.name, b.name)]]
        results.update(ping_once(retry))
    return results


@contextmanager
def listeners(pods: Sequence[Endpoint], port: int = PROBE_PORT) -> Iterator[None]:
    """A peer-reporting TCP listener in every pod, stopped on exit."""
    procs = [subprocess.Popen(["ip", "netns", "exec", p.netns, sys.executable, __file__, "serve", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in pods]
    try:
        _wait_listening(pods, port)
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def _wait_listening(pods: Sequence[Endpoint], port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    for pod in pods:
        while f":{port:04X} 00000000:0000 0A " not in _tcp_table(pod):  # 0A: LISTEN
            if time.monotonic() > deadline:
                raise TimeoutError(f"no probe listener in {pod.netns} after {timeout:.0f} s")
            time.sleep(0.05)


def _tcp_table(pod: Endpoint) -> str:
    done = subprocess.run(["ip", "netns", "exec", pod.netns, "cat", "/proc/net/tcp"], capture_output=True, text=True)
    return done.stdout


def seen_sources(pods: Sequence[Endpoint], pairs: Iterable[Pair] | None = None,
                 port: int = PROBE_PORT) -> dict[Pair, str]:
    """For every ordered pair (or those given), the source address the destination saw (or `error: ...`)."""
    wanted = set(pairs) if pairs is not None else {(a.name, b.name) for a in pods for b in pods if a != b}
    with listeners(pods, port):
        clients = {a.name: subprocess.Popen(
            ["ip", "netns", "exec", a.netns, sys.executable, __file__, "ask", str(port)]
            + [b.ip for b in pods if (a.name, b.name) in wanted], stdout=subprocess.PIPE, text=True)
            for a in pods if any(src == a.name for src, _ in wanted)}
        answers = {name: json.loads(proc.communicate(timeout=60)[0] or "{}") for name, proc in clients.items()}
    by_ip = {p.ip: p.name for p in pods}
    return {(src, by_ip[ip]): seen for src, seen_by in answers.items() for ip, seen in seen_by.items()}


# --- the script side, run inside a pod's namespace ----------------------------------------------

def serve(port: int) -> None:
    """Answer every connection with the peer address as this pod sees it."""
    server = socket.create_server(("0.0.0.0", port), backlog=64)
    while True:
        conn, peer = server.accept()
        with conn:
            conn.sendall(peer[0].encode())


def ask(port: int, targets: Sequence[str]) -> dict[str, str]:
    """Connect to every target at once; each answers with the address it saw us come from."""
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        return dict(zip(targets, pool.map(lambda ip: _ask_one(ip, port), targets), strict=True))


def _ask_one(ip: str, port: int) -> str:
    try:
        with socket.create_connection((ip, port), timeout=3) as conn:
            return conn.recv(64).decode()
    except OSError as exc:
        return f"error: {exc}"


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        print(json.dumps(ask(int(sys.argv[2]), sys.argv[3:])))

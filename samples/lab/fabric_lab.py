"""A leaf/spine lab of real FRR switches in Linux network namespaces, and a lone switch for driver tests.

    samples/lab/lab up [--mode static|bgp] [--out DIR] [--policy]
                                                         bring the lab up, write DIR/fabric.yaml and DIR/cluster/
                                                         (--policy: the leaves enforce NetworkPolicy with nftables)
    samples/lab/lab down [--all]                         remove everything the lab (or every lab) created
    samples/lab/lab status                               show what runs (every lab and lone switch)
    samples/lab/lab check [--out DIR]                    ping every pod from every pod, show who sees whom

`--name NAME` (before the command) runs several labs side by side; the default lab is `fil`.
Needs root, FRR, OpenSSH server, the CNI plugins, nftables, ping and sudo. See the README's lab section.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lab_frr
import lab_ssh
from lab_host import LabError, Ledger, add_netns, free_port, netns_exists, run, write_file
from lab_switch import SwitchAccess, start_switch, wait_configured
from lab_teardown import teardown

__all__ = ["LabError", "SwitchAccess", "lone_switch", "main"]

HERE = Path(__file__).resolve().parent


@contextmanager
def lone_switch(name: str, *, login: lab_ssh.Login = "vtysh", workdir: Path, asn: int = 65101,
                loopback: str = "10.0.1.1", node_gateway: str = "192.168.1.1/24",
                nft: bool = False) -> Iterator[SwitchAccess]:
    """One FRR switch in its own namespace, managed over its own sshd on 127.0.0.1.

    The switch has a loopback, an empty `router bgp <asn>` and a node-facing port `br-nodes` holding
    `node_gateway` (so static routes via 192.168.1.x resolve and reach its kernel). Its login user
    authenticates with an SSH key (and a random password kept in a file); the sshd's host key is in
    the `known_hosts` file. With `nft` (bash login) the user may also run `sudo nft` in the switch's
    namespace. Everything is removed on exit, even after a failure.
    """
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", name):
        raise ValueError(f"switch name {name!r}: 1-20 lowercase letters, digits and '-', starting with a letter")
    netns = f"fi-{secrets.token_hex(3)}-{name}"
    workdir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(Path("/run") / f"fi-lab-{netns}.json")  # where `lab status` and `lab down --all` find it
    try:
        yield _start_lone(ledger, name, netns, login, workdir, asn, loopback, node_gateway, nft)
    finally:
        problems = teardown(ledger)
        if problems:
            raise LabError("lone switch tear-down left: " + "; ".join(problems))


def _start_lone(ledger: Ledger, name: str, netns: str, login: lab_ssh.Login, workdir: Path, asn: int,
                loopback: str, node_gateway: str, nft: bool = False) -> SwitchAccess:
    ledger.claim("netns", netns_exists(netns), f"network namespace {netns}", name=netns)
    add_netns(netns, forwarding=True)
    # the kernel may lack the dummy driver: a veth pair with both ends in the namespace keeps the port up
    run("ip", "-n", netns, "link", "add", "br-nodes", "type", "veth", "peer", "name", "nodes-peer")
    run("ip", "-n", netns, "addr", "add", node_gateway, "dev", "br-nodes")
    for link in ("br-nodes", "nodes-peer"):
        run("ip", "-n", netns, "link", "set", link, "up")
    key, password, known_hosts = (workdir / f"{netns}_ed25519", workdir / f"{netns}.password",
                                  workdir / f"{netns}.known_hosts")
    for path in (key, Path(f"{key}.pub"), password, known_hosts):
        ledger.claim("path", path.exists(), str(path), path=str(path))
    lab_ssh.client_key(key)
    config = lab_frr.minimal_config(lab_frr.Instance(netns, name), asn, loopback)
    port = free_port()
    user, line = start_switch(ledger, name=name, netns=netns, rundir=Path("/run") / f"fi-lab-{netns}",
                              config=config, login=login, client_key=key, port=port, nft=nft)
    lab_ssh.set_password(user, password)
    write_file(known_hosts, line + "\n", 0o644)
    wait_configured(netns)
    return SwitchAccess(name=name, netns=netns, host="127.0.0.1", port=port, username=user, key_file=key,
                        known_hosts=known_hosts, password_file=password, login=login, asn=asn, loopback=loopback)


# --- the command line ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    import lab_fabric

    parser = argparse.ArgumentParser(prog="lab", description=__doc__.splitlines()[0])
    parser.add_argument("--name", help="lab name: prefix of its namespaces and users (default fil; status: all labs)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="bring the lab up")
    up.add_argument("--mode", choices=("static", "bgp"), default="static")
    up.add_argument("--out", type=Path, default=HERE / "out", help="where to write fabric.yaml and cluster/")
    up.add_argument("--leaves", type=int, default=2, help="leaves, one rack each (default 2)")
    up.add_argument("--nodes-per-leaf", type=int, default=2, help="nodes per rack (default 2)")
    up.add_argument("--policy", action="store_true",
                    help="the leaves enforce NetworkPolicy: shell login with sudo vtysh and sudo nft")
    down = commands.add_parser("down", help="remove everything the lab created")
    down.add_argument("--all", action="store_true", help="every lab and lone switch on this machine")
    commands.add_parser("status", help="show what runs")
    check = commands.add_parser("check", help="ping every pod from every pod; show what each destination saw")
    check.add_argument("--out", type=Path, default=HERE / "out", help="the folder `up` wrote")
    check.add_argument("--wait", type=float, default=0.0, help="retry failing pairs for this many seconds")
    args = parser.parse_args(argv)
    name = args.name or "fil"
    try:
        if args.command == "up":
            return lab_fabric.up(name, args.mode, args.out.resolve(), leaves=args.leaves,
                                 nodes_per_leaf=args.nodes_per_leaf, policy=args.policy)
        if args.command == "down":
            return lab_fabric.down_all() if args.all else lab_fabric.down(name)
        if args.command == "check":
            return lab_fabric.check(args.out.resolve(), args.wait)
        return lab_fabric.status(args.name)
    except (LabError, ValueError, OSError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

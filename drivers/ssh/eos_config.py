"""Arista EOS configuration for fabric-intent's objects: rendering (pure) and reading back (owned only).

Rendered in EOS's own syntax::

    vrf instance BLUE / description fabric-intent: cluster prod / ip routing vrf BLUE
    ip prefix-list FI-NODE-n1 / seq 10 permit 10.244.1.0/24
    router bgp 65101 / vrf BLUE / neighbor 192.168.1.11 remote-as 64601 (description, prefix-list, maximum-routes)
    ip route vrf BLUE 10.244.2.0/24 192.168.1.12 tag 64512 name fabric-intent

NetworkPolicy objects (address groups, policy rules) are rendered and read back by `eos_policy`.

Ownership: routes named `fabric-intent`, prefix-lists, field-sets and traffic-policies named `FI-...`,
neighbours and VRFs whose description starts `fabric-intent:`. Everything else is hand-made and never
changed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from drivers.ssh import cli_common as cli
from drivers.ssh import eos_policy as policy
from drivers.ssh.cli_objects import (
    NeighborAttributes,
    family,
    ip_or_none,
    parse_owned_with,
    peerings_from,
    render_with_policy,
)
from intent.model import (
    DESCRIPTION_PREFIX,
    BgpPeering,
    DeviceObject,
    PrefixList,
    StaticRoute,
    Vrf,
    ip_text,
)
from intent.plan import Change

Paths = list[cli.Path_]


# -- rendering ---------------------------------------------------------------------------------------
def route_lines(route: StaticRoute, *, delete: bool = False) -> list[str]:
    vrf = "" if route.vrf == "default" else f" vrf {route.vrf}"
    head = f"{family(route)} route{vrf} {ip_text(route.prefix)} {ip_text(route.next_hop)}"
    return [f"no {head}"] if delete else [f"{head} {cli.route_tail(route)}"]


def prefix_list_lines(before: PrefixList | None, after: PrefixList | None) -> list[str]:
    if after is None:
        assert before is not None
        return [f"no {family(before)} prefix-list {before.name}"]
    old = set(before.entries) if before is not None else set()
    gone = sorted({e.seq for e in old - set(after.entries)})
    added = [e for e in after.entries if e not in old]
    return ([f"{family(after)} prefix-list {after.name}"] + [f"   no seq {seq}" for seq in gone]
            + [f"   {entry}" for entry in added])


def bgp_lines(peer: BgpPeering, asn: int, *, delete: bool = False, drop_password: bool = False) -> list[str]:
    lines = [f"router bgp {asn}"]
    indent = "   "
    if peer.vrf != "default":
        lines.append(f"   vrf {peer.vrf}")
        indent = "      "
    n = f"{indent}neighbor {ip_text(peer.neighbor)}"
    if delete:
        return lines + [f"{indent}no neighbor {ip_text(peer.neighbor)}"]
    lines += [f"{n} remote-as {peer.remote_as}", f"{n} description {peer.description}",
              f"{n} maximum-routes {peer.max_prefix}"]
    if peer.authenticated:
        lines.append(f"{n} password {cli.PASSWORD_PLACEHOLDER}")
    elif drop_password:
        lines.append(f"{indent}no neighbor {ip_text(peer.neighbor)} password")
    if peer.neighbor.version == 4:
        return lines + [f"{n} prefix-list {peer.prefix_list} in"]
    return lines + [f"{indent}address-family ipv6", f"{indent}   neighbor {ip_text(peer.neighbor)} activate",
                    f"{indent}   neighbor {ip_text(peer.neighbor)} prefix-list {peer.prefix_list} in"]


def vrf_lines(vrf: Vrf, cluster: str, *, delete: bool = False) -> list[str]:
    if delete:
        return [f"no ip routing vrf {vrf.name}", f"no vrf instance {vrf.name}"]
    return [f"vrf instance {vrf.name}", f"   description {DESCRIPTION_PREFIX} cluster {cluster}",
            f"ip routing vrf {vrf.name}"]


def render_change(change: Change, asn: int | None, cluster: str, interfaces: Sequence[str] = ()) -> list[str]:
    """The lines for one change; `interfaces` are the pod-facing ones the traffic-policies are applied to."""
    return render_with_policy(change, asn, cluster, interfaces, policy=policy, route=route_lines,
                              prefix_list=prefix_list_lines, bgp=bgp_lines, vrf=vrf_lines)


# -- reading back ------------------------------------------------------------------------------------
def parse_routes(paths: Paths, device: str) -> tuple[list[StaticRoute], set[str]]:
    owned, foreign = [], set()
    for path in paths:
        words = path[0].split()
        if len(path) != 1 or words[:2] not in (["ip", "route"], ["ipv6", "route"]):
            continue
        vrf, rest = (words[3], words[4:]) if words[2:3] == ["vrf"] else ("default", words[2:])
        next_hop = ip_or_none(rest[1]) if len(rest) > 1 else None
        if next_hop is None:
            continue  # a route to an interface or Null0 is not a kind fabric-intent configures
        fields: dict[str, Any] = {"device": device, "vrf": vrf, "prefix": ipaddress.ip_network(rest[0]),
                                  "next_hop": next_hop, "tag": int(cli.words_after(rest, "tag") or 0)}
        if cli.route_is_owned(rest):
            owned.append(StaticRoute(**fields))
        else:
            foreign.add(cli.key_of(StaticRoute, **fields))
    return owned, foreign


def _neighbor_words(path: cli.Path_) -> tuple[str, list[str]] | None:
    """(vrf, words from `neighbor ...`) for a neighbour line anywhere under `router bgp`."""
    if not path[0].startswith("router bgp ") or len(path) < 2:
        return None
    vrf = "default"
    for part in path[1:-1]:
        if part.startswith("vrf "):
            vrf = part.split()[1]
    words = path[-1].split()
    return (vrf, words) if words[0] == "neighbor" and len(words) >= 3 else None


def parse_neighbors(paths: Paths, device: str) -> tuple[list[BgpPeering], set[str]]:
    attrs: NeighborAttributes = {}
    asn = 0
    for path in paths:
        found = _neighbor_words(path)
        if found is None:
            continue
        asn = int(path[0].split()[2])
        vrf, words = found
        attrs.setdefault((vrf, words[1]), {})[words[2]] = " ".join(words[3:])
    return peerings_from(attrs, asn, device, max_prefix="maximum-routes")


def parse_vrfs(paths: Paths, device: str) -> tuple[list[Vrf], set[str]]:
    described: dict[str, str] = {}
    for path in paths:
        if path[0].startswith("vrf instance "):
            name = path[0].split()[2]
            described.setdefault(name, "")
            if len(path) == 2 and path[1].startswith("description "):
                described[name] = path[1].removeprefix("description ")
    owned = [Vrf(device=device, name=n) for n, d in described.items() if d.startswith(DESCRIPTION_PREFIX)]
    foreign = {Vrf(device=device, name=n).key for n, d in described.items() if not d.startswith(DESCRIPTION_PREFIX)}
    return owned, foreign


def parse_owned(paths: Paths, device: str, interfaces: Sequence[str] = ()) -> tuple[list[DeviceObject], frozenset[str]]:
    return parse_owned_with(paths, device, interfaces, policy=policy, routes=parse_routes, neighbors=parse_neighbors,
                            vrfs=parse_vrfs)

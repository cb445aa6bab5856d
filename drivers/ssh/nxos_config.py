"""Cisco NX-OS configuration for fabric-intent's objects: rendering (pure) and reading back (owned only).

Rendered in NX-OS's own syntax::

    vrf context BLUE / description fabric-intent: cluster prod / ip route 10.244.2.0/24 192.168.1.12 name ... tag ...
    ip prefix-list FI-NODE-n1 seq 10 permit 10.244.1.0/24
    router bgp 65101 / vrf BLUE / neighbor 192.168.1.11 / remote-as, description,
        address-family ipv4 unicast / prefix-list FI-NODE-n1 in, maximum-prefix 20

NetworkPolicy objects (address groups, policy rules) are rendered and read back by `nxos_policy`.

Ownership: routes named `fabric-intent`, prefix-lists, object-groups and ACLs named `FI-...`, neighbours
and VRF contexts whose description starts `fabric-intent:`. A VRF context without that description is
hand-made unless it holds nothing but fabric-intent's own routes (entering `vrf context` to add a route
creates it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from drivers.ssh import cli_common as cli
from drivers.ssh import nxos_policy as policy
from drivers.ssh.cli_objects import NeighborAttributes, family, parse_owned_with, peerings_from, render_with_policy
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
    head = f"{family(route)} route {ip_text(route.prefix)} {ip_text(route.next_hop)}"
    line = f"no {head}" if delete else f"{head} name {cli.ROUTE_NAME} tag {route.tag}"
    # `ip route` is also a command of vrf context mode: leave that mode, or a later default-VRF route lands in it
    return [line] if route.vrf == "default" else [f"vrf context {route.vrf}", f"  {line}", "  exit"]


def prefix_list_lines(before: PrefixList | None, after: PrefixList | None) -> list[str]:
    if after is None:
        assert before is not None
        return [f"no {family(before)} prefix-list {before.name}"]
    head = f"{family(after)} prefix-list {after.name}"
    old = set(before.entries) if before is not None else set()
    gone = sorted({e.seq for e in old - set(after.entries)})
    return [f"no {head} seq {seq}" for seq in gone] + [f"{head} {e}" for e in after.entries if e not in old]


def bgp_lines(peer: BgpPeering, asn: int, *, delete: bool = False, drop_password: bool = False) -> list[str]:
    lines, indent = [f"router bgp {asn}"], "  "
    if peer.vrf != "default":
        lines, indent = lines + [f"  vrf {peer.vrf}"], "    "
    if delete:
        return lines + [f"{indent}no neighbor {ip_text(peer.neighbor)}"]
    inner, af = indent + "  ", "ipv4" if peer.neighbor.version == 4 else "ipv6"
    lines += [f"{indent}neighbor {ip_text(peer.neighbor)}", f"{inner}remote-as {peer.remote_as}",
              f"{inner}description {peer.description}"]
    if peer.authenticated:
        lines.append(f"{inner}password {cli.PASSWORD_PLACEHOLDER}")
    elif drop_password:
        lines.append(f"{inner}no password")
    return lines + [f"{inner}address-family {af} unicast", f"{inner}  prefix-list {peer.prefix_list} in",
                    f"{inner}  maximum-prefix {peer.max_prefix}"]


def vrf_lines(vrf: Vrf, cluster: str, *, delete: bool = False) -> list[str]:
    if delete:
        return [f"no vrf context {vrf.name}"]
    return [f"vrf context {vrf.name}", f"  description {DESCRIPTION_PREFIX} cluster {cluster}", "  exit"]


def render_change(change: Change, asn: int | None, cluster: str, interfaces: Sequence[str] = ()) -> list[str]:
    """The lines for one change; `interfaces` are the pod-facing ones the policy ACLs are bound to."""
    return render_with_policy(change, asn, cluster, interfaces, policy=policy, route=route_lines,
                              prefix_list=prefix_list_lines, bgp=bgp_lines, vrf=vrf_lines)


# -- reading back ------------------------------------------------------------------------------------
def _route(path: cli.Path_, device: str) -> tuple[StaticRoute, bool] | None:
    """A static route line at the top (default VRF) or in a `vrf context`, and whether it is owned."""
    if len(path) == 1:
        vrf = "default"
    elif len(path) == 2 and path[0].startswith("vrf context "):
        vrf = path[0].split()[2]
    else:
        return None
    words = path[-1].split()
    if words[:2] not in (["ip", "route"], ["ipv6", "route"]) or len(words) < 4:
        return None
    try:
        prefix, next_hop = ipaddress.ip_network(words[2]), ipaddress.ip_address(words[3])
    except ValueError:
        return None  # a route via an interface or Null0: not a kind fabric-intent configures
    tag, owned = int(cli.words_after(words, "tag") or 0), cli.route_is_owned(words)
    fields: dict[str, Any] = {"device": device, "vrf": vrf, "prefix": prefix, "next_hop": next_hop, "tag": tag}
    return (StaticRoute(**fields) if owned else StaticRoute.model_construct(**fields)), owned


def parse_routes(paths: Paths, device: str) -> tuple[list[StaticRoute], set[str]]:
    owned, foreign = [], set()
    for path in paths:
        found = _route(path, device)
        if found is not None and found[1]:
            owned.append(found[0])
        elif found is not None:
            foreign.add(found[0].key)
    return owned, foreign


def _neighbor_of(path: cli.Path_) -> tuple[str, str, cli.Path_] | None:
    """(vrf, neighbour address, the lines below `neighbor X`) for a path inside a BGP neighbour."""
    if not path[0].startswith("router bgp "):
        return None
    vrf = path[1].split()[1] if len(path) > 2 and path[1].startswith("vrf ") else "default"
    for depth, part in enumerate(path[1:], start=1):
        if part.startswith("neighbor "):
            return vrf, part.split()[1], path[depth:]
    return None


def _attributes(paths: Paths) -> tuple[int, NeighborAttributes]:
    asn, attrs = 0, NeighborAttributes()
    for path in paths:
        found = _neighbor_of(path)
        if found is None:
            continue
        asn = int(path[0].split()[2])
        vrf, address, below = found
        seen = attrs.setdefault((vrf, address), {})
        words = below[-1].split()
        if len(below) == 1 and len(words) >= 4:  # `neighbor X remote-as N` on one line
            seen[words[2]] = " ".join(words[3:])
        elif len(below) > 1:
            seen[words[0]] = " ".join(words[1:])
    return asn, attrs


def parse_neighbors(paths: Paths, device: str) -> tuple[list[BgpPeering], set[str]]:
    asn, attrs = _attributes(paths)
    return peerings_from(attrs, asn, device, max_prefix="maximum-prefix")


def parse_vrfs(paths: Paths, device: str) -> tuple[list[Vrf], set[str]]:
    contexts: dict[str, list[cli.Path_]] = {}
    for path in paths:
        if path[0].startswith("vrf context "):
            contexts.setdefault(path[0].split()[2], []).append(path[1:])
    owned, foreign = [], set()
    for name, inside in contexts.items():
        description = next((p[0] for p in inside if len(p) == 1 and p[0].startswith("description ")), "")
        if description.removeprefix("description ").startswith(DESCRIPTION_PREFIX):
            owned.append(Vrf(device=device, name=name))
        elif not _only_owned_routes(inside):
            foreign.add(Vrf(device=device, name=name).key)
    return owned, foreign


def _only_owned_routes(inside: list[cli.Path_]) -> bool:
    lines = [p for p in inside if p]  # the `vrf context` line itself comes as ()
    return bool(lines) and all(len(p) == 1 and p[0].split()[1:2] == ["route"] and cli.route_is_owned(p[0].split())
                               for p in lines)


def parse_owned(paths: Paths, device: str, interfaces: Sequence[str] = ()) -> tuple[list[DeviceObject], frozenset[str]]:
    return parse_owned_with(paths, device, interfaces, policy=policy, routes=parse_routes, neighbors=parse_neighbors,
                            vrfs=parse_vrfs)

"""Read FRR's `show running-config`: the objects fabric-intent owns, the keys hand-made lines
occupy, and the few device facts the driver needs to keep redistribution tidy. Pure.

Ownership markers: static routes carry the inventory's route tag; prefix-lists are named `FI-...`;
BGP neighbours have a description starting `fabric-intent:`; an owned VRF is marked by the
prefix-list `FI-VRF-<name>` whose description is `fabric-intent: vrf <name>`. Anything else is
hand-made and is only reported (as a key it occupies), never returned as an owned object.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from netutils.config.parser import IOSConfigParser

from intent.model import DESCRIPTION_PREFIX, NAME_PREFIX, BgpPeering, DeviceObject, PrefixList, StaticRoute, Vrf

VRF_MARKER = f"{NAME_PREFIX}VRF-"
REDISTRIBUTE_MAP = f"{NAME_PREFIX}STATIC-ROUTES"
OUR_REDISTRIBUTE = f"redistribute static route-map {REDISTRIBUTE_MAP}"
_NOISE = re.compile(r"^(Building configuration\.\.\.|Current configuration:|end|!.*|\s*)$")
_ROUTE = re.compile(r"^\s*ipv?6? route (\S+) (\S+)(?: .*)?$")
_TAG = re.compile(r" tag (\d+)")
_PLIST = re.compile(r"^ipv?6? prefix-list (\S+) seq (\d+) (permit|deny) (\S+)(?: le (\d+))?")
_PLIST_DESC = re.compile(r"^ip prefix-list (\S+) description (.*)$")
_BGP = re.compile(r"^router bgp (\d+)(?: vrf (\S+))?$")
_CLOSERS = frozenset({"exit", "exit-vrf", "exit-address-family", "!"})
_NEIGHBOR = re.compile(r"^\s*neighbor (\S+) (\S+)(?: (.*))?$")


@dataclass
class BgpInstance:
    """One `router bgp` block: its ASN, lines fabric-intent does not own, and static redistribution per family."""

    asn: int
    foreign_lines: int = 0
    redistribute: dict[str, str] = field(default_factory=dict)  # "ipv4"/"ipv6" -> "ours" | "theirs"


@dataclass
class RunningConfig:
    """What one `show running-config` tells fabric-intent."""

    device: str
    revision: str
    objects: list[DeviceObject]
    foreign: set[str]
    bgp: dict[str, BgpInstance]  # by VRF name ("default" for the global instance)
    route_map: bool  # the FI-STATIC-ROUTES route-map exists


def config_lines(text: str) -> list[str]:
    """The configuration lines of a `show running-config`, without banner, comments and `end`."""
    lines = text.replace("\r", "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("frr version")), 0)
    return [line.rstrip() for line in lines[start:] if not _NOISE.match(line)]


def canonical(lines: list[str]) -> list[str]:
    """Top-level blocks sorted: the configuration's meaning, independent of the order FRR prints it in."""
    blocks: list[list[str]] = []
    for line in lines:
        if line.startswith(" ") and blocks:
            blocks[-1].append(line)
        elif line in ("exit", "exit-vrf") and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return ["\n".join(block) for block in sorted(blocks)]


def revision_of(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(canonical(lines)).encode()).hexdigest()


def parse_running_config(text: str, device: str, route_tag: int) -> RunningConfig:
    """Parse one running-config; `route_tag` is the tag that marks fabric-intent's static routes."""
    lines = config_lines(text)
    routes, top, bgp_lines = _sorted_lines(lines)
    objects: list[DeviceObject] = []
    foreign: set[str] = set()
    for vrf, line in routes:
        _add_route(objects, foreign, device, vrf, line, route_tag)
    objects += _prefix_lists(top, device) + _vrfs(top, device)
    bgp: dict[str, BgpInstance] = {}
    for header, block in bgp_lines.items():
        match = _BGP.match(header)
        assert match is not None
        vrf = match.group(2) or "default"
        (peers, others), bgp[vrf] = _bgp_block(block, device, vrf, int(match.group(1)))
        objects += peers
        foreign |= others
    route_map = any(line.startswith(f"route-map {REDISTRIBUTE_MAP} ") for line in top)
    return RunningConfig(device=device, revision=revision_of(lines), objects=objects, foreign=foreign, bgp=bgp,
                         route_map=route_map)


def _sorted_lines(lines: list[str]) -> tuple[list[tuple[str, str]], list[str], dict[str, list[tuple[str, str | None]]]]:
    """netutils' view of the hierarchy, cut into what the parser reads: routes (with their VRF),
    other top-level lines, and each `router bgp` block's lines (with their address family)."""
    routes: list[tuple[str, str]] = []
    top: list[str] = []
    bgp: dict[str, list[tuple[str, str | None]]] = {}
    for entry in IOSConfigParser("\n".join(lines)).build_config_relationship():
        text, parents = entry.config_line.strip(), entry.parents
        if text in _CLOSERS:
            continue
        if not parents:
            top.append(text)
            if _ROUTE.match(text):
                routes.append(("default", text))
            elif _BGP.match(text):
                bgp.setdefault(text, [])
        elif parents[0].startswith("vrf ") and len(parents) == 1 and _ROUTE.match(text):
            routes.append((parents[0].split()[1], text))
        elif _BGP.match(parents[0]) and not text.startswith("address-family "):
            family = parents[1].split()[1] if len(parents) > 1 else None
            bgp.setdefault(parents[0], []).append((text, family))
    return routes, top, bgp


def _ip(text: str) -> Any:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _add_route(objects: list[DeviceObject], foreign: set[str], device: str, vrf: str, line: str, tag: int) -> None:
    match = _ROUTE.match(line)
    assert match is not None
    next_hop = _ip(match.group(2))
    if next_hop is None:  # an interface or blackhole route: never fabric-intent's
        return
    prefix = ipaddress.ip_network(match.group(1), strict=False)
    tagged = _TAG.search(line)
    if tagged and int(tagged.group(1)) == tag:
        objects.append(StaticRoute(device=device, vrf=vrf, prefix=prefix, next_hop=next_hop, tag=tag))
    else:
        foreign.add(StaticRoute.model_construct(**{"device": device, "prefix": prefix, "next_hop": next_hop}).key)


def _prefix_lists(top: list[str], device: str) -> list[DeviceObject]:
    entries: dict[str, list[dict[str, Any]]] = {}
    for line in top:
        match = _PLIST.match(line)
        if match is None or not match.group(1).startswith(NAME_PREFIX) or match.group(1).startswith(VRF_MARKER):
            continue
        name, seq, action, prefix, le = match.groups()
        entries.setdefault(name, []).append({"seq": int(seq), "action": action, "prefix": prefix,
                                             "le": int(le) if le else None})
    return [PrefixList(device=device, name=name, entries=tuple(found)) for name, found in entries.items()]  # type: ignore[arg-type]


def _vrfs(top: list[str], device: str) -> list[DeviceObject]:
    found: list[DeviceObject] = []
    for line in top:
        match = _PLIST_DESC.match(line)
        if match is None or not match.group(1).startswith(VRF_MARKER):
            continue
        name = match.group(1).removeprefix(VRF_MARKER)
        if match.group(2) == vrf_marker_description(name):
            found.append(Vrf(device=device, name=name))
    return found


def vrf_marker_description(name: str) -> str:
    return f"{DESCRIPTION_PREFIX} vrf {name}"


def _bgp_block(block: list[tuple[str, str | None]], device: str, vrf: str,
               asn: int) -> tuple[tuple[list[DeviceObject], set[str]], BgpInstance]:
    """Owned neighbours, keys of hand-made ones, and the instance's facts."""
    settings: dict[str, dict[str, str]] = {}  # neighbour -> setting -> value
    other: list[str] = []
    instance = BgpInstance(asn=asn)
    for text, family in block:
        _bgp_line(text, family, settings, other, instance)
    owned = {n for n, s in settings.items() if s.get("description", "").startswith(DESCRIPTION_PREFIX)}
    instance.foreign_lines = len(other) + sum(len(s) for n, s in settings.items() if n not in owned)
    peers = [_peering(device, vrf, asn, n, settings[n]) for n in sorted(owned)]
    foreign = {BgpPeering.model_construct(**{"device": device, "neighbor": ip}).key
               for n in settings if n not in owned and (ip := _ip(n)) is not None}
    return ([p for p in peers if p is not None], foreign), instance


def _bgp_line(text: str, family: str | None, settings: dict[str, dict[str, str]], other: list[str],
              instance: BgpInstance) -> None:
    if text.startswith("redistribute static"):
        instance.redistribute[family or "ipv4"] = "ours" if text == OUR_REDISTRIBUTE else "theirs"
        return
    match = _NEIGHBOR.match(text)
    if match is None:
        other.append(text)
        return
    neighbor, setting, value = match.groups()
    if setting == "prefix-list" and value and value.endswith(" in"):
        setting, value = "prefix-list-in", value.removesuffix(" in")
    settings.setdefault(neighbor, {})[setting] = value or ""


def _peering(device: str, vrf: str, asn: int, neighbor: str, settings: dict[str, str]) -> BgpPeering | None:
    address = _ip(neighbor)
    if address is None or "remote-as" not in settings or not settings["remote-as"].isdigit():
        return None
    local_as = int(settings["local-as"].split()[0]) if "local-as" in settings else asn
    return BgpPeering(device=device, vrf=vrf, neighbor=address, remote_as=int(settings["remote-as"]),
                      local_as=local_as, description=settings["description"],
                      prefix_list=settings.get("prefix-list-in", ""),
                      max_prefix=int(settings.get("maximum-prefix", "0").split()[0]),
                      authenticated="password" in settings)

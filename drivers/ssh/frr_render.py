"""Render owned objects and changes to FRR (vtysh) configuration lines. Pure.

Lines are what one would type after `configure terminal`; nested blocks are closed explicitly
(`exit`, `exit-vrf`, `exit-address-family`) so a batch can be sent as it is.
"""

from __future__ import annotations

import ipaddress

from drivers.ssh.frr_parse import OUR_REDISTRIBUTE, REDISTRIBUTE_MAP, VRF_MARKER, vrf_marker_description
from intent.errors import DriverError
from intent.model import BgpPeering, DeviceObject, PrefixList, PrefixListEntry, StaticRoute, Vrf, ip_text
from intent.plan import Change

#: Stands for the BGP password in rendered lines; the secret is put in only when the batch is sent.
PASSWORD_PLACEHOLDER = "<bgp.password>"


def _family(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    return "ipv6" if ip.version == 6 else "ip"


def in_vrf(vrf: str, lines: list[str]) -> list[str]:
    """Lines inside `vrf <name>` (static routes); the default VRF needs no block."""
    return lines if vrf == "default" else [f"vrf {vrf}", *(f" {line}" for line in lines), "exit-vrf"]


def static_route(route: StaticRoute, negate: bool = False) -> list[str]:
    line = f"{_family(route.prefix)} route {ip_text(route.prefix)} {ip_text(route.next_hop)} tag {route.tag}"
    return in_vrf(route.vrf, [f"no {line}" if negate else line])


def prefix_entry(name: str, entry: PrefixListEntry, negate: bool = False) -> str:
    line = f"{_family(entry.prefix)} prefix-list {name} {entry}"
    return f"no {line}" if negate else line


def prefix_list(plist: PrefixList) -> list[str]:
    return [prefix_entry(plist.name, entry) for entry in plist.entries]


def prefix_list_delete(plist: PrefixList) -> list[str]:
    families = sorted({_family(e.prefix) for e in plist.entries}) or ["ip"]
    return [f"no {family} prefix-list {plist.name}" for family in families]


def prefix_list_update(before: PrefixList, after: PrefixList) -> list[str]:
    gone = [e for e in before.entries if e not in after.entries]
    added = [e for e in after.entries if e not in before.entries]
    return [prefix_entry(after.name, e, negate=True) for e in gone] + [prefix_entry(after.name, e) for e in added]


def bgp_header(asn: int, vrf: str) -> str:
    return f"router bgp {asn}" if vrf == "default" else f"router bgp {asn} vrf {vrf}"


def peering_asn(peer: BgpPeering, switch_asn: int | None) -> int:
    asn = peer.local_as or switch_asn
    if asn is None:
        raise DriverError(f"{peer.device}: bgp neighbor {ip_text(peer.neighbor)} needs the switch's asn in the "
                          "inventory")
    return asn


def peering(peer: BgpPeering, switch_asn: int | None) -> list[str]:
    n, family = ip_text(peer.neighbor), "ipv6" if peer.neighbor.version == 6 else "ipv4"
    lines = [bgp_header(peering_asn(peer, switch_asn), peer.vrf), f" neighbor {n} remote-as {peer.remote_as}",
             f" neighbor {n} description {peer.description}"]
    if peer.authenticated:
        lines.append(f" neighbor {n} password {PASSWORD_PLACEHOLDER}")
    lines.append(f" address-family {family} unicast")
    if family == "ipv6":
        lines.append(f"  neighbor {n} activate")
    if peer.prefix_list:
        lines.append(f"  neighbor {n} prefix-list {peer.prefix_list} in")
    return lines + [f"  neighbor {n} maximum-prefix {peer.max_prefix}", " exit-address-family", "exit"]


def peering_delete(peer: BgpPeering, switch_asn: int | None) -> list[str]:
    return [bgp_header(peering_asn(peer, switch_asn), peer.vrf), f" no neighbor {ip_text(peer.neighbor)}", "exit"]


def peering_update(before: BgpPeering, after: BgpPeering, switch_asn: int | None) -> list[str]:
    if (before.vrf, peering_asn(before, switch_asn)) != (after.vrf, peering_asn(after, switch_asn)):
        return peering_delete(before, switch_asn) + peering(after, switch_asn)
    lines = peering(after, switch_asn)
    n = ip_text(after.neighbor)
    if before.authenticated and not after.authenticated:
        lines.insert(1, f" no neighbor {n} password")
    if before.prefix_list and not after.prefix_list:
        lines.insert(-2, f"  no neighbor {n} prefix-list {before.prefix_list} in")
    return lines


def vrf(obj: Vrf) -> list[str]:
    return [f"vrf {obj.name}", "exit-vrf",
            f"ip prefix-list {VRF_MARKER}{obj.name} description {vrf_marker_description(obj.name)}"]


def vrf_delete(obj: Vrf) -> list[str]:
    """Only the ownership marker goes: the VRF block itself may hold hand-made configuration."""
    return [f"no ip prefix-list {VRF_MARKER}{obj.name}"]


def create(obj: DeviceObject, switch_asn: int | None) -> list[str]:
    if isinstance(obj, StaticRoute):
        return static_route(obj)
    if isinstance(obj, PrefixList):
        return prefix_list(obj)
    if isinstance(obj, BgpPeering):
        return peering(obj, switch_asn)
    if isinstance(obj, Vrf):
        return vrf(obj)
    raise DriverError(f"{obj.device}: the frr driver cannot configure {obj.kind}")


def delete(obj: DeviceObject, switch_asn: int | None) -> list[str]:
    if isinstance(obj, StaticRoute):
        return static_route(obj, negate=True)
    if isinstance(obj, PrefixList):
        return prefix_list_delete(obj)
    if isinstance(obj, BgpPeering):
        return peering_delete(obj, switch_asn)
    if isinstance(obj, Vrf):
        return vrf_delete(obj)
    raise DriverError(f"{obj.device}: the frr driver cannot configure {obj.kind}")


def change_lines(change: Change, switch_asn: int | None) -> list[str]:
    """The lines that make one change."""
    before, after = change.before, change.after
    if change.action == "delete" and before is not None:
        return delete(before, switch_asn)
    assert after is not None
    if change.action == "create" or before is None:
        return create(after, switch_asn)
    if isinstance(before, PrefixList) and isinstance(after, PrefixList):
        return prefix_list_update(before, after)
    if isinstance(before, BgpPeering) and isinstance(after, BgpPeering):
        return peering_update(before, after, switch_asn)
    return delete(before, switch_asn) + create(after, switch_asn)


def redistribution(asn: int, vrf_name: str, family: str, enable: bool) -> list[str]:
    """Redistribute (or stop redistributing) fabric-intent's static routes into BGP, through the tag route-map."""
    line = OUR_REDISTRIBUTE if enable else f"no {OUR_REDISTRIBUTE}"
    return [bgp_header(asn, vrf_name), f" address-family {family} unicast", f"  {line}", " exit-address-family", "exit"]


def redistribute_map(tag: int, enable: bool) -> list[str]:
    if not enable:
        return [f"no route-map {REDISTRIBUTE_MAP}"]
    return [f"route-map {REDISTRIBUTE_MAP} permit 10", f" match tag {tag}", "exit"]

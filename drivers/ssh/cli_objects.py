"""What the EOS and NX-OS renderers and parsers share: the address family of an object, the dispatch of
one change to the platform's renderers, and reading `FI-` prefix-lists back (both platforms print
entries as `ip prefix-list NAME seq N permit PREFIX`, EOS optionally as a block)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import NamedTuple

from drivers.ssh import cli_common as cli
from intent.errors import DriverError
from intent.model import NAME_PREFIX, BgpPeering, DeviceObject, PrefixList, PrefixListEntry, StaticRoute, Vrf
from intent.plan import Change

Paths = list[cli.Path_]


def family(obj: StaticRoute | PrefixList) -> str:
    versions = {obj.prefix.version} if isinstance(obj, StaticRoute) else {e.prefix.version for e in obj.entries}
    if len(versions) > 1:
        raise DriverError(f"{obj.describe()} mixes IPv4 and IPv6 entries; a prefix-list holds one family")
    return "ipv6" if versions == {6} else "ip"


class Renderers(NamedTuple):
    route: Callable[..., list[str]]
    prefix_list: Callable[[PrefixList | None, PrefixList | None], list[str]]
    bgp: Callable[..., list[str]]
    vrf: Callable[..., list[str]]


def render_change_with(change: Change, asn: int | None, cluster: str,
                       **renderers: Callable[..., list[str]]) -> list[str]:
    """The lines for one change, given the platform's renderers; an object moving VRF is removed and added again."""
    native = Renderers(**renderers)
    before, after = change.before, change.after
    if isinstance(before or after, PrefixList):
        return native.prefix_list(before, after)  # type: ignore[arg-type]
    moved = before is not None and after is not None and getattr(before, "vrf", None) != getattr(after, "vrf", None)
    lines = _render(native, before, asn, cluster, delete=True) if after is None or moved else []
    if after is not None:
        drop = isinstance(before, BgpPeering) and before.authenticated
        lines += _render(native, after, asn, cluster, drop_password=drop)
    return lines


def _render(native: Renderers, obj: DeviceObject | None, asn: int | None, cluster: str, *, delete: bool = False,
            drop_password: bool = False) -> list[str]:
    if isinstance(obj, StaticRoute):
        return native.route(obj, delete=delete)
    if isinstance(obj, Vrf):
        return native.vrf(obj, cluster, delete=delete)
    if isinstance(obj, BgpPeering):
        local = obj.local_as or asn
        if local is None:
            raise DriverError(f"{obj.describe()}: the switch has no BGP ASN (set `asn` in the inventory)")
        return native.bgp(obj, local, delete=delete, drop_password=drop_password)
    raise DriverError(f"cannot render {type(obj).__name__} for this platform")


def ip_or_none(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_prefix_lists(paths: Paths, device: str) -> list[PrefixList]:
    entries: dict[str, list[PrefixListEntry]] = {}
    for path in paths:
        words = " ".join(path).split()
        if words[1:2] != ["prefix-list"] or words[0] not in ("ip", "ipv6") or not words[2].startswith(NAME_PREFIX):
            continue
        listed = entries.setdefault(words[2], [])
        if len(words) >= 7 and words[3] == "seq":
            le = cli.words_after(words, "le")
            listed.append(PrefixListEntry(seq=int(words[4]), action=words[5], prefix=words[6],  # type: ignore[arg-type]
                                          le=int(le) if le else None))
    return [PrefixList(device=device, name=name, entries=tuple(found)) for name, found in sorted(entries.items())]


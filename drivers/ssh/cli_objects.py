"""What the EOS and NX-OS renderers and parsers share: the address family of an object, the dispatch of
one change to the platform's renderers, reading `FI-` prefix-lists back (both platforms print entries as
`ip prefix-list NAME seq N permit PREFIX`, EOS optionally as a block), turning neighbour attributes into
peerings, and gathering every owned object and foreign key of a running configuration."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from drivers.ssh import cli_common as cli
from intent.errors import DriverError
from intent.model import (
    DESCRIPTION_PREFIX,
    NAME_PREFIX,
    AddressGroup,
    BgpPeering,
    DeviceObject,
    PolicyRule,
    PrefixList,
    PrefixListEntry,
    StaticRoute,
    Vrf,
)
from intent.plan import Change

Paths = list[cli.Path_]
#: Neighbour attributes by (vrf, address): `{"remote-as": "64601", "description": "...", ...}`.
NeighborAttributes = dict[tuple[str, str], dict[str, str]]


class PolicySyntax(Protocol):
    """A platform's NetworkPolicy module: address groups and policy rules, rendered and read back."""

    def group_lines(self, before: AddressGroup | None, after: AddressGroup | None) -> list[str]: ...

    def rule_lines(self, rule: PolicyRule, interfaces: Sequence[str], *, delete: bool = False) -> list[str]: ...

    def parse_groups(self, paths: Paths, device: str) -> list[AddressGroup]: ...

    def parse_rules(self, paths: Paths, device: str) -> list[PolicyRule]: ...

    def drop_rule_keys(self, paths: Paths, device: str, interfaces: Sequence[str]) -> set[str]: ...


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


def render_with_policy(change: Change, asn: int | None, cluster: str, interfaces: Sequence[str], *,
                       policy: PolicySyntax, **renderers: Callable[..., list[str]]) -> list[str]:
    """The lines for one change: address groups and policy rules by `policy` (rules applied to the pod-facing
    `interfaces`), the other kinds by the platform's renderers."""
    before, after = change.before, change.after
    if isinstance(before or after, AddressGroup):
        return policy.group_lines(before, after)  # type: ignore[arg-type]
    if isinstance(before or after, PolicyRule):
        lines = policy.rule_lines(before, interfaces, delete=True) if isinstance(before, PolicyRule) else []
        return lines + (policy.rule_lines(after, interfaces) if isinstance(after, PolicyRule) else [])
    return render_change_with(change, asn, cluster, **renderers)


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



def peerings_from(attrs: NeighborAttributes, asn: int, device: str, *, max_prefix: str) -> tuple[list[BgpPeering],
                                                                                                  set[str]]:
    """Owned peerings (description starting `fabric-intent:`) and the keys of the others; `max_prefix` is the
    platform's keyword for the prefix limit. Peer groups and prefix peers are skipped."""
    owned, foreign = [], set()
    for (vrf, address), seen in attrs.items():
        neighbor = ip_or_none(address)
        if neighbor is None:
            continue
        if not seen.get("description", "").startswith(DESCRIPTION_PREFIX):
            foreign.add(cli.key_of(BgpPeering, device=device, neighbor=neighbor))
            continue
        owned.append(BgpPeering(
            device=device, vrf=vrf, neighbor=neighbor, remote_as=int(seen.get("remote-as", "0")), local_as=asn,
            description=seen["description"], prefix_list=seen.get("prefix-list", "").removesuffix(" in"),
            max_prefix=int((seen.get(max_prefix) or "0").split()[0]), authenticated="password" in seen))
    return owned, foreign


ParseFound = Callable[[Paths, str], tuple[Sequence[DeviceObject], set[str]]]


def parse_owned_with(paths: Paths, device: str, interfaces: Sequence[str], *, policy: PolicySyntax,
                     routes: ParseFound, neighbors: ParseFound, vrfs: ParseFound) -> tuple[list[DeviceObject],
                                                                                           frozenset[str]]:
    """Every owned object of a running configuration, and the keys hand-made configuration (including a
    hand-made policy on a pod-facing interface) occupies, from the platform's parsers."""
    owned_routes, foreign_routes = routes(paths, device)
    peers, foreign_peers = neighbors(paths, device)
    owned_vrfs, foreign_vrfs = vrfs(paths, device)
    objects: list[DeviceObject] = [*owned_vrfs, *parse_prefix_lists(paths, device), *peers, *owned_routes,
                                   *policy.parse_groups(paths, device), *policy.parse_rules(paths, device)]
    taken = policy.drop_rule_keys(paths, device, interfaces)
    return objects, frozenset(foreign_routes | foreign_peers | foreign_vrfs | taken)

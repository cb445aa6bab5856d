"""A NetworkPolicy's spec, read into typed parts the compiler works with.

The rules are those of `networking.k8s.io/v1`: `policyTypes` defaults to Ingress, plus Egress
when the spec has egress rules; a missing or empty `from`/`to` means every peer, missing or empty
`ports` every port; a port's protocol defaults to TCP; `endPort` needs a numeric port at or below
it; an `ipBlock` peer stands alone and its `except` CIDRs lie inside its `cidr`. Anything the API
server would refuse is refused here too, naming the policy and the field.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from intent.cluster import NetworkPolicy
from intent.policy.selectors import EVERYTHING, Selector, SelectorError, parse_selector

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
PROTOCOLS = ("TCP", "UDP", "SCTP")
DIRECTIONS = ("Ingress", "Egress")


class SpecError(ValueError):
    """Internal: one field of one policy is wrong (the caller names the policy)."""


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One `ports[]` entry: a protocol and a number, a range, a named port, or (port None) every port."""

    index: int
    protocol: str
    port: int | str | None = None
    end_port: int | None = None


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """One `from[]`/`to[]` entry: pods (namespace and pod selectors ANDed) or an ipBlock."""

    index: int
    namespaces: Selector | None = None  # None: the policy's own namespace
    pods: Selector = EVERYTHING
    cidr: IPNetwork | None = None
    excepts: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One ingress or egress rule; `peers`/`ports` None means every peer / every port."""

    index: int
    peers: tuple[PeerSpec, ...] | None
    ports: tuple[PortSpec, ...] | None


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A parsed policy; `ingress`/`egress` is None when the policy does not isolate that direction."""

    namespace: str
    name: str
    pods: Selector
    ingress: tuple[RuleSpec, ...] | None
    egress: tuple[RuleSpec, ...] | None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_policy(policy: NetworkPolicy) -> PolicySpec:
    """Parse one NetworkPolicy; raises SpecError with the field path on anything invalid."""
    spec = policy.spec
    try:
        pods = parse_selector(spec.get("podSelector"), "spec.podSelector")
    except SelectorError as exc:
        raise SpecError(str(exc)) from None
    types = policy_types(spec)
    ingress = _rules(spec.get("ingress"), "ingress", "from") if "Ingress" in types else None
    egress = _rules(spec.get("egress"), "egress", "to") if "Egress" in types else None
    return PolicySpec(policy.namespace, policy.name, pods, ingress, egress)


def policy_types(spec: dict[str, Any] | Any) -> tuple[str, ...]:
    """`spec.policyTypes`, or its default: Ingress, and Egress if the spec has egress rules."""
    given = spec.get("policyTypes")
    if given is None or given == []:
        return ("Ingress", "Egress") if spec.get("egress") else ("Ingress",)
    if not isinstance(given, list) or any(t not in DIRECTIONS for t in given):
        raise SpecError(f"spec.policyTypes {given!r} may only hold Ingress and Egress")
    return tuple(t for t in DIRECTIONS if t in given)


def _rules(value: Any, field: str, peers_field: str) -> tuple[RuleSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SpecError(f"spec.{field} must be a list")
    rules = []
    for i, rule in enumerate(value):
        where = f"spec.{field}[{i}]"
        if rule is None:
            rule = {}
        if not isinstance(rule, dict):
            raise SpecError(f"{where} must be a mapping")
        peers = rule.get(peers_field) or None
        ports = rule.get("ports") or None
        rules.append(RuleSpec(i, _peers(peers, f"{where}.{peers_field}"), _ports(ports, f"{where}.ports")))
    return tuple(rules)


def _peers(value: Any, where: str) -> tuple[PeerSpec, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise SpecError(f"{where} must be a list")
    return tuple(_peer(i, p, f"{where}[{i}]") for i, p in enumerate(value))


def _peer(index: int, peer: Any, where: str) -> PeerSpec:
    if not isinstance(peer, dict):
        raise SpecError(f"{where} must be a mapping")
    unknown = sorted(set(peer) - {"podSelector", "namespaceSelector", "ipBlock"})
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown)}")
    if "ipBlock" in peer:
        if len(peer) > 1:
            raise SpecError(f"{where}: ipBlock may not be combined with podSelector or namespaceSelector")
        cidr, excepts = _ip_block(peer["ipBlock"], f"{where}.ipBlock")
        return PeerSpec(index, cidr=cidr, excepts=excepts)
    if not peer:
        raise SpecError(f"{where}: a peer needs podSelector, namespaceSelector or ipBlock")
    try:
        namespaces = parse_selector(peer["namespaceSelector"], f"{where}.namespaceSelector") \
            if "namespaceSelector" in peer else None
        pods = parse_selector(peer.get("podSelector"), f"{where}.podSelector")
    except SelectorError as exc:
        raise SpecError(str(exc)) from None
    return PeerSpec(index, namespaces=namespaces, pods=pods)


def _ip_block(value: Any, where: str) -> tuple[IPNetwork, tuple[IPNetwork, ...]]:
    if not isinstance(value, dict) or not isinstance(value.get("cidr"), str):
        raise SpecError(f"{where}.cidr is required (a CIDR string)")
    cidr = _network(value["cidr"], f"{where}.cidr")
    excepts = value.get("except") or []
    if not isinstance(excepts, list):
        raise SpecError(f"{where}.except must be a list")
    parsed = []
    for i, text in enumerate(excepts):
        net = _network(text, f"{where}.except[{i}]")
        if net.version != cidr.version or not net.subnet_of(cidr) or net == cidr:  # type: ignore[arg-type]
            raise SpecError(f"{where}.except[{i}]: {net} is not strictly inside cidr {cidr}")
        parsed.append(net)
    return cidr, tuple(parsed)


def _network(text: Any, where: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError as exc:
        raise SpecError(f"{where}: {text!r} is not a valid CIDR ({exc})") from None


def _ports(value: Any, where: str) -> tuple[PortSpec, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise SpecError(f"{where} must be a list")
    return tuple(_port(i, p, f"{where}[{i}]") for i, p in enumerate(value))


def _port(index: int, entry: Any, where: str) -> PortSpec:
    if not isinstance(entry, dict):
        raise SpecError(f"{where} must be a mapping")
    protocol = entry.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise SpecError(f"{where}.protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    port, end = entry.get("port"), entry.get("endPort")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or (port is not None and not isinstance(port, (int, str))):
        raise SpecError(f"{where}.port {port!r} must be a number or a port name")
    if isinstance(port, int) and not 1 <= port <= 65535:
        raise SpecError(f"{where}.port {port} is outside 1-65535")
    if isinstance(port, str) and not port:
        raise SpecError(f"{where}.port must not be empty")
    if end is not None:
        if not isinstance(port, int):
            raise SpecError(f"{where}.endPort needs a numeric port (got port {port!r})")
        if isinstance(end, bool) or not isinstance(end, int) or not port <= end <= 65535:
            raise SpecError(f"{where}.endPort {end!r} must be a number from port ({port}) to 65535")
    return PortSpec(index, protocol, port, end)

"""Evaluate the compiled rule set for one connection, exactly as an enforcing device would.

It reads the same `AddressGroup` and `PolicyRule` objects the drivers push, not the policies, so
a verdict here tests the compiler. A connection passes the egress stage (the source's policies)
and the ingress stage (the destination's); in each, the first matching rule decides, accepts
before the drop, and a connection no rule matches passes (its pod is not isolated that way).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from intent.model import AddressGroup, PolicyRule, SourceRef

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
STAGES = ("egress", "ingress")


@dataclass(frozen=True, slots=True)
class StageVerdict:
    """One stage's decision: `accept`/`drop` by `rule`, or `pass` when no rule matched."""

    stage: str
    decision: str
    rule: PolicyRule | None = None

    @property
    def allowed(self) -> bool:
        return self.decision != "drop"

    @property
    def sources(self) -> tuple[SourceRef, ...]:
        return self.rule.provenance if self.rule is not None else ()


@dataclass(frozen=True, slots=True)
class Verdict:
    egress: StageVerdict
    ingress: StageVerdict

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed


class RuleTable:
    """A device's policy configuration, ready to evaluate connections against."""

    def __init__(self, groups: Iterable[AddressGroup], rules: Iterable[PolicyRule]) -> None:
        self._addresses: dict[str, frozenset[IPAddress]] = {}
        self._prefixes: dict[str, tuple[IPNetwork, ...]] = {}
        for group in groups:
            self._addresses[group.name] = frozenset(group.addresses)
            self._prefixes[group.name] = tuple(group.prefixes)
        ordered = sorted(rules, key=lambda r: r.action == "drop")  # stable: accepts first, as devices hold them
        self._stages = {stage: [r for r in ordered if r.stage == stage] for stage in STAGES}
        missing = sorted({g for r in ordered for g in (r.src, r.dst) if g is not None} - set(self._addresses))
        if missing:
            raise ValueError(f"rules name address groups that are not defined: {', '.join(missing)}")

    def contains(self, group: str | None, ip: IPAddress) -> bool:
        if group is None:
            return True
        return ip in self._addresses[group] or any(ip.version == p.version and ip in p for p in self._prefixes[group])

    def _matches(self, rule: PolicyRule, src: IPAddress, dst: IPAddress, protocol: str, port: int) -> bool:
        if rule.protocol is not None and rule.protocol != protocol:
            return False
        if rule.ports is not None and not rule.ports[0] <= port <= rule.ports[1]:
            return False
        return self.contains(rule.src, src) and self.contains(rule.dst, dst)

    def stage(self, stage: str, src: IPAddress, dst: IPAddress, protocol: str, port: int) -> StageVerdict:
        for rule in self._stages[stage]:
            if self._matches(rule, src, dst, protocol, port):
                return StageVerdict(stage, rule.action, rule)
        return StageVerdict(stage, "pass")

    def evaluate(self, src: IPAddress, dst: IPAddress, protocol: str, port: int) -> Verdict:
        return Verdict(self.stage("egress", src, dst, protocol, port), self.stage("ingress", src, dst, protocol, port))


def evaluate(groups: Iterable[AddressGroup], rules: Iterable[PolicyRule], src: IPAddress, dst: IPAddress,
             protocol: str, port: int) -> Verdict:
    """One connection against one device's policy configuration."""
    return RuleTable(groups, rules).evaluate(src, dst, protocol, port)

"""Address groups: the sets of IPs that policy rules match on, named by what selects them.

A group is defined by a `GroupSpec` (which pods, or which CIDR block) and named by a hash of
that definition, so the same selector written in two policies is one group, and a group keeps its
name however its membership changes. Pod churn changes members, never names.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from intent.cluster import Pod
from intent.policy.selectors import EVERYTHING, Selector

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ISOLATED = {"ingress": "FI-ISOLATED-IN", "egress": "FI-ISOLATED-OUT"}
GROUP_PREFIX = "FI-G-"


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """What selects a group's members.

    Pod groups: pods in `namespace` (or in the namespaces `namespaces` selects) that `pods`
    selects; `within` keeps only pod IPs inside a CIDR block (named ports towards an ipBlock);
    `named_port` (name, protocol, number) keeps only pods whose container port of that name and
    protocol is that number. CIDR groups: `cidr` minus `excepts`, whoever holds the addresses.
    Isolation groups (`isolated` = ingress/egress): every pod some policy isolates that way.
    """

    namespace: str | None = None
    namespaces: Selector | None = None
    pods: Selector = EVERYTHING
    cidr: IPNetwork | None = None
    excepts: tuple[IPNetwork, ...] = ()
    within: IPNetwork | None = None
    named_port: tuple[str, str, int] | None = None
    isolated: str | None = None

    @property
    def is_cidr(self) -> bool:
        return self.cidr is not None

    @property
    def name(self) -> str:
        if self.isolated:
            return ISOLATED[self.isolated]
        digest = hashlib.sha256(repr(self).encode()).hexdigest()[:10]
        return f"{GROUP_PREFIX}{digest}"

    def describe(self) -> str:
        if self.isolated:
            return f"pods isolated for {self.isolated}"
        if self.cidr is not None:
            tail = f" except {', '.join(map(str, self.excepts))}" if self.excepts else ""
            return f"ipBlock {self.cidr}{tail}"
        where = f"namespace {self.namespace}" if self.namespace is not None else f"namespaces [{self.namespaces}]"
        text = f"pods [{self.pods}] in {where}"
        if self.within is not None:
            text += f" with IPs in {self.within}" + (f" except {', '.join(map(str, self.excepts))}"
                                                     if self.excepts else "")
        if self.named_port is not None:
            name, protocol, number = self.named_port
            text += f" whose port {name}/{protocol} is {number}"
        return text

    def base(self) -> GroupSpec:
        """The group without its named-port narrowing."""
        return GroupSpec(self.namespace, self.namespaces, self.pods, self.cidr, self.excepts, self.within)


def cidr_prefixes(cidr: IPNetwork, excepts: tuple[IPNetwork, ...]) -> tuple[IPNetwork, ...]:
    """`cidr` with the `excepts` cut out, as the fewest prefixes (what an ACL or nft set can hold)."""
    remaining: list[IPNetwork] = [cidr]
    for hole in sorted(excepts):
        cut: list[IPNetwork] = []
        for net in remaining:
            if hole.subnet_of(net):  # type: ignore[arg-type]
                cut += list(net.address_exclude(hole))  # type: ignore[arg-type]
            elif not net.subnet_of(hole):  # type: ignore[arg-type]
                cut.append(net)
        remaining = cut
    return tuple(sorted(remaining, key=lambda n: (n.version, n)))  # type: ignore[arg-type,return-value]


def in_block(ip: IPAddress, cidr: IPNetwork, excepts: tuple[IPNetwork, ...]) -> bool:
    return ip.version == cidr.version and ip in cidr and not any(ip in e for e in excepts)


def enforceable(pod: Pod) -> bool:
    """Pods policy applies to: with an IP, not on the host network, not finished."""
    return bool(pod.ips) and not pod.host_network and pod.phase not in ("Succeeded", "Failed")


def resolve_port(pod: Pod, name: str, protocol: str) -> int | None:
    """The number of the pod's container port called `name` with `protocol`, if it has one."""
    return next((p.port for p in pod.ports if p.name == name and p.protocol == protocol), None)

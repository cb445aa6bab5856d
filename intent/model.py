"""The intent graph: what the fabric must hold, in a network engineer's words.

Every object is a frozen pydantic model with a stable `key`, the `devices` it lands on and its
`provenance` (the Kubernetes objects and fields it came from). Two families:

* logical objects (`PodSubnet`, `NodeAttachment`, `ServiceVip`) explain the fabric; they hold no
  configuration of their own;
* realized objects (`Vrf`, `PrefixList`, `BgpPeering`, `StaticRoute`, and for NetworkPolicy
  enforcement `AddressGroup` and `PolicyRule`) are configuration on one device; drivers observe
  and change exactly these.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from intent.errors import IntentError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
OWNER = "fabric-intent"
NAME_PREFIX = "FI-"
DESCRIPTION_PREFIX = "fabric-intent:"


def ip_text(ip: IPAddress | IPNetwork) -> str:
    """`str(ip)`, remembered by identity. ipaddress formats in Python, and a plan formats the same
    few thousand addresses and prefixes a hundred thousand times (keys, summaries, native lines)."""
    hit = _IP_TEXT.get(id(ip))
    if hit is not None and hit[0] is ip:
        return hit[1]
    if len(_IP_TEXT) >= 100_000:
        _IP_TEXT.clear()
    text = str(ip)
    _IP_TEXT[id(ip)] = (ip, text)  # holding `ip` keeps its id from being reused while it is remembered
    return text


_IP_TEXT: dict[int, tuple[object, str]] = {}


class SourceRef(BaseModel):
    """One Kubernetes object (and field) an intent object came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    name: str
    namespace: str | None = None
    field: str | None = None
    detail: str | None = None

    def __str__(self) -> str:
        who = f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"
        text = f"{who} .{self.field}" if self.field else who
        return f"{text} ({self.detail})" if self.detail else text


class IntentObject(BaseModel):
    """Base of every intent object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    realized: ClassVar[bool] = False
    provenance: tuple[SourceRef, ...] = ()

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def devices(self) -> tuple[str, ...]:
        raise NotImplementedError

    def describe(self) -> str:
        """A short phrase for reports: `static route 10.244.3.0/24 via 192.168.1.13`."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The configuration this object stands for: everything but provenance, JSON-ready."""
        return self.model_dump(mode="json", exclude={"provenance"})


class DeviceObject(IntentObject):
    """An intent object that is configuration on one device."""

    realized: ClassVar[bool] = True
    device: str
    if TYPE_CHECKING:  # every concrete kind declares `kind` as a Literal field
        kind: str

    @property
    def devices(self) -> tuple[str, ...]:
        return (self.device,)


class PodSubnet(IntentObject):
    kind: Literal["pod-subnet"] = "pod-subnet"
    node: str
    prefix: IPNetwork
    leaves: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"pod-subnet:{ip_text(self.prefix)}"

    @property
    def devices(self) -> tuple[str, ...]:
        return self.leaves

    def describe(self) -> str:
        return f"pod subnet {ip_text(self.prefix)} of node {self.node}"


class NodeAttachment(IntentObject):
    kind: Literal["node-attachment"] = "node-attachment"
    node: str
    rack: str
    address: IPAddress
    leaves: tuple[str, ...]
    routing_mode: Literal["static", "bgp"]

    @property
    def key(self) -> str:
        return f"node-attachment:{self.node}"

    @property
    def devices(self) -> tuple[str, ...]:
        return self.leaves

    def describe(self) -> str:
        return f"node {self.node} at {self.address} on {', '.join(self.leaves)} ({self.routing_mode})"


class ServiceVip(IntentObject):
    kind: Literal["service-vip"] = "service-vip"
    address: IPAddress
    service: str  # namespace/name
    traffic_policy: Literal["Cluster", "Local"]
    nodes: tuple[str, ...]  # nodes that announce it
    leaves: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"service-vip:{ip_text(self.address)}"

    @property
    def devices(self) -> tuple[str, ...]:
        return self.leaves

    def describe(self) -> str:
        return f"service VIP {ip_text(self.address)} of {self.service} via {len(self.nodes)} node(s)"


class Vrf(DeviceObject):
    kind: Literal["vrf"] = "vrf"
    name: str

    @property
    def key(self) -> str:
        return f"vrf:{self.device}:{self.name}"

    def describe(self) -> str:
        return f"vrf {self.name}"


class PrefixListEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    action: Literal["permit", "deny"] = "permit"
    prefix: IPNetwork
    le: int | None = None

    def __str__(self) -> str:
        return f"seq {self.seq} {self.action} {ip_text(self.prefix)}" + (f" le {self.le}" if self.le else "")


class PrefixList(DeviceObject):
    kind: Literal["prefix-list"] = "prefix-list"
    name: str = Field(pattern=rf"^{NAME_PREFIX}")
    entries: tuple[PrefixListEntry, ...]

    @field_validator("entries")
    @classmethod
    def _in_seq_order(cls, entries: tuple[PrefixListEntry, ...]) -> tuple[PrefixListEntry, ...]:
        """Entries are evaluated by seq, so seq order is their one order (a device may list them otherwise)."""
        seqs = sorted(e.seq for e in entries)
        duplicates = sorted({s for s, t in zip(seqs, seqs[1:], strict=False) if s == t})
        if duplicates:
            raise ValueError(f"seq {', '.join(map(str, duplicates))} is used by more than one entry")
        return tuple(sorted(entries, key=lambda e: e.seq))

    @property
    def key(self) -> str:
        return f"prefix-list:{self.device}:{self.name}"

    def describe(self) -> str:
        count = len(self.entries)
        return f"prefix-list {self.name} ({count} entr{'y' if count == 1 else 'ies'})"


class BgpPeering(DeviceObject):
    kind: Literal["bgp-peering"] = "bgp-peering"
    vrf: str
    neighbor: IPAddress
    remote_as: int
    local_as: int | None
    description: str = Field(pattern=rf"^{DESCRIPTION_PREFIX}")
    prefix_list: str
    max_prefix: int
    authenticated: bool = False

    @property
    def key(self) -> str:
        return f"bgp-peering:{self.device}:{ip_text(self.neighbor)}"

    def describe(self) -> str:
        return f"bgp neighbor {ip_text(self.neighbor)} remote-as {self.remote_as}"


class StaticRoute(DeviceObject):
    kind: Literal["static-route"] = "static-route"
    vrf: str
    prefix: IPNetwork
    next_hop: IPAddress
    tag: int

    @property
    def key(self) -> str:
        return f"static-route:{self.device}:{ip_text(self.prefix)}@{ip_text(self.next_hop)}"

    def describe(self) -> str:
        return f"static route {ip_text(self.prefix)} via {ip_text(self.next_hop)}"


class AddressGroup(DeviceObject):
    """A named set of IPs policy rules match on: pod IPs (`addresses`) or ipBlock CIDRs (`prefixes`)."""

    kind: Literal["address-group"] = "address-group"
    name: str = Field(pattern=rf"^{NAME_PREFIX}")
    description: str
    addresses: tuple[IPAddress, ...] = ()
    prefixes: tuple[IPNetwork, ...] = ()

    @property
    def key(self) -> str:
        return f"address-group:{self.device}:{self.name}"

    def describe(self) -> str:
        count = len(self.addresses) + len(self.prefixes)
        return f"address group {self.name} ({count} member{'' if count == 1 else 's'}: {self.description})"


class PolicyRule(DeviceObject):
    """One compiled NetworkPolicy rule. A stage (ingress: the destination pod's policies, egress: the
    source pod's) evaluates its `accept` rules, then its `drop` rule; a connection must pass both."""

    kind: Literal["policy-rule"] = "policy-rule"
    name: str = Field(pattern=rf"^{NAME_PREFIX}")
    stage: Literal["ingress", "egress"]
    action: Literal["accept", "drop"]
    src: str | None = None  # address group; None: any
    dst: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None  # None: any protocol
    ports: tuple[int, int] | None = None  # first and last destination port; None: any

    @property
    def key(self) -> str:
        return f"policy-rule:{self.device}:{self.name}"

    def describe(self) -> str:
        service = (self.protocol or "any").lower() + (
            "" if self.ports is None else f"/{self.ports[0]}" + (
                f"-{self.ports[1]}" if self.ports[1] != self.ports[0] else ""))
        return f"{self.stage} {self.action} {self.src or 'any'} -> {self.dst or 'any'} {service}"


AnyIntent = Annotated[
    PodSubnet | NodeAttachment | ServiceVip | Vrf | PrefixList | BgpPeering | StaticRoute | AddressGroup
    | PolicyRule,
    Field(discriminator="kind"),
]
Realized = Annotated[Vrf | PrefixList | BgpPeering | StaticRoute | AddressGroup | PolicyRule,
                     Field(discriminator="kind")]

#: Order in which realized kinds are created; deletions run in reverse (a neighbour before the
#: prefix-list it references, routes before their VRF, policy rules before their address groups).
APPLY_ORDER: dict[str, int] = {"vrf": 0, "prefix-list": 1, "bgp-peering": 2, "static-route": 3,
                               "address-group": 4, "policy-rule": 5}


class IntentGraph(BaseModel):
    """The validated, key-indexed set of intent objects for one cluster on one fabric."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fabric: str
    cluster: str
    objects: tuple[AnyIntent, ...]
    warnings: tuple[str, ...] = ()
    _index: dict[str, IntentObject] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        # A key formats IP addresses and a graph can hold 100,000 objects: a builder that has the
        # keys already passes them, `model_validate(..., context={"keys": [o.key for o in objects]})`.
        keys = context.get("keys") if isinstance(context, dict) else None
        if keys is None or len(keys) != len(self.objects):
            keys = [obj.key for obj in self.objects]
        index: dict[str, IntentObject] = {}
        for key, obj in zip(keys, self.objects, strict=False):
            if key in index:
                raise IntentError(f"two intent objects share the key {key}")
            index[key] = obj
        self._index = index

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __getitem__(self, key: str) -> IntentObject:
        return self._index[key]

    def __len__(self) -> int:
        return len(self.objects)

    def get(self, key: str) -> IntentObject | None:
        return self._index.get(key)

    def keys(self) -> Iterable[str]:
        return self._index.keys()

    def items(self) -> Iterable[tuple[str, IntentObject]]:
        """(key, object) in graph order, without computing a key again."""
        return self._index.items()

    def realized(self) -> Iterator[DeviceObject]:
        return (o for o in self.objects if isinstance(o, DeviceObject))

    def for_device(self, device: str) -> list[DeviceObject]:
        """The configuration one device must hold."""
        return [o for o in self.realized() if o.device == device]

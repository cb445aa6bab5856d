"""The fabric inventory: switches, racks, how nodes attach, routing and VIP options.

Validated with pydantic; `parse_inventory` turns every validation failure into a sentence naming
the field (`racks[1].node_subnets[0]: '192.168.300.0/24' is not a valid IP network`).
Credentials are references (environment variable or file), never values: nothing secret can be
written into an inventory, so nothing secret can leak from one into a report.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from intent.errors import InventoryError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RoutingMode = Literal["static", "bgp"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRef(_Model):
    """Where a secret lives: an environment variable or a file. The value is read only by a driver."""

    env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def __str__(self) -> str:
        return f"env:{self.env}" if self.env else f"file:{self.file}"


class Credentials(_Model):
    username: str | None = None
    password: SecretRef | None = None
    private_key: SecretRef | None = None


class Management(_Model):
    host: str = Field(min_length=1)
    port: int = Field(22, ge=1, le=65535)


class Switch(_Model):
    """One switch (or controller-managed device) of the fabric."""

    name: str = Field(pattern=NAME_PATTERN)
    role: Literal["leaf", "spine", "border"]
    driver: str = Field("sim", min_length=1)
    platform: str | None = None
    management: Management | None = None
    credentials: Credentials | None = None
    asn: int | None = Field(None, ge=1, le=4294967295)
    loopback: IPAddress | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class Rack(_Model):
    """A rack: its leaf switch(es), the subnet(s) node fabric addresses live in, how nodes are matched."""

    name: str = Field(pattern=NAME_PATTERN)
    leaves: tuple[str, ...] = Field(min_length=1)
    node_subnets: tuple[IPNetwork, ...] = Field(min_length=1)
    label_value: str | None = None  # value of the fabric's rack_label; defaults to the rack name
    routing_mode: RoutingMode | None = None  # overrides routing.mode for this rack
    node_asn: int | None = Field(None, ge=1, le=4294967295)  # for bgp.node_asn.scheme per-rack


class Attachment(_Model):
    """An explicit attachment of one node, overriding label matching and address discovery."""

    node: str = Field(min_length=1)
    rack: str
    address: IPAddress | None = None


class RoutingOptions(_Model):
    mode: RoutingMode = "static"
    route_tag: int = Field(64512, ge=1, le=4294967295)  # marks static routes fabric-intent owns
    redistribute_static: bool = True


class NodeAsn(_Model):
    """How nodes' BGP ASNs are chosen: one for all, one per rack (`Rack.node_asn`), or base + index."""

    scheme: Literal["fixed", "per-rack", "per-node"] = "fixed"
    asn: int | None = Field(64512, ge=1, le=4294967295)
    base: int | None = Field(None, ge=1, le=4294967295)


class BgpOptions(_Model):
    node_asn: NodeAsn = NodeAsn()
    max_prefix: int = Field(100, ge=1)
    password: SecretRef | None = None


class VipOptions(_Model):
    advertise: bool = True
    pools: tuple[IPNetwork, ...] = ()  # LoadBalancer IPs outside every pool are not advertised; empty = any
    cluster_policy_nodes: Literal["endpoints", "all"] = "endpoints"


class NodeAddressOptions(_Model):
    """Which `status.addresses` entry is the node's fabric-facing IP: the first of these types."""

    types: tuple[str, ...] = ("InternalIP",)


class FabricInventory(_Model):
    """The whole inventory file."""

    fabric: str = Field(pattern=NAME_PATTERN)
    cluster: str = Field(pattern=NAME_PATTERN)
    vrf: str = Field("default", pattern=NAME_PATTERN)
    routing: RoutingOptions = RoutingOptions()
    bgp: BgpOptions = BgpOptions()
    vips: VipOptions = VipOptions()
    node_address: NodeAddressOptions = NodeAddressOptions()
    rack_label: str | None = "topology.kubernetes.io/zone"
    unattached_nodes: Literal["error", "warn"] = "error"
    switches: tuple[Switch, ...] = Field(min_length=1)
    racks: tuple[Rack, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    drivers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("switches")
    @classmethod
    def _unique_switches(cls, switches: tuple[Switch, ...]) -> tuple[Switch, ...]:
        _no_duplicates([s.name for s in switches], "switch")
        return switches

    @model_validator(mode="after")
    def _consistent(self) -> FabricInventory:
        problems = _rack_problems(self) + _attachment_problems(self) + _bgp_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def switch(self, name: str) -> Switch:
        return next(s for s in self.switches if s.name == name)

    def rack(self, name: str) -> Rack:
        return next(r for r in self.racks if r.name == name)

    def routing_mode(self, rack: Rack) -> RoutingMode:
        return rack.routing_mode or self.routing.mode


def _no_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} is defined twice")
        seen.add(name)


def _rack_problems(inv: FabricInventory) -> list[str]:
    problems: list[str] = []
    roles = {s.name: s.role for s in inv.switches}
    try:
        _no_duplicates([r.name for r in inv.racks], "rack")
    except ValueError as exc:
        problems.append(str(exc))
    for rack in inv.racks:
        for leaf in rack.leaves:
            if leaf not in roles:
                problems.append(f"rack {rack.name}: leaf {leaf!r} is not a switch of this inventory")
            elif roles[leaf] == "spine":
                problems.append(f"rack {rack.name}: {leaf!r} is a spine; nodes attach to leaf or border switches")
    subnets = sorted((net, rack.name) for rack in inv.racks for net in rack.node_subnets)
    for (a, rack_a), (b, rack_b) in zip(subnets, subnets[1:]):
        if a.version == b.version and a.overlaps(b):
            problems.append(f"node subnet {a} of rack {rack_a} overlaps {b} of rack {rack_b}")
    return problems


def _attachment_problems(inv: FabricInventory) -> list[str]:
    racks = {r.name: r for r in inv.racks}
    problems: list[str] = []
    seen: set[str] = set()
    for att in inv.attachments:
        if att.node in seen:
            problems.append(f"attachment for node {att.node!r} is defined twice")
        seen.add(att.node)
        if att.rack not in racks:
            problems.append(f"attachment of node {att.node}: rack {att.rack!r} is not defined")
    return problems


def _bgp_problems(inv: FabricInventory) -> list[str]:
    if all(inv.routing_mode(r) != "bgp" for r in inv.racks) and inv.routing.mode != "bgp":
        return []
    scheme = inv.bgp.node_asn
    if scheme.scheme == "per-node" and scheme.base is None:
        return ["bgp.node_asn: scheme per-node needs 'base'"]
    if scheme.scheme == "per-rack":
        return [f"rack {r.name}: bgp.node_asn scheme is per-rack but the rack has no node_asn"
                for r in inv.racks if inv.routing_mode(r) == "bgp" and r.node_asn is None]
    if scheme.scheme == "fixed" and scheme.asn is None:
        return ["bgp.node_asn: scheme fixed needs 'asn'"]
    return []


def format_validation_error(error: ValidationError) -> list[str]:
    """One sentence per pydantic error, with its location as a dotted path (`racks[1].leaves`)."""
    lines = []
    for err in error.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = f" (got {value!r})" if err["type"] not in ("missing", "value_error") and not isinstance(
            value, (dict, list)) else ""
        for part in message.splitlines():
            lines.append(f"{path}: {part}{shown}" if path else part)
    return lines


def parse_inventory(data: Any, source: str) -> FabricInventory:
    """Validate an inventory document; every problem is one line starting with `source`."""
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: the fabric inventory must be a mapping, got {type(data).__name__}")
    try:
        return FabricInventory.model_validate(data)
    except ValidationError as exc:
        raise InventoryError([f"{source}: {line}" for line in format_validation_error(exc)]) from None

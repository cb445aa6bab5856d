"""The fabric inventory: switches, racks, how nodes attach, routing and VIP options.

Validated with pydantic; `parse_inventory` turns every validation failure into a sentence naming
the field (`racks[1].node_subnets[0]: '192.168.300.0/24' is not a valid IP network`).
Credentials are references (environment variable or file), never values: nothing secret can be
written into an inventory, so nothing secret can leak from one into a report.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from intent.errors import InventoryError


def _ip_parser(v4: type, v6: type, what: str) -> Callable[[Any], Any]:
    """One clear error per bad address (`'192.168.300.0/24' is not a valid IP network (...)`), not one per family."""
    def parse(value: Any) -> Any:
        if isinstance(value, (v4, v6)):
            return value
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a valid IP {what}")
        try:
            return (v6 if ":" in value else v4)(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid IP {what} ({exc})") from None
    return parse


IPNetwork = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network,
                      BeforeValidator(_ip_parser(ipaddress.IPv4Network, ipaddress.IPv6Network, "network"))]
IPAddress = Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address,
                      BeforeValidator(_ip_parser(ipaddress.IPv4Address, ipaddress.IPv6Address, "address"))]
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


class PolicyOptions(_Model):
    """NetworkPolicy enforcement: the switches that enforce it and how many rules each can hold."""

    enforce_on: tuple[str, ...] = ()  # switch names; empty: policy is not placed on the fabric
    rule_budget: int | None = Field(None, ge=0)  # policy rules a switch can hold (its TCAM share)
    budgets: dict[str, int] = Field(default_factory=dict)  # per-switch overrides of rule_budget


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
    policy: PolicyOptions = PolicyOptions()

    @model_validator(mode="after")
    def _consistent(self) -> FabricInventory:
        problems = (_duplicates([s.name for s in self.switches], "switches", "switch")
                    + _rack_problems(self) + _attachment_problems(self) + _bgp_problems(self)
                    + _policy_problems(self))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def switch(self, name: str) -> Switch:
        return next(s for s in self.switches if s.name == name)

    def rack(self, name: str) -> Rack:
        return next(r for r in self.racks if r.name == name)

    def routing_mode(self, rack: Rack) -> RoutingMode:
        return rack.routing_mode or self.routing.mode


def _duplicates(names: list[str], path: str, what: str) -> list[str]:
    """`switches[3].name: switch 'leaf-a1' is defined twice (first at switches[1])`, once per repeat."""
    first: dict[str, int] = {}
    problems: list[str] = []
    for index, name in enumerate(names):
        if name in first:
            problems.append(f"{path}[{index}].name: {what} {name!r} is defined twice (first at {path}[{first[name]}])")
        first.setdefault(name, index)
    return problems


def _rack_problems(inv: FabricInventory) -> list[str]:
    problems = _duplicates([r.name for r in inv.racks], "racks", "rack")
    roles = {s.name: s.role for s in inv.switches}
    for i, rack in enumerate(inv.racks):
        for j, leaf in enumerate(rack.leaves):
            if leaf not in roles:
                problems.append(
                    f"racks[{i}].leaves[{j}]: {leaf!r} (rack {rack.name}) is not a switch of this inventory")
            elif roles[leaf] == "spine":
                problems.append(f"racks[{i}].leaves[{j}]: {leaf!r} (rack {rack.name}) is a spine; "
                                "nodes attach to leaf or border switches")
    return problems + _label_clashes(inv) + _subnet_overlaps(inv)


def _label_clashes(inv: FabricInventory) -> list[str]:
    """Two racks selected by the same rack-label value: a node could not say which one it is in."""
    seen: dict[str, str] = {}
    problems = []
    for i, rack in enumerate(inv.racks):
        value = rack.label_value or rack.name
        if value in seen and seen[value] != rack.name:  # a duplicated name is reported as such
            problems.append(f"racks[{i}].label_value: rack {rack.name} is selected by {inv.rack_label}={value!r}, "
                            f"as rack {seen[value]} is; give each rack its own label value")
        seen.setdefault(value, rack.name)
    return problems


def _subnet_overlaps(inv: FabricInventory) -> list[str]:
    """Node subnets that overlap an earlier (or wider) one; a wide subnet is compared with every one inside it."""
    ranked = sorted(
        (net.version, int(net.network_address), -int(net.broadcast_address), f"racks[{i}].node_subnets[{j}]",
         str(net), rack.name)
        for i, rack in enumerate(inv.racks) for j, net in enumerate(rack.node_subnets))
    problems: list[str] = []
    reach: tuple[int, int, str, str, str] | None = None  # (version, last address, path, cidr, rack) furthest so far
    for version, first, neg_last, path, cidr, rack in ranked:
        if reach is not None and reach[0] == version and first <= reach[1]:
            problems.append(f"{path}: {cidr} (rack {rack}) overlaps {reach[3]} (rack {reach[4]}) at {reach[2]}")
        if reach is None or reach[0] != version or -neg_last > reach[1]:
            reach = (version, -neg_last, path, cidr, rack)
    return problems


def _attachment_problems(inv: FabricInventory) -> list[str]:
    racks = {r.name for r in inv.racks}
    problems: list[str] = []
    first: dict[str, int] = {}
    for index, att in enumerate(inv.attachments):
        if att.node in first:
            problems.append(f"attachments[{index}].node: node {att.node!r} is already attached at "
                            f"attachments[{first[att.node]}]")
        first.setdefault(att.node, index)
        if att.rack not in racks:
            problems.append(f"attachments[{index}].rack: rack {att.rack!r} (for node {att.node}) is not defined")
    return problems


def _policy_problems(inv: FabricInventory) -> list[str]:
    names = {s.name for s in inv.switches}
    problems = [f"policy.enforce_on[{i}]: {name!r} is not a switch of this inventory"
                for i, name in enumerate(inv.policy.enforce_on) if name not in names]
    problems += [f"policy.budgets.{name}: {name!r} is not a switch of this inventory"
                 for name in inv.policy.budgets if name not in names]
    return problems + [f"policy.budgets.{name}: {budget} is negative" for name, budget in inv.policy.budgets.items()
                       if budget < 0]


def _bgp_problems(inv: FabricInventory) -> list[str]:
    if all(inv.routing_mode(r) != "bgp" for r in inv.racks) and inv.routing.mode != "bgp":
        return []
    scheme = inv.bgp.node_asn
    if scheme.scheme == "per-node" and scheme.base is None:
        return ["bgp.node_asn.base: scheme per-node needs 'base'"]
    if scheme.scheme == "per-rack":
        return [f"racks[{i}].node_asn: bgp.node_asn scheme is per-rack but rack {r.name} has no node_asn"
                for i, r in enumerate(inv.racks) if inv.routing_mode(r) == "bgp" and r.node_asn is None]
    if scheme.scheme == "fixed" and scheme.asn is None:
        return ["bgp.node_asn.asn: scheme fixed needs 'asn'"]
    return []


#: Fields whose input may be a secret typed in by mistake: messages never repeat their value.
SECRET_FIELDS = frozenset({"credentials", "password", "private_key"})


def format_validation_error(error: ValidationError) -> list[str]:
    """One sentence per pydantic error, with its location as a dotted path (`racks[1].leaves`)."""
    lines = []
    errors = error.errors()
    # pydantic also reports a list whose items failed as too short; the item errors say it all.
    failed_lists = {err["loc"][:k] for err in errors for k, part in enumerate(err["loc"]) if isinstance(part, int)}
    for err in errors:
        if err["type"] == "too_short" and err["loc"] in failed_lists:
            continue
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        secret = any(part in SECRET_FIELDS for part in err["loc"])  # never repeat what may be a password
        shown = f" (got {value!r})" if err["type"] not in ("missing", "value_error") and not secret and not isinstance(
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

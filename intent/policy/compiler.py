"""NetworkPolicies -> address groups and rules: the rule set every enforcing device receives.

Two stages, as Kubernetes defines a connection: the **egress** stage applies the source pod's
policies, the **ingress** stage the destination pod's; a connection must pass both. In each stage
the `accept` rules of every policy come first (a union: order among them does not matter), then
one `drop` for the pods isolated in that direction, then everything else passes (pods no policy
selects for that direction are not isolated). Rules name address groups, never pods, so pod churn
changes group members only; a rule's name is a hash of what it matches, so it is stable too.
Identical rules from several policies are one rule carrying each policy's provenance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from intent.cluster import ClusterSnapshot, Pod
from intent.errors import PolicyError
from intent.policy.groups import ISOLATED, GroupSpec
from intent.policy.membership import Membership, MembershipDelta
from intent.policy.selectors import EVERYTHING
from intent.policy.spec import PeerSpec, PolicySpec, PortSpec, RuleSpec, SpecError, parse_policy

RULE_PREFIX = "FI-R-"


@dataclass(frozen=True, slots=True, order=True)
class RuleSource:
    """Where a compiled rule came from: policy, direction, rule index, and peer / port index."""

    policy: str  # namespace/name
    direction: str  # ingress or egress
    rule: int | None  # None: the policy isolates pods for `direction` (the stage's drop)
    peer: int | None = None
    port: int | None = None

    @property
    def field(self) -> str:
        if self.rule is None:
            return "spec.podSelector"
        peers = "from" if self.direction == "ingress" else "to"
        text = f"spec.{self.direction}[{self.rule}]"
        return text + (f".{peers}[{self.peer}]" if self.peer is not None else "")

    @property
    def detail(self) -> str | None:
        return f"ports[{self.port}]" if self.port is not None else None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    stage: str
    action: str
    src: str | None
    dst: str | None
    protocol: str | None
    ports: tuple[int, int] | None
    sources: tuple[RuleSource, ...] = ()

    @property
    def match(self) -> tuple[object, ...]:
        return (self.stage, self.action, self.src, self.dst, self.protocol, self.ports)

    @property
    def name(self) -> str:
        return RULE_PREFIX + hashlib.sha256(repr(self.match).encode()).hexdigest()[:10]


@dataclass
class RuleSet:
    """The compiled policy: groups with their members, and the ordered rules of both stages.

    `membership` is live: `update_pod` changes it in place, so a rule set and the one an update
    returns share it (the rules are immutable).
    """

    membership: Membership
    rules: tuple[CompiledRule, ...]
    policies: int
    templates: list[_Template] = field(default_factory=list, repr=False)

    def referenced_groups(self) -> list[str]:
        names = {g for r in self.rules for g in (r.src, r.dst) if g is not None}
        return sorted(names)


@dataclass(frozen=True, slots=True)
class _Template:
    """A rule before named ports are resolved: `named` is the group whose pods name the port."""

    stage: str
    src: str | None
    dst: str | None
    port: PortSpec | None
    named: str | None
    source: RuleSource


def parse_policies(cluster: ClusterSnapshot) -> list[PolicySpec]:
    """Every policy parsed, in key order; all invalid ones reported at once."""
    specs, problems = [], []
    for key in sorted(cluster.network_policies):
        try:
            specs.append(parse_policy(cluster.network_policies[key]))
        except SpecError as exc:
            problems.append(f"NetworkPolicy {key}: {exc}")
    if problems:
        raise PolicyError(problems)
    return specs


def compile_policies(cluster: ClusterSnapshot) -> RuleSet:
    """Compile every NetworkPolicy of `cluster` over its pods; raises PolicyError on invalid policies."""
    specs = parse_policies(cluster)
    membership = Membership(cluster.namespaces)
    templates = [t for spec in specs for t in _templates(membership, spec)]
    membership.load(cluster.pods)
    return RuleSet(membership, rules_of(membership, templates), len(specs), templates)


def update_pod(ruleset: RuleSet, key: str, pod: Pod | None) -> tuple[MembershipDelta, RuleSet]:
    """One pod added, changed (`pod`) or removed (None): the membership changes, and the rule set.

    The rule set is the same object unless the pod brought a named port number no pod had: only
    then do rules change (one more rule for that number), and they are compiled again.
    """
    delta = ruleset.membership.set_pod(key, pod)
    if not delta.needs_recompile:
        return delta, ruleset
    redo = ruleset.membership.set_pod(key, pod, create=True)  # the pod's IPs are placed already: only new groups
    for name, ips in redo.added.items():
        delta.added.setdefault(name, set()).update(ips)
    rules = rules_of(ruleset.membership, ruleset.templates)
    return delta, RuleSet(ruleset.membership, rules, ruleset.policies, ruleset.templates)


def _templates(m: Membership, spec: PolicySpec) -> list[_Template]:
    target = m.add_group(GroupSpec(namespace=spec.namespace, pods=spec.pods))
    out: list[_Template] = []
    for direction, rules in (("ingress", spec.ingress), ("egress", spec.egress)):
        if rules is None:
            continue
        m.mark_target(direction, target, spec.ref)
        for rule in rules:
            out += _rule_templates(m, spec, direction, target, rule)
    return out


def _rule_templates(m: Membership, spec: PolicySpec, direction: str, target: str, rule: RuleSpec) -> list[_Template]:
    peers: Iterable[PeerSpec | None] = rule.peers if rule.peers is not None else [None]
    ports: Iterable[PortSpec | None] = rule.ports if rule.ports is not None else [None]
    out = []
    for peer in peers:
        peer_group = _peer_group(m, spec.namespace, peer)
        for port in ports:
            source = RuleSource(spec.ref, direction, rule.index, None if peer is None else peer.index,
                                None if port is None else port.index)
            named = None
            if port is not None and isinstance(port.port, str):
                named = target if direction == "ingress" else _named_base(m, spec.namespace, peer)
                m.watch_port(named, port.port, port.protocol)
            src, dst = (peer_group, target) if direction == "ingress" else (target, peer_group)
            out.append(_Template(direction, src, dst, port, named, source))
    return out


def _peer_group(m: Membership, namespace: str, peer: PeerSpec | None) -> str | None:
    if peer is None:
        return None
    if peer.cidr is not None:
        return m.add_group(GroupSpec(cidr=peer.cidr, excepts=peer.excepts))
    if peer.namespaces is None:
        return m.add_group(GroupSpec(namespace=namespace, pods=peer.pods))
    return m.add_group(GroupSpec(namespaces=peer.namespaces, pods=peer.pods))


def _named_base(m: Membership, namespace: str, peer: PeerSpec | None) -> str:
    """The pods an egress rule's named port is looked up on: the peer's pods, or every pod (in the block)."""
    if peer is None:
        return m.add_group(GroupSpec(namespaces=EVERYTHING))
    if peer.cidr is not None:
        return m.add_group(GroupSpec(namespaces=EVERYTHING, within=peer.cidr, excepts=peer.excepts))
    name = _peer_group(m, namespace, peer)
    assert name is not None
    return name


def rules_of(m: Membership, templates: Iterable[_Template]) -> tuple[CompiledRule, ...]:
    """Templates expanded (named ports per number) and merged; accepts, then each stage's drop."""
    merged: dict[tuple[object, ...], tuple[CompiledRule, list[RuleSource]]] = {}
    for t in templates:
        for rule in _expand(m, t):
            merged.setdefault(rule.match, (rule, []))[1].append(t.source)
    ordered: list[CompiledRule] = []
    for stage in ("ingress", "egress"):
        accepts = [replace(rule, sources=tuple(sorted(set(src))))
                   for rule, src in merged.values() if rule.stage == stage]
        ordered += sorted(accepts, key=lambda r: r.name)
        if ISOLATED[stage] in m.specs:
            group = ISOLATED[stage]
            sources = tuple(RuleSource(policy, stage, None) for policy in sorted(m.isolating[stage]))
            ordered.append(CompiledRule(stage, "drop", None if stage == "ingress" else group,
                                        group if stage == "ingress" else None, None, None, sources))
    return tuple(ordered)


def _expand(m: Membership, t: _Template) -> list[CompiledRule]:
    port = t.port
    if port is None:
        return [CompiledRule(t.stage, "accept", t.src, t.dst, None, None)]
    if port.port is None:
        return [CompiledRule(t.stage, "accept", t.src, t.dst, port.protocol, None)]
    if isinstance(port.port, int):
        last = port.end_port if port.end_port is not None else port.port
        return [CompiledRule(t.stage, "accept", t.src, t.dst, port.protocol, (port.port, last))]
    assert t.named is not None  # the destination pods whose port of that name has that number
    return [CompiledRule(t.stage, "accept", t.src, group, port.protocol, (number, number))
            for number, group in m.named_groups(t.named, port.port, port.protocol)]

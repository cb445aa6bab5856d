"""The compiled rule set as device configuration: `AddressGroup` and `PolicyRule` objects.

With `policy.enforce_on` in the inventory, every switch listed receives the whole rule set (each
enforces for the pods behind it; traffic between racks is checked at both ends, which is the
same verdict twice). `policy.rule_budget` (or `policy.budgets[switch]`) caps the rules a switch
can hold; a rule set over it is refused with the count. Without `policy`, nothing is placed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

from intent.cluster import ClusterSnapshot
from intent.errors import Findings, PolicyError
from intent.inventory import FabricInventory
from intent.model import AddressGroup, IntentObject, PolicyRule, SourceRef
from intent.policy.compiler import CompiledRule, RuleSet, compile_policies
from intent.policy.groups import IPAddress, IPNetwork, cidr_prefixes

Stage = Literal["ingress", "egress"]
Action = Literal["accept", "drop"]
Protocol = Literal["TCP", "UDP", "SCTP"]

MAX_GROUP_SOURCES = 10  # provenance shown per group; a shared group may come from thousands of policies


def rule_refs(rule: CompiledRule) -> tuple[SourceRef, ...]:
    """A rule's provenance; a stage's drop names the policies isolating pods, at most MAX_GROUP_SOURCES."""
    refs = [SourceRef(kind="NetworkPolicy", namespace=s.policy.split("/", 1)[0], name=s.policy.split("/", 1)[1],
                      field=s.field, detail=s.detail) for s in rule.sources]
    return _capped(refs, keep_fields=True) if rule.action == "drop" else tuple(refs)


def group_object(ruleset: RuleSet, name: str, device: str, refs: tuple[SourceRef, ...] = ()) -> AddressGroup:
    """One group as it stands now, for `device` (built without validation: valid by construction)."""
    spec = ruleset.membership.specs[name]
    addresses: tuple[IPAddress, ...] = ()
    prefixes: tuple[IPNetwork, ...] = ()
    if spec.cidr is not None:
        prefixes = cidr_prefixes(spec.cidr, spec.excepts)
    else:
        addresses = ruleset.membership.sorted_members(name)
    return AddressGroup.model_construct(device=device, name=name, description=spec.describe(), addresses=addresses,
                                        prefixes=prefixes, provenance=refs)


def rule_object(rule: CompiledRule, device: str) -> PolicyRule:
    return PolicyRule.model_construct(device=device, name=rule.name, stage=cast(Stage, rule.stage),
                                      action=cast(Action, rule.action), src=rule.src, dst=rule.dst,
                                      protocol=cast(Protocol | None, rule.protocol), ports=rule.ports,
                                      provenance=rule_refs(rule))


def device_objects(ruleset: RuleSet, device: str) -> tuple[list[AddressGroup], list[PolicyRule]]:
    """The groups (those rules name) and the rules, in evaluation order, as `device` holds them."""
    rules = [rule_object(r, device) for r in ruleset.rules]
    refs: dict[str, list[SourceRef]] = {}
    for rule in rules:
        for group in (rule.src, rule.dst):
            if group is not None:
                refs.setdefault(group, []).extend(rule.provenance)
    groups = [group_object(ruleset, name, device, _capped(refs[name])) for name in ruleset.referenced_groups()]
    return groups, rules


def _capped(refs: Iterable[SourceRef], keep_fields: bool = False) -> tuple[SourceRef, ...]:
    unique = list(dict.fromkeys(refs if keep_fields else (r.model_copy(update={"field": None, "detail": None})
                                                          for r in refs)))
    if len(unique) <= MAX_GROUP_SOURCES:
        return tuple(unique)
    more = len(unique) - MAX_GROUP_SOURCES
    last = unique[MAX_GROUP_SOURCES - 1].model_copy(update={"detail": f"and {more} more NetworkPolicies"})
    return (*unique[:MAX_GROUP_SOURCES - 1], last)


def policy_objects(cluster: ClusterSnapshot, inventory: FabricInventory, findings: Findings) -> list[IntentObject]:
    """The policy configuration of every enforcing switch; budget overruns become problems."""
    options = inventory.policy
    if not options.enforce_on:
        return []
    try:
        ruleset = compile_policies(cluster)
    except PolicyError as exc:
        findings.problems.extend(exc.problems)
        return []
    objects: list[IntentObject] = []
    for device in options.enforce_on:
        groups, rules = device_objects(ruleset, device)
        budget = options.budgets.get(device, options.rule_budget)
        if budget is not None and len(rules) > budget:
            findings.problems.append(
                f"policy: switch {device} would hold {len(rules)} policy rules ({len(groups)} address groups) "
                f"but its rule budget is {budget}; refusing the plan")
        objects += groups
        objects += rules
    return objects

"""NetworkPolicy on Arista EOS, read back: address groups from `FI-` prefix field-sets, policy rules
from the matches and defaults of the traffic-policies FI-EGRESS / FI-INGRESS (rendering: drivers.policy.eos).
A match is named after its rule, which is checked against what it matches. IPv4 only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from drivers.policy.eos import POLICIES, complement, group_lines, rule_lines
from drivers.ssh import cli_common as cli
from intent.model import NAME_PREFIX, AddressGroup, PolicyRule
from intent.policy.compiler import CompiledRule
from intent.policy.groups import ISOLATED

Paths = list[cli.Path_]

__all__ = ["drop_rule_keys", "group_lines", "parse_groups", "parse_rules", "rule_lines"]

STAGE_OF = {name: stage for stage, (name, _) in POLICIES.items()}
PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "132": "SCTP", "sctp": "SCTP"}


# -- reading back --------------------------------------------------------------------------------------
def parse_groups(paths: Paths, device: str) -> list[AddressGroup]:
    found: dict[str, list[str]] = {}
    for path in paths:
        if path[0] != "traffic-policies" or len(path) < 2 or not path[1].startswith("field-set ipv4 prefix "):
            continue
        name = path[1].split()[3]
        if name.startswith(NAME_PREFIX) and name not in {complement(g) for g in ISOLATED.values()}:
            listed = found.setdefault(name, [])
            if len(path) == 3 and not path[2].startswith("except "):
                listed += path[2].split()
    groups = []
    for name, words in sorted(found.items()):
        prefixes = [ipaddress.IPv4Network(w) for w in words]
        hosts = sorted((p.network_address for p in prefixes if p.prefixlen == 32), key=int)
        others = sorted((p for p in prefixes if p.prefixlen != 32), key=lambda p: (int(p.network_address), p.prefixlen))
        groups.append(AddressGroup(device=device, name=name, description=cli.HELD_DESCRIPTION, addresses=tuple(hosts),
                                   prefixes=tuple(others)))
    return groups


def _rule_of(policy: str, name: str, lines: list[str], device: str) -> PolicyRule:
    fields: dict[str, str] = {}
    for line in lines:
        words = line.split()
        if words[:3] == ["source", "prefix", "field-set"]:
            fields["src"] = words[3]
        elif words[:3] == ["destination", "prefix", "field-set"]:
            fields["dst"] = words[3]
        elif words[0] == "protocol":
            fields["protocol"] = PROTOCOLS[words[1]]
            port = cli.words_after(words, "port")
            if port is not None:
                first, _, last = port.partition("-")
                fields["ports"] = f"{first}-{last or first}"
    ports = tuple(int(p) for p in fields["ports"].split("-")) if "ports" in fields else None
    rule = PolicyRule(device=device, name=name, stage=STAGE_OF[policy], action="accept",  # type: ignore[arg-type]
                      src=fields.get("src"), dst=fields.get("dst"), protocol=fields.get("protocol"),  # type: ignore[arg-type]
                      ports=ports)  # type: ignore[arg-type]
    expected = CompiledRule(rule.stage, "accept", rule.src, rule.dst, rule.protocol, rule.ports).name
    if expected != name:
        raise ValueError(f"match {name} of traffic-policy {policy} does not match what its name says ({expected})")
    return rule


def parse_rules(paths: Paths, device: str) -> list[PolicyRule]:
    matches: dict[tuple[str, str], list[str]] = {}
    for path in paths:
        if path[0] != "traffic-policies" or len(path) < 3 or path[1].split()[-1] not in STAGE_OF:
            continue
        policy, match = path[1].split()[-1], path[2].split()
        matches.setdefault((policy, match[1]), []).extend(path[3:] if len(path) > 3 else [])
    rules = []
    for (policy, name), lines in sorted(matches.items()):
        if name.startswith("FI-R-") and "-REPLY-" not in name:
            rules.append(_rule_of(policy, name, lines, device))
        elif name == "ipv4-all-default" and "drop" in lines:
            stage = STAGE_OF[policy]
            src, dst = (ISOLATED[stage], None) if stage == "egress" else (None, ISOLATED[stage])
            drop = CompiledRule(stage, "drop", src, dst, None, None)
            rules.append(PolicyRule(device=device, name=drop.name, stage=stage, action="drop",  # type: ignore[arg-type]
                                    src=src, dst=dst))
    return rules


def drop_rule_keys(paths: Paths, device: str, interfaces: Sequence[str]) -> set[str]:
    """Keys of the stage drops whose place a hand-made traffic-policy on a pod-facing interface holds."""
    taken = set()
    for path in paths:
        words = path[-1].split()
        if (len(path) == 2 and path[0] in {f"interface {n}" for n in interfaces} and words[:1] == ["traffic-policy"]
                and words[2] not in STAGE_OF):
            stage = "egress" if words[1] == "input" else "ingress"
            src, dst = (ISOLATED[stage], None) if stage == "egress" else (None, ISOLATED[stage])
            name = CompiledRule(stage, "drop", src, dst, None, None).name
            taken.add(cli.key_of(PolicyRule, device=device, name=name))
    return taken

"""NetworkPolicy on Cisco NX-OS: `AddressGroup` as `object-group ip address`, `PolicyRule` as entries of the
stage ACLs `FI-EGRESS` (bound `in` on the pod-facing interfaces) and `FI-INGRESS` (bound `out`).

Every line comes from one change alone, so entries carry sequence numbers derived from the rule's name:

    10                        permit tcp any any established   (replies of allowed TCP connections)
    1000 .. 2e9               the accepts                      (a slot from the rule name's hash)
    2e9 .. 4e9                the UDP/SCTP reply mirrors of each accept, in both ACLs
    4100000000                the stage's drop                 (deny ip addrgroup FI-ISOLATED-... any)
    4200000000                permit ip any any                (pods no policy isolates)

The drop rule brings the ACL's frame (statistics, the two fixed entries, the interface bindings) and
takes it away; the ACL itself stays, as it may hold reply mirrors of the other direction's accepts.
Rule names are hashes of what a rule matches, so the rule read back from an entry has the name the
compiler gives it. NX-OS object-groups hold no description: a group is read back and planned by name
and members (see `cli_common.held_form`). IPv4 only.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence

from drivers.policy.acl import render_entry
from drivers.policy.common import Entry, RenderError, members, replies
from drivers.policy.nxos import NXOS, render_nxos_members
from drivers.ssh import cli_common as cli
from drivers.ssh.cli_common import HELD_DESCRIPTION
from intent.errors import DriverError
from intent.model import NAME_PREFIX, AddressGroup, PolicyRule
from intent.policy.compiler import CompiledRule

Paths = list[cli.Path_]

ACLS = {"egress": ("FI-EGRESS", "in"), "ingress": ("FI-INGRESS", "out")}
STAGE_OF = {acl: stage for stage, (acl, _) in ACLS.items()}
SEQ_ESTABLISHED, SEQ_DROP, SEQ_PASS = 10, 4_100_000_000, 4_200_000_000
FRAME_SEQS = (SEQ_ESTABLISHED, SEQ_DROP, SEQ_PASS)
ACCEPT_SLOTS, REPLY_SLOTS = (1_000, 2_000_000_000), (2_000_000_000, 4_000_000_000)
PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP", "132": "SCTP", "ip": None}


# -- sequence numbers ----------------------------------------------------------------------------------
def _slot(text: str, slots: tuple[int, int]) -> int:
    low, high = slots
    return low + int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) % (high - low)


def accept_seq(rule: PolicyRule) -> int:
    return _slot(rule.name, ACCEPT_SLOTS)


def reply_seq(rule: PolicyRule, protocol: str | None) -> int:
    return _slot(f"{rule.name} reply {protocol}", REPLY_SLOTS)


def sequence_clashes(rules: Iterable[PolicyRule]) -> list[str]:
    """Pairs of accept rules whose entries would share a sequence number (refused: the plan cannot be made)."""
    seen: dict[int, str] = {}
    clashes = []
    for rule in rules:
        if rule.action != "accept":
            continue
        seqs = [accept_seq(rule)] + [reply_seq(rule, e.protocol) for e in replies([rule])]
        for seq in seqs:
            if seen.get(seq, rule.name) != rule.name:
                clashes.append(f"{seen[seq]} and {rule.name} (sequence {seq})")
            seen[seq] = rule.name
    return clashes


# -- groups --------------------------------------------------------------------------------------------
def _ipv4_only(group: AddressGroup) -> None:
    if members(group, 6):
        raise RenderError(f"address group {group.name}: NX-OS policy is rendered for IPv4 only; the group has "
                          "IPv6 members")


def group_lines(before: AddressGroup | None, after: AddressGroup | None) -> list[str]:
    if after is None:
        assert before is not None
        return [f"no object-group ip address {before.name}"]
    _ipv4_only(after)
    old = set(members(before, 4)) if before is not None else set()
    new = set(members(after, 4))
    if before is None:
        return [f"object-group ip address {after.name}"] + [
            f"  {NXOS.member(p)}" for p in members(after, 4)]
    changes = render_nxos_members(after.name, sorted(new - old), sorted(old - new))
    return [f"  {line.strip()}" if line.startswith(" ") else line for line in changes]


# -- rules ---------------------------------------------------------------------------------------------
def _entry(rule: PolicyRule) -> Entry:
    return Entry("permit" if rule.action == "accept" else "deny", rule.src, rule.dst, rule.protocol, rule.ports)


def _line(entry: Entry, seq: int) -> str:
    return "  " + render_entry(NXOS, entry, seq, 4).strip()


def _check(rule: PolicyRule) -> None:
    if rule.protocol == "SCTP" and rule.ports is not None:
        raise RenderError(f"NX-OS ACLs cannot match SCTP ports; rule {rule.name} would open every SCTP port: "
                          "refusing to render")


def _bindings(stage: str, interfaces: Sequence[str], *, delete: bool) -> list[str]:
    acl, direction = ACLS[stage]
    no = "no " if delete else ""
    return [line for name in interfaces for line in (f"interface {name}", f"  {no}ip access-group {acl} {direction}")]


def _drop_lines(rule: PolicyRule, interfaces: Sequence[str], *, delete: bool) -> list[str]:
    """A stage's drop with its ACL's frame: fixed entries and bindings (removed with it)."""
    acl = ACLS[rule.stage][0]
    if delete:  # the ACL stays: it may hold the reply mirrors of the other direction's accepts
        return _bindings(rule.stage, interfaces, delete=True) + [
            f"ip access-list {acl}", "  no statistics per-entry", *(f"  no {seq}" for seq in FRAME_SEQS)]
    if not interfaces:
        raise DriverError(f"policy rule {rule.name} needs the pod-facing interfaces to bind {acl} to: set the "
                          "switch option `policy_interfaces` (e.g. [Vlan100])")
    return [f"ip access-list {acl}", "  statistics per-entry",
            _line(Entry("permit", None, None, "TCP", established=True), SEQ_ESTABLISHED),
            _line(_entry(rule), SEQ_DROP), _line(Entry("permit", None, None, None), SEQ_PASS),
            *_bindings(rule.stage, interfaces, delete=False)]


def rule_lines(rule: PolicyRule, interfaces: Sequence[str], *, delete: bool = False) -> list[str]:
    """The lines that add (or remove) one rule's entries; a drop rule also builds (or removes) its ACL."""
    _check(rule)
    if rule.action == "drop":
        return _drop_lines(rule, interfaces, delete=delete)
    acl, own = ACLS[rule.stage][0], accept_seq(rule)
    lines = [f"ip access-list {acl}", f"  no {own}" if delete else _line(_entry(rule), own)]
    for reply in replies([rule]):
        seq = reply_seq(rule, reply.protocol)
        for other, _ in ACLS.values():
            lines += [f"ip access-list {other}", f"  no {seq}" if delete else _line(reply, seq)]
    return lines


# -- reading back --------------------------------------------------------------------------------------
def _address(words: list[str]) -> tuple[str | None, list[str]]:
    """The group an entry's address names (None for `any`), and the words after it."""
    if words[0] == "any":
        return None, words[1:]
    if words[0] == "addrgroup":
        return words[1], words[2:]
    raise ValueError(f"an owned ACL entry names `{' '.join(words[:2])}`, not an address group or any")


def _ports(words: list[str]) -> tuple[tuple[int, int] | None, list[str]]:
    if words[:1] == ["eq"]:
        return (int(words[1]), int(words[1])), words[2:]
    if words[:1] == ["range"]:
        return (int(words[1]), int(words[2])), words[3:]
    return None, words


def entry_rule(acl: str, line: str, device: str) -> PolicyRule | None:
    """The rule an owned ACL entry stands for, or None (the frame's entries, reply mirrors, statistics)."""
    words = line.split()
    if not words[0].isdigit() or words[1] == "remark":
        return None
    seq = int(words[0])
    if not (ACCEPT_SLOTS[0] <= seq < ACCEPT_SLOTS[1] or seq == SEQ_DROP):
        return None
    action = {"permit": "accept", "deny": "drop"}[words[1]]
    protocol = PROTOCOLS[words[2]]
    src, rest = _address(words[3:])
    _, rest = _ports(rest)
    dst, rest = _address(rest)
    ports, _ = _ports(rest)
    compiled = CompiledRule(STAGE_OF[acl], action, src, dst, protocol, ports)
    return PolicyRule(device=device, name=compiled.name, stage=compiled.stage, action=action,  # type: ignore[arg-type]
                      src=src, dst=dst, protocol=protocol, ports=ports)  # type: ignore[arg-type]


def _member(line: str) -> ipaddress.IPv4Address | ipaddress.IPv4Network | ipaddress.IPv6Network:
    words = line.split()
    if words[0].isdigit():
        words = words[1:]
    if words[0] == "host":
        return ipaddress.IPv4Address(words[1])
    return ipaddress.ip_network(words[0])


def parse_groups(paths: Paths, device: str) -> list[AddressGroup]:
    found: dict[str, list[str]] = {}
    for path in paths:
        words = path[0].split()
        if words[:3] == ["object-group", "ip", "address"] and words[3].startswith(NAME_PREFIX):
            listed = found.setdefault(words[3], [])
            if len(path) == 2:
                listed.append(path[1])
    groups = []
    for name, lines in sorted(found.items()):
        parsed = [_member(line) for line in lines]
        addresses = sorted((m for m in parsed if isinstance(m, ipaddress.IPv4Address)), key=int)
        prefixes = sorted((m for m in parsed if not isinstance(m, ipaddress.IPv4Address)),
                          key=lambda p: (int(p.network_address), p.prefixlen))
        groups.append(AddressGroup(device=device, name=name, description=HELD_DESCRIPTION,
                                   addresses=tuple(addresses), prefixes=tuple(prefixes)))
    return groups


def parse_rules(paths: Paths, device: str) -> list[PolicyRule]:
    rules = []
    for path in paths:
        words = path[0].split()
        if len(path) == 2 and words[:2] == ["ip", "access-list"] and words[2] in STAGE_OF:
            rule = entry_rule(words[2], path[1], device)
            if rule is not None:
                rules.append(rule)
    return rules


def drop_rule_keys(paths: Paths, device: str, interfaces: Sequence[str]) -> set[str]:
    """Keys of the stage drops whose binding a hand-made ACL on a pod-facing interface holds: fabric-intent
    does not replace it (its plan shows the conflict instead)."""
    taken = set()
    for path in paths:
        words = path[-1].split()
        if (len(path) == 2 and path[0] in {f"interface {n}" for n in interfaces}
                and words[:2] == ["ip", "access-group"] and words[2] not in STAGE_OF):
            stage = "egress" if words[3] == "in" else "ingress"
            isolated = "FI-ISOLATED-OUT" if stage == "egress" else "FI-ISOLATED-IN"
            src, dst = (isolated, None) if stage == "egress" else (None, isolated)
            name = CompiledRule(stage, "drop", src, dst, None, None).name
            taken.add(cli.key_of(PolicyRule, device=device, name=name))
    return taken


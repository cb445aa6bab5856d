"""The Cisco NX-OS side of the fake switch: the commands fabric-intent sends, checkpoints and rollback.

Facts carried over from Cisco's NX-OS configuration guides ("Configuring Rollback") and published
transcripts: `checkpoint <name>` snapshots the running configuration (names are unique; a second one
with the same name is refused), `rollback running-config checkpoint <name>` restores it atomically
(the default) and ends `Rollback completed successfully.`, `no checkpoint <name>` deletes it.
`show running-config` starts with `!Command:`, `!Running configuration last done at:` and `!Time:`
lines. Refused lines print a caret line and `% Invalid command at '^' marker.`; `router bgp` needs
`feature bgp` first. Object-groups (`object-group ip address`, numbered members), ACLs (numbered
entries, `statistics per-entry`) and their binding on interfaces (`ip access-group NAME in|out`, one per
direction); binding an ACL whose expanded entries overflow the TCAM (`tcam_limit`) is refused as NX-OS does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from typing import Any

from fake_device import ConfigCli, FakeConnection, FakeSwitch, Grammar, Node, Refused, Rule, block, checked_addresses

NET = r"(?P<net>\S+)"
_PFX = rf"(?P<id>(ip|ipv6) prefix-list \S+ seq \d+) (permit|deny) {NET}( (ge|le) \d+)*"


def _obfuscated(match: re.Match[str]) -> str:
    """NX-OS shows a neighbour password encrypted (`password 3 ...`); never the clear text."""
    return "password 3 " + hashlib.sha256(match["secret"].encode()).hexdigest()[:16]


def _route_rules(mode: str) -> tuple[Rule, ...]:
    return (Rule(mode, rf"(?P<id>(ip|ipv6) route {NET} (?P<hop>\S+))( name \S+| tag \d+)*", "set"),
            Rule(mode, rf"no (ip|ipv6) route {NET} (?P<hop>\S+)( .*)?", "no"))


def _neighbor_rules(mode: str, af_mode: str) -> tuple[Rule, ...]:
    return (Rule(mode, r"(?P<id>remote-as) \d+", "set"),
            Rule(mode, r"(?P<id>description) .+", "set"),
            Rule(mode, r"password( 3)? (?P<secret>\S+)", "set", store=_obfuscated),
            Rule(mode, r"no password", "no"),
            Rule(mode, r"address-family (ipv4|ipv6) unicast", "enter", af_mode),
            Rule(af_mode, r"(?P<id>prefix-list) \S+ (in|out)", "set"),
            Rule(af_mode, r"(?P<id>maximum-prefix) \d+", "set"),
            Rule(af_mode, r"no (prefix-list|maximum-prefix)( .*)?", "no"))


_ADDRESS = r"(any|addrgroup \S+|host \S+|\S+/\d+)"
_PORTS = r"( (eq \d+|range \d+ \d+))?"
_ENTRY = rf"(\d+ )?(permit|deny) (ip|tcp|udp|sctp|icmp|\d+) {_ADDRESS}{_PORTS} {_ADDRESS}{_PORTS}( established)?( log)?"
_POLICY_RULES = (
    *block("global", r"object-group ip address \S+", "ogroup"),
    Rule("ogroup", r"(no )?(\d+ )?(host \S+|\S+/\d+)", "numbered"),
    Rule("ogroup", r"no \d+", "numbered"),
    *block("global", r"ip access-list \S+", "acl"),
    Rule("acl", r"(no )?statistics per-entry", "set"),
    Rule("acl", rf"(no )?{_ENTRY}", "numbered"),
    Rule("acl", r"(\d+ )?remark .+", "numbered"),
    Rule("acl", r"no \d+", "numbered"),
    Rule("global", r"interface \S+", "enter", "if"),
    Rule("if", r"ip access-group \S+ (in|out)", "bind"),
    Rule("if", r"no ip access-group \S+ (in|out)", "no"),
    Rule("if", r"(?P<id>description) .+", "set"),
)

RULES = (
    *_POLICY_RULES,
    Rule("global", r"(?P<id>hostname) \S+", "set"),
    Rule("global", r"feature \S+", "set"),
    *_route_rules("global"),
    Rule("global", _PFX, "set"),
    Rule("global", r"no (ip|ipv6) prefix-list \S+( seq \d+)?", "no"),
    *block("global", r"vrf context \S+", "vrf"),
    Rule("global", r"router bgp (?P<asn>\d+)", "enter", "bgp"),
    *_route_rules("vrf"),
    Rule("vrf", r"(?P<id>description) .+", "set"),
    Rule("vrf", r"no description", "no"),
    Rule("bgp", r"(?P<id>router-id) \S+", "set"),
    *block("bgp", r"neighbor (?P<peer>\S+)", "nbr"),
    *block("bgp", r"vrf \S+", "bgp-vrf"),
    *block("bgp-vrf", r"neighbor (?P<peer>\S+)", "vrf-nbr"),
    *_neighbor_rules("nbr", "nbr-af"), *_neighbor_rules("vrf-nbr", "vrf-nbr-af"),
)
PROMPTS = {"ogroup": "(config-ipaddr-ogroup)#", "acl": "(config-acl)#", "if": "(config-if)#",
           "global": "(config)#", "vrf": "(config-vrf)#", "bgp": "(config-router)#", "bgp-vrf": "(config-router-vrf)#",
           "nbr": "(config-router-neighbor)#", "vrf-nbr": "(config-router-vrf-neighbor)#",
           "nbr-af": "(config-router-neighbor-af)#", "vrf-nbr-af": "(config-router-vrf-neighbor-af)#"}


def invalid(line: str) -> str:
    """The caret stands under the first word (the connection puts the prompt's width before it)."""
    return "{prompt}^\n% Invalid command at '^' marker."


def check(tree: Node, rule: Rule, line: str) -> None:
    groups = checked_addresses(rule, line, invalid, ipaddress.ip_interface)
    if groups.get("asn") and not tree.find("feature bgp"):
        raise Refused(invalid(line))


#: What NX-OS prints when binding an ACL would overflow the ACL TCAM region (atomic update needs room for both).
TCAM_FULL = "ERROR: Tcam will be over used, please enable bank chaining and/or turn off atomic update"


def tcam_entries(tree: Node, acl: str) -> int:
    """Hardware entries an ACL takes: each entry expands to (source members) x (destination members)."""
    block = tree.find(f"ip access-list {acl}")
    groups = {c.text.split()[3]: max(len(c.children), 1) for c in tree.children
              if c.text.startswith("object-group ip address ")}
    total = 0
    for entry in block.children if block is not None else []:
        words = entry.text.split()
        refs = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "addrgroup"]
        size = 1
        for ref in refs:
            size *= groups.get(ref, 1)
        total += size if words[0].isdigit() and words[1] != "remark" else 0
    return total


def tcam_check(limit: int | None) -> Any:
    def checked(tree: Node, rule: Rule, line: str) -> None:
        check(tree, rule, line)
        if limit is not None and rule.kind == "bind":
            bound = {c.text.split()[2] for i in tree.children if i.text.startswith("interface ")
                     for c in i.children if c.text.startswith("ip access-group ")} | {line.split()[2]}
            if sum(tcam_entries(tree, acl) for acl in bound) > limit:
                raise Refused(TCAM_FULL)
    return checked


GRAMMAR = Grammar(name="nxos", indent=2, rules=RULES, invalid=invalid, check=check)
ROLLBACK_OUTPUT = """Note: Applying config parallelly may fail Rollback verification
Collecting Running-Config
#Generating Rollback Patch
Executing Rollback Patch
#Finished executing rollback patch
#Performing Patch Verification
Collecting Running-Config
#Generating Rollback Patch
Rollback Patch is Empty
Rollback completed successfully.
"""


class FakeNxos(FakeSwitch):
    """A Cisco Nexus 9000 (NX-OS 10.3(4a)) with checkpoints and rollback."""

    grammar = GRAMMAR

    def __init__(self, hostname: str, running_config: str, *, tcam_limit: int | None = None) -> None:
        """`tcam_limit`: ACL hardware entries the switch can bind (None: no limit)."""
        super().__init__(hostname, running_config)
        self.grammar = dataclasses.replace(GRAMMAR, check=tcam_check(tcam_limit))
        self.checkpoints: dict[str, Node] = {}
        self.clock = 0  # seconds past 11:00:00, for the `!Time:` header line
        self.changed_at = 0

    def header(self) -> list[str]:
        self.clock += 1
        return ["!Command: show running-config",
                f"!Running configuration last done at: Thu Nov 26 10:{self.changed_at // 60:02d}:"
                f"{self.changed_at % 60:02d} 2026",
                f"!Time: Thu Nov 26 11:{self.clock // 60 % 60:02d}:{self.clock % 60:02d} 2026", ""]

    def prompt(self, conn: FakeConnection) -> str:
        return f"{self.hostname}{PROMPTS[conn.cli.mode] if conn.cli is not None else '#'}"

    def enter_config(self, conn: FakeConnection, command: str) -> str:
        conn.cli = ConfigCli(self.grammar, self.running)
        self.changed_at += 1
        return "Enter configuration commands, one per line. End with CNTL/Z.\n"

    def exec(self, conn: FakeConnection, command: str) -> str | None:
        if command == "show running-config":
            return self.show_running()
        if command == "end" and conn.cli is not None:
            conn.cli = None
            return ""
        if conn.cli is not None:
            return None
        for pattern, handler in ((r"checkpoint (\S+)", self._checkpoint), (r"no checkpoint (\S+)", self._delete),
                                 (r"rollback running-config checkpoint (\S+)", self._rollback)):
            match = re.fullmatch(pattern, command)
            if match:
                return handler(match[1])
        if command == "show checkpoint summary":
            return "".join(f"User Checkpoint Summary\n{i}) {n}:\n" for i, n in enumerate(self.checkpoints, 1))
        return None

    def _checkpoint(self, name: str) -> str:
        if name in self.checkpoints:
            return f"ERROR: Checkpoint name {name} is already in use\n"
        self.checkpoints[name] = self.running.copy()
        return "Done\n"

    def _delete(self, name: str) -> str:
        if self.checkpoints.pop(name, None) is None:
            return f"ERROR: Checkpoint {name} does not exist\n"
        return "Done\n"

    def _rollback(self, name: str) -> str:
        if name not in self.checkpoints:
            return f"ERROR: Checkpoint {name} does not exist\n"
        self.running = self.checkpoints[name].copy()
        self.changed_at += 1
        return ROLLBACK_OUTPUT

    def leftovers(self) -> list[str]:
        return sorted(self.checkpoints)

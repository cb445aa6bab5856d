"""The Arista EOS side of the fake switch: the commands fabric-intent sends, and configure sessions.

Facts carried over from Arista's EOS manual ("Configure Session") and published transcripts:
`configure session <name>` copies running-config into the session; config lines change only the
session; `show session-config diffs` prints a unified diff `--- system:/running-config` /
`+++ session:/<name>-session-config`; `commit` copies it into running-config and leaves config mode;
`commit timer hh:mm:ss` commits and reverts unless `configure session <name> commit` follows;
`abort` (in the session) or `configure session <name> abort` (exec) discards it. The prompt shows the
first 6 characters of the session name: `leaf-1(config-s-fi-3c9)#`. Refused lines print `% Invalid input`.
Traffic-policies (`traffic-policies` mode: prefix field-sets, policies of matches with actions) and their
application on interfaces (`traffic-policy input|output NAME`, one per direction); a platform without
egress traffic-policies refuses `traffic-policy output` as EOS does.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import ipaddress
import re
from typing import Any

from fake_device import (
    ConfigCli,
    FakeConnection,
    FakeSwitch,
    Grammar,
    Node,
    Refused,
    Rule,
    block,
    checked_addresses,
    render_tree,
)

NET = r"(?P<net>\S+)"
_PFX_ENTRY = r"seq \d+ (permit|deny) (?P<net>\S+)( (ge|le) \d+)*"


def _obfuscated(match: re.Match[str]) -> str:
    """EOS keeps a neighbour password encrypted (`password 7 ...`); never the clear text."""
    return f"neighbor {match['peer']} password 7 " + hashlib.sha256(match["secret"].encode()).hexdigest()[:24]


def _neighbor_rules(mode: str) -> tuple[Rule, ...]:
    n = r"neighbor (?P<peer>\S+)"
    return (
        Rule(mode, rf"(?P<id>{n} remote-as) \d+", "set"),
        Rule(mode, rf"(?P<id>{n} description) .+", "set"),
        Rule(mode, rf"(?P<id>{n} maximum-routes) \d+( .*)?", "set"),
        Rule(mode, rf"(?P<id>{n} prefix-list) \S+ (in|out)", "set"),
        Rule(mode, rf"{n} password( 7)? (?P<secret>\S+)", "set", store=_obfuscated),
        Rule(mode, rf"no {n}( .*)?", "no"),
    )


_PREFIX = r"(?P<net>[0-9a-fA-F.:]+/\d+)"
_POLICY_RULES = (
    Rule("global", r"traffic-policies", "enter", "tps"),
    *block("tps", r"field-set ipv4 prefix \S+", "fset"),
    *block("tps", r"traffic-policy \S+", "tp"),
    Rule("fset", rf"(except )?{_PREFIX}", "set"),
    Rule("fset", rf"no (except )?{_PREFIX}", "no"),
    Rule("tp", r"match \S+ ipv4", "enter", "match"),
    Rule("tp", r"no match \S+", "no"),
    Rule("match", r"(?P<id>source prefix) field-set \S+", "set"),
    Rule("match", r"(?P<id>destination prefix) field-set \S+", "set"),
    Rule("match", r"(?P<id>protocol) (tcp|udp|\d+)( flags established)?( source port [\d-]+)?"
                  r"( destination port [\d-]+)?", "set"),
    Rule("match", r"actions", "enter", "actions"),
    Rule("actions", r"drop|count", "set"),
    Rule("actions", r"no (drop|count)", "no"),
    Rule("global", r"interface \S+", "enter", "if"),
    Rule("if", r"(?P<id>traffic-policy (input|output)) \S+", "set"),
    Rule("if", r"no traffic-policy (input|output) \S+", "no"),
    Rule("if", r"(?P<id>description) .+", "set"),
)

RULES = (
    *_POLICY_RULES,
    Rule("global", r"(?P<id>hostname) \S+", "set"),
    Rule("global", rf"(?P<id>(ip|ipv6) route( vrf \S+)? {NET} (?P<hop>\S+))( \d+)?( tag \d+)?( name \S+)?", "set"),
    Rule("global", rf"no (ip|ipv6) route( vrf \S+)? {NET} (?P<hop>\S+)", "no"),
    Rule("global", rf"(ip|ipv6) prefix-list FI-\S+ {_PFX_ENTRY}", "set", container=3),
    Rule("global", r"(ip|ipv6) prefix-list \S+", "enter", "pfx"),
    Rule("global", r"no (ip|ipv6) prefix-list \S+ seq \d+", "no", container=3),
    Rule("global", r"no (ip|ipv6) prefix-list \S+", "no"),
    Rule("global", r"router bgp (?P<asn>\d+)", "enter", "bgp"),
    *block("global", r"vrf instance \S+", "vrf"),
    Rule("global", r"ip routing( vrf \S+)?", "set"),
    Rule("global", r"no ip routing( vrf \S+)?", "no"),
    Rule("pfx", _PFX_ENTRY, "set"),
    Rule("pfx", r"no seq \d+", "no"),
    Rule("vrf", r"(?P<id>description) .+", "set"),
    Rule("vrf", r"no description", "no"),
    Rule("bgp", r"(?P<id>router-id) \S+", "set"),
    *block("bgp", r"vrf \S+", "bgp-vrf"),
    Rule("bgp", r"address-family (ipv4|ipv6)", "enter", "bgp-af"),
    Rule("bgp-vrf", r"address-family (ipv4|ipv6)", "enter", "bgp-af"),
    Rule("bgp-af", r"neighbor \S+ activate", "set"),
    Rule("bgp-af", r"(?P<id>neighbor \S+ prefix-list) \S+ (in|out)", "set"),
    Rule("bgp-af", r"no neighbor \S+( .*)?", "no"),
    *_neighbor_rules("bgp"), *_neighbor_rules("bgp-vrf"),
)
PROMPTS = {"tps": "-traffic-policies", "fset": "-traffic-policies-field-set-ipv4", "tp": "-traffic-policy",
           "match": "-traffic-policy-match", "actions": "-traffic-policy-match-actions", "if": "-if", "global": "",
           "pfx": "-ip-pfx", "vrf": "-vrf", "bgp": "-router-bgp", "bgp-vrf": "-router-bgp-vrf",
           "bgp-af": "-router-bgp-af"}


def invalid(line: str) -> str:
    return "% Invalid input"


def check(tree: Node, rule: Rule, line: str) -> None:
    """Refuse what EOS refuses beyond the syntax: bad addresses, a second BGP instance."""
    groups = checked_addresses(rule, line, invalid, ipaddress.ip_address)
    running = [c.text for c in tree.children if c.text.startswith("router bgp ")]
    if groups.get("asn") and running and running[0] != line:
        raise Refused(f"% BGP is already running with AS number {running[0].split()[2]}")


#: What EOS prints for a command the hardware platform lacks (egress traffic-policies on many models).
UNSUPPORTED = "% Unavailable command (not supported on this hardware platform)"


def platform_check(egress_policies: bool) -> Any:
    def checked(tree: Node, rule: Rule, line: str) -> None:
        check(tree, rule, line)
        if not egress_policies and line.startswith("traffic-policy output "):
            raise Refused(UNSUPPORTED)
    return checked


GRAMMAR = Grammar(name="eos", indent=3, rules=RULES, invalid=invalid, check=check)


class FakeEos(FakeSwitch):
    """An Arista EOS switch (vEOS-lab 4.31.2F) with configure sessions."""

    grammar = GRAMMAR

    def __init__(self, hostname: str, running_config: str, *, egress_policies: bool = True) -> None:
        """`egress_policies`: the platform can apply a traffic-policy in the output direction."""
        super().__init__(hostname, running_config)
        self.grammar = dataclasses.replace(GRAMMAR, check=platform_check(egress_policies))
        self.sessions: dict[str, Node] = {}  # pending sessions
        self.unconfirmed: dict[str, Node] = {}  # committed with a timer: the configuration to revert to

    def header(self) -> list[str]:
        return ["! Command: show running-config", f"! device: {self.hostname} (vEOS-lab, EOS-4.31.2F)", "!",
                "! boot system flash:/vEOS-lab.swi", "!"]

    def show_running(self) -> str:
        return "\n".join(self.header() + self._blocks(self.running) + ["end"]) + "\n"

    def _blocks(self, tree: Node) -> list[str]:
        lines = []
        for child in tree.children:
            lines += render_tree(Node("", [child]), 3) + (["!"] if child.children else [])
        return lines

    def prompt(self, conn: FakeConnection) -> str:
        if conn.cli is None:
            return f"{self.hostname}#"
        where = f"s-{conn.session[:6]}" if conn.session else ""
        return f"{self.hostname}(config{'-' if where else ''}{where}{PROMPTS[conn.cli.mode]})#"

    def enter_config(self, conn: FakeConnection, command: str) -> str:
        name = command.removeprefix("configure session").strip()
        if command.startswith("configure session") and name:
            tree = self.sessions.setdefault(name, self.running.copy())
            conn.session = name
        else:
            tree = self.running
        conn.cli = ConfigCli(self.grammar, tree)
        return ""

    def exec(self, conn: FakeConnection, command: str) -> str | None:
        if command == "show running-config":
            return self.show_running()
        if command == "show configuration sessions":
            return self._sessions_table()
        if conn.session is not None and conn.cli is not None:
            return self._in_session(conn, command)
        match = re.fullmatch(r"configure session (\S+) (commit|abort)", command)
        if match:
            return self._finish(match[1], match[2])
        if command == "end":
            conn.cli = None
            return ""
        return None

    def _in_session(self, conn: FakeConnection, command: str) -> str | None:
        name = conn.session
        assert name is not None
        if command == "show session-config diffs":
            return self._diff(name)
        if command == "abort":
            del self.sessions[name]
        elif command in ("commit", "end") or command.startswith("commit timer "):
            if command != "end" and conn.fail_commit:
                return f"% Failed to commit session {name}: the configuration could not be applied\n"
            if command.startswith("commit timer "):
                self.unconfirmed[name] = self.running
            if command != "end":
                self.running = self.sessions.pop(name)
        else:
            return None
        conn.cli, conn.session = None, None
        return ""

    def _finish(self, name: str, verb: str) -> str:
        if name in self.unconfirmed:
            backup = self.unconfirmed.pop(name)
            if verb == "abort":
                self.running = backup
            return ""
        if name in self.sessions:
            if verb == "commit":
                self.running = self.sessions[name]
            del self.sessions[name]
            return ""
        return f"% Session {name} not found\n"

    def _diff(self, name: str) -> str:
        before = self.show_running().splitlines()
        after = "\n".join(self.header() + self._blocks(self.sessions[name]) + ["end"]).splitlines()
        diff = difflib.unified_diff(before, after, "system:/running-config", f"session:/{name}-session-config",
                                    lineterm="")
        return "\n".join(diff) + "\n"

    def _sessions_table(self) -> str:
        rows = [f"   {n:<20} pending" for n in self.sessions]
        rows += [f"   {n:<20} pendingCommitTimer" for n in self.unconfirmed]
        return "\n".join(["Maximum number of completed sessions: 1", "Maximum number of pending sessions: 5", "",
                          "   Name                 State", "   -------------------- ----------", *rows]) + "\n"

    def leftovers(self) -> list[str]:
        return sorted([*self.sessions, *self.unconfirmed])

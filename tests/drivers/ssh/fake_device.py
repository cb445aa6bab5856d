"""Fake netmiko connections for the EOS and NX-OS drivers, passed in through the drivers' `connect=` seam.

* `FakeSwitch` is a small stateful switch: a running configuration (text, as `show running-config`
  prints it) that configuration lines change through a per-platform command grammar
  (fake_device_eos.py, fake_device_nxos.py), with the platform's transaction commands. It answers
  like netmiko would: `send_command` returns what the device printed for the command;
  `send_config_set` returns the echoed lines with prompts and, given `error_pattern`, raises netmiko's
  ConfigInvalidException at the first refused line, leaving the CLI in configuration mode.

It records every exchange in `.log` as transcript entries (fake_device_replay.py replays them).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from netmiko.exceptions import ConfigInvalidException


# -- the configuration tree ------------------------------------------------------------------------------
@dataclass
class Node:
    text: str
    children: list[Node] = field(default_factory=list)

    def find(self, text: str) -> Node | None:
        return next((c for c in self.children if c.text == text), None)

    def copy(self) -> Node:
        return Node(self.text, [c.copy() for c in self.children])


def parse_tree(text: str, skip: Callable[[str], bool]) -> Node:
    """Indentation to a tree; lines `skip` says are decoration (`!`, headers) are left out."""
    root = Node("")
    stack: list[tuple[int, Node]] = [(-1, root)]
    for raw in text.splitlines():
        if not raw.strip() or skip(raw):
            continue
        depth = len(raw) - len(raw.lstrip())
        while stack[-1][0] >= depth:
            stack.pop()
        node = Node(raw.strip())
        stack[-1][1].children.append(node)
        stack.append((depth, node))
    return root


def render_tree(node: Node, indent: int, depth: int = 0) -> list[str]:
    lines = []
    for child in node.children:
        lines.append(" " * (indent * depth) + child.text)
        lines += render_tree(child, indent, depth + 1)
    return lines


# -- the command grammar ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One command the fake CLI accepts in one mode.

    kind `enter` finds or creates the child `text` and enters `mode_to`; `set` adds the line, replacing a
    child with the same identity (the `id` group, or the whole line); `no` removes the children that are
    the line without `no`, or start with it. `store` rewrites the line before it is kept (passwords);
    `container` splits a one-line form (`ip prefix-list X seq 10 ...`) into its block and the child line.
    """

    mode: str
    pattern: str
    kind: str
    mode_to: str = ""
    store: Callable[[re.Match[str]], str] | None = None
    container: int = 0  # words of the line that name the block it lands in

    def match(self, line: str) -> re.Match[str] | None:
        return re.fullmatch(self.pattern, line)


def block(mode: str, pattern: str, mode_to: str) -> tuple[Rule, Rule]:
    """A configuration block: `pattern` enters it (in `mode_to`), `no pattern` removes it."""
    return Rule(mode, pattern, "enter", mode_to), Rule(mode, f"no {pattern}", "no")


class Refused(Exception):
    """A line the fake CLI refuses; the message is what the device prints."""


def checked_addresses(rule: Rule, line: str, invalid: Callable[[str], str],
                      address: Callable[[str], object]) -> dict[str, str]:
    """The named groups of `line`, refused as `invalid` when its prefix (`net`) is no IP network or its
    next hop or peer (`hop`, `peer`) is not what the platform's `address` reader accepts."""
    match = rule.match(line)
    assert match is not None
    groups = match.groupdict()
    try:
        if groups.get("net"):
            ipaddress.ip_network(groups["net"])
        for name in ("hop", "peer"):
            if groups.get(name):
                address(groups[name])
    except ValueError:
        raise Refused(invalid(line)) from None
    return groups


@dataclass(frozen=True)
class Grammar:
    name: str
    indent: int
    rules: tuple[Rule, ...]
    invalid: Callable[[str], str]  # what the CLI prints for a line no rule accepts
    check: Callable[[Node, Rule, str], None] = lambda tree, rule, line: None  # refuses a line by raising Refused


class ConfigCli:
    """Applies configuration lines to a tree, tracking the mode stack as the device CLI does."""

    def __init__(self, grammar: Grammar, tree: Node) -> None:
        self.grammar, self.tree = grammar, tree
        self.stack: list[tuple[str, Node]] = [("global", tree)]

    @property
    def mode(self) -> str:
        return self.stack[-1][0]

    def apply(self, raw: str) -> None:
        line = " ".join(raw.split())
        if line == "exit" and len(self.stack) > 1:  # back to the parent mode
            self.stack.pop()
            return
        for depth in range(len(self.stack), 0, -1):  # a command unknown in a sub-mode falls back to its parent
            mode, node = self.stack[depth - 1]
            rule = next((r for r in self.grammar.rules if r.mode == mode and r.match(line)), None)
            if rule is not None:
                del self.stack[depth:]
                self.grammar.check(self.tree, rule, line)
                self._do(rule, line, node)
                return
        raise Refused(self.grammar.invalid(raw))

    def _do(self, rule: Rule, line: str, node: Node) -> None:
        match = rule.match(line)
        assert match is not None
        if rule.container:
            words = line.split()
            negate = words[0] == "no"
            head, tail = words[negate:negate + rule.container], words[negate + rule.container:]
            block = node.find(" ".join(head)) or _append(node, Node(" ".join(head)))
            _set_or_remove(block, ("no " if negate else "") + " ".join(tail), None)
            if negate and not block.children:
                node.children.remove(block)
            return
        if rule.kind == "enter":
            child = node.find(line) or _append(node, Node(line))
            self.stack.append((rule.mode_to, child))
            return
        if rule.kind in SEQUENCED:
            SEQUENCED[rule.kind](node, line)
            return
        _set_or_remove(node, rule.store(match) if rule.store else line, match)


def _append(node: Node, child: Node) -> Node:
    node.children.append(child)
    return child


def _set_or_remove(node: Node, line: str, match: re.Match[str] | None) -> None:
    if line.startswith("no "):
        target = line[3:]
        node.children = [c for c in node.children if c.text != target and not c.text.startswith(target + " ")]
        return
    identity = match.groupdict().get("id") if match is not None else None
    identity = identity or _seq_identity(line)
    for index, child in enumerate(node.children):
        if child.text == line or (identity and child.text.startswith(identity + " ")):
            node.children[index] = Node(line, child.children)
            return
    group = line.split()[:3]  # a new line joins its kind (`ip prefix-list X ...`, `ip route ...`), as devices list them
    at = max((i + 1 for i, c in enumerate(node.children) if c.text.split()[:3] == group), default=len(node.children))
    node.children.insert(at, Node(line))
    if line.startswith("seq "):
        node.children.sort(key=lambda c: int(c.text.split()[1]) if c.text.startswith("seq ") else 0)


def _numbered(node: Node, line: str) -> None:
    """A numbered line (an ACL entry, an object-group member): given no number, it gets the last one + 10;
    `no N` or `no <line>` removes it; the block lists its lines by number, others (statistics) first."""
    def number(child: Node) -> int:
        first = child.text.split()[0]
        return int(first) if first.isdigit() else -1

    def body(text: str) -> str:
        return text.split(" ", 1)[1] if text.split()[0].isdigit() else text

    if line.startswith("no "):
        target = line[3:]
        node.children = [c for c in node.children if not (c.text.startswith(target + " ") or body(c.text) == target)]
        return
    if not line.split()[0].isdigit():
        if any(body(c.text) == line for c in node.children):
            return
        line = f"{max((number(c) for c in node.children), default=0) // 10 * 10 + 10} {line}"
    seq = line.split()[0]
    node.children = [c for c in node.children if not c.text.startswith(seq + " ")] + [Node(line)]
    node.children.sort(key=number)


def _bind(node: Node, line: str) -> None:
    """`ip access-group NAME in|out`: one ACL per direction; a new one replaces the old."""
    direction = line.split()[-1]
    node.children = [c for c in node.children
                     if not (c.text.startswith("ip access-group ") and c.text.split()[-1] == direction)]
    node.children.append(Node(line))


SEQUENCED: dict[str, Callable[[Node, str], None]] = {"numbered": _numbered, "bind": _bind}


def _seq_identity(line: str) -> str | None:
    words = line.split()
    return " ".join(words[:2]) if words[:1] == ["seq"] else None


# -- the stateful switch ---------------------------------------------------------------------------------
class FakeSwitch:
    """A switch whose configuration lives in memory; every connection `connect()` hands out shares it.

    A platform subclass gives the grammar, `header()` of `show running-config`, `prompt()`,
    `enter_config()` and `exec()` for the commands outside the configuration grammar.
    """

    grammar: Grammar

    def __init__(self, hostname: str, running_config: str) -> None:
        self.hostname = hostname
        self.running = parse_tree(running_config, self.decoration)
        self.log: list[dict[str, Any]] = []
        self.connections_open = 0

    @staticmethod
    def decoration(line: str) -> bool:
        return line.lstrip().startswith("!") or line.strip() == "end"

    def config_text(self) -> str:
        """The configuration without the show header: what the harness compares."""
        return "\n".join(render_tree(self.running, self.grammar.indent)) + "\n"

    def show_running(self) -> str:
        return "\n".join(self.header() + render_tree(self.running, self.grammar.indent)) + "\n"

    def connect(self, *, fail_commit: bool = False) -> FakeConnection:
        """A new login; with `fail_commit` the transaction's last step fails (EOS `commit`, NX-OS the last line)."""
        self.connections_open += 1
        return FakeConnection(self, fail_commit=fail_commit)

    def header(self) -> list[str]:
        raise NotImplementedError

    def prompt(self, conn: FakeConnection) -> str:
        raise NotImplementedError

    def enter_config(self, conn: FakeConnection, command: str) -> str:
        """Enter configuration mode with `command`; sets `conn.cli`; returns what the device printed."""
        raise NotImplementedError

    def exec(self, conn: FakeConnection, command: str) -> str | None:
        """Output of a command outside the configuration grammar, or None if it is not one."""
        raise NotImplementedError

    def leftovers(self) -> list[str]:
        """Sessions or checkpoints still on the switch."""
        raise NotImplementedError


class FakeConnection:
    """One SSH login to a FakeSwitch, with netmiko's methods."""

    def __init__(self, switch: FakeSwitch, *, fail_commit: bool = False) -> None:
        self.switch = switch
        self.fail_commit = fail_commit
        self.open = True
        self.cli: ConfigCli | None = None  # set while in configuration mode
        self.session: str | None = None  # EOS: the configure session the CLI is in

    def send_command(self, command_string: str, **kwargs: Any) -> str:
        assert self.open, "the driver used a closed connection"
        command = command_string.strip()
        output = self.switch.exec(self, command)
        if output is None:
            output = (self._config_line(command) if self.cli is not None
                      else self.switch.grammar.invalid(command).replace("{prompt}", "") + "\n")
        self.switch.log.append({"send_command": command, "output": output})
        return output

    send_command_timing = send_command

    def _config_line(self, line: str) -> str:
        assert self.cli is not None
        width = len(self.switch.prompt(self)) + len(line) - len(line.lstrip())
        try:
            self.cli.apply(line)
        except Refused as exc:
            return str(exc).replace("{prompt}", " " * width) + "\n"
        return ""

    def send_config_set(self, config_commands: Sequence[str], **kwargs: Any) -> str:
        assert self.open, "the driver used a closed connection"
        entry: dict[str, Any] = {"send_config_set": list(config_commands), "kwargs": recorded_kwargs(kwargs)}
        output = ""
        if kwargs.get("enter_config_mode", True):
            command = kwargs.get("config_mode_command") or "configure terminal"
            output += f"{command}\n" + self.switch.enter_config(self, command) + self.switch.prompt(self)
        pattern = kwargs.get("error_pattern")
        for index, line in enumerate(config_commands):
            refused = self._refuse_last(index, len(config_commands)) or self._config_line(line)
            output += f"{line}\n{refused}{self.switch.prompt(self)}"
            error = re.search(pattern, refused, flags=re.M) if pattern and refused else None
            if error is not None:
                entry.update(output=output, raises=f"Invalid input detected at command: {line}, "
                                                    f"matched error: {error.group(0)}")
                self.switch.log.append(entry)
                raise ConfigInvalidException(entry["raises"])
        if kwargs.get("exit_config_mode", True):
            self.cli = None
            output += f"end\n{self.switch.prompt(self)}"
        entry["output"] = output
        self.switch.log.append(entry)
        return output

    def _refuse_last(self, index: int, count: int) -> str:
        if self.fail_commit and self.switch.grammar.name == "nxos" and index == count - 1:
            return self.switch.grammar.invalid("").replace("{prompt}", " " * len(self.switch.prompt(self))) + "\n"
        return ""

    def disconnect(self) -> None:
        self.open = False
        self.switch.connections_open -= 1


def hand_made_lines(text: str, indent: int) -> list[str]:
    """The lines fabric-intent does not own, each as its path (`router bgp 65101 > neighbor ...`).

    Judged from the markers alone (route name, FI- prefix-lists, `fabric-intent:` descriptions), not
    with the drivers' parsers; blocks that only group lines (`router bgp`, `vrf`, `address-family`) are
    listed through their lines, so an emptied group is not hand-made configuration.
    """
    tree = parse_tree(text, FakeSwitch.decoration)
    owned_peers = _owned_peers(tree)
    lines: list[str] = []
    for path in _leaves(tree, ()):
        last = path[-1]
        if (f"name {ROUTE_MARK}" in last or "prefix-list FI-" in path[0] or "description fabric-intent:" in last
                or re.match(r"(ip access-list|object-group ip address) FI-", path[0])
                or last.startswith("ip access-group FI-") or re.fullmatch(r"traffic-policy (input|output) FI-\S+", last)
                or (path[0] == "traffic-policies" and (len(path) == 1 or re.match(
                    r"(field-set ipv4 prefix|traffic-policy) FI-", path[1])))
                or any(_peer_of(part) in owned_peers for part in path)
                or re.fullmatch(r"router bgp \d+|vrf context \S+|ip routing vrf \S+", last)
                or (path[0].startswith("router bgp ") and re.fullmatch(r"vrf \S+|address-family .*", last))):
            continue
        lines.append(" > ".join(path))
    return lines


ROUTE_MARK = "fabric-intent"


def _leaves(node: Node, above: tuple[str, ...]) -> list[tuple[str, ...]]:
    found = []
    for child in node.children:
        path = above + (child.text,)
        found += _leaves(child, path) if child.children else [path]
    return found


def _owned_peers(tree: Node) -> set[str]:
    peers = set()
    for path in _leaves(tree, ()):
        peer = next((p for part in path if (p := _peer_of(part)) is not None), None)
        if peer is not None and "description fabric-intent:" in path[-1]:
            peers.add(peer)
    return peers


def _peer_of(line: str) -> str | None:
    words = line.split()
    return words[words.index("neighbor") + 1] if "neighbor" in words[:-1] else None


def recorded_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(kwargs.items()) if k in ("config_mode_command", "exit_config_mode")}

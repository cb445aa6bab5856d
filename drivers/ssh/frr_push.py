"""Send a batch of configuration lines to vtysh and find the lines it refused.

The fast path opens one channel (no PTY) on the SSH session and feeds the whole batch, wrapped in
`XFRR_start_configuration` / `XFRR_end_configuration`, to vtysh on stdin: vtysh then commits the
batch once instead of line by line, and echoes every line after its prompt, so each `% ...` answer
can be pinned to the line that caused it. The fallback is netmiko's `send_config_set`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.ssh.session import BatchChannel, Connection

START, END = "XFRR_start_configuration", "XFRR_end_configuration"
_PROMPT = re.compile(r"^[^\s#]+# ?(.*)$")
# vtysh marks refusals with `%`; a few daemon messages lack it (bgpd when the ASN differs).
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # readline redraws lines wider than its 80 columns
_REFUSED = re.compile(r"^%|BGP is already running")


@dataclass(frozen=True)
class Refusal:
    """One line vtysh refused: its index in the batch and what vtysh said."""

    index: int
    message: str


def wrap(lines: Sequence[str]) -> list[str]:
    return ["configure terminal", START, *lines, END, "end"]


def refusals(output: str, lines: Sequence[str]) -> list[Refusal]:
    """vtysh's refusals in an echoed session, each pinned to the batch line that caused it.

    Echo number k (0-based) is wrap(lines)[k], so batch line index = k - 2 (an answer to a wrapping
    line gets -1 or len(lines)). Inside an XFRR batch vtysh groups northbound commands into one
    transaction and reports a refusal later, listing the rejected commands as `- <line>`: those
    are pinned by their text.
    """
    found: list[Refusal] = []
    echoed, failed = -1, None  # failed: the description of a deferred transaction failure being listed
    for text in _unglued(output):
        if _PROMPT.match(text):
            echoed, failed = echoed + 1, None
        elif text.startswith("% Configuration failed"):
            failed = "configuration failed"
        elif failed is not None and text.startswith("Error description:"):
            failed = text.removeprefix("Error description:").strip()
        elif failed is not None and text.startswith("- "):
            index, rest = _listed(lines, text[2:], echoed - 2)
            found.append(Refusal(index=index, message=f"% Configuration failed: {failed}"))
            if _REFUSED.search(rest):
                found.append(Refusal(index=_clamp(echoed - 2, lines), message=rest.strip()))
        elif _REFUSED.search(text):  # before any echo too: a refusal is never dropped, even if not pinned
            found.append(Refusal(index=_clamp(echoed - 2, lines), message=text.strip()))
    return _first_per_line(found)


def _clamp(index: int, lines: Sequence[str]) -> int:
    return min(max(index, -1), len(lines))


def _listed(lines: Sequence[str], text: str, before: int) -> tuple[int, str]:
    """The batch line a `- <line>` entry names (the latest one sent so far), and any text glued after it."""
    for index in range(min(before, len(lines) - 1), -1, -1):
        command = lines[index].strip()
        if command and text.startswith(command):
            return index, text[len(command):]
    return _clamp(before, lines), ""


def _unglued(output: str) -> list[str]:
    """Output lines, with an echoed prompt that vtysh glued to the end of a message moved to its own line."""
    lines = _ANSI.sub("", output.replace("\r", "")).splitlines()
    host = next((m.group(1) for line in lines if (m := re.match(r"^([^\s#(]+)# configure terminal$", line))), None)
    if host is None:
        return lines
    glued = re.compile(rf"(?<=\S)(?={re.escape(host)}(?:\([a-z0-9-]+\))?# )")
    return [part for line in lines for part in glued.split(line)]


def _first_per_line(found: list[Refusal]) -> list[Refusal]:
    seen: dict[int, Refusal] = {}
    for refusal in found:
        seen.setdefault(refusal.index, refusal)
    return sorted(seen.values(), key=lambda r: r.index)


def push_channel(channel: BatchChannel, command: str | None, lines: Sequence[str], timeout: float) -> list[Refusal]:
    """Feed the batch to vtysh (`command`, or the login shell when None) on a one-shot channel."""
    result = channel.run(command, "\n".join(wrap(lines)) + "\n", timeout=timeout)
    return refusals(result.output, lines)


def push_lines(conn: Connection, lines: Sequence[str]) -> list[Refusal]:
    """netmiko's line-by-line `send_config_set`; every `% ...` answer is pinned to the line it followed."""
    output = conn.send_config_set([START, *lines, END], cmd_verify=True)
    return refusals_in_config_set(output, lines)


def refusals_in_config_set(output: str, lines: Sequence[str]) -> list[Refusal]:
    found, position = [], -1
    stripped = [line.strip() for line in lines]
    for text in output.replace("\r", "").splitlines():
        match = _PROMPT.match(text)
        if match and match.group(1).strip() in stripped[position + 1:]:
            position = stripped.index(match.group(1).strip(), position + 1)
        elif _REFUSED.match(text) and position >= 0:
            found.append(Refusal(index=position, message=text.strip()))
    return found

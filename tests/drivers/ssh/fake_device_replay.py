"""Replaying a recorded transcript (data/ssh/<platform>/transcripts/*.yaml) through the EOS and NX-OS drivers'
`connect=` seam: every call must be the next recorded one, and gets the recorded output (or the recorded
netmiko error). `dump_transcript` writes a fake switch's log in the same form.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from fake_device import recorded_kwargs
from netmiko.exceptions import ConfigInvalidException


# -- replaying a transcript ------------------------------------------------------------------------------
class ReplayConnection:
    """Replays a recorded transcript; any call that differs from the recording fails the test."""

    def __init__(self, transcript: Path) -> None:
        data = yaml.safe_load(transcript.read_text(encoding="utf-8"))
        self.name = transcript.name
        self.exchanges: list[dict[str, Any]] = list(data["exchanges"])
        self.position = 0
        self.disconnected = False

    def _next(self, kind: str, sent: object, kwargs: dict[str, Any]) -> dict[str, Any]:
        assert self.position < len(self.exchanges), f"{self.name}: unexpected {kind} {sent!r} after the recording"
        exchange = self.exchanges[self.position]
        self.position += 1
        assert exchange.get(kind) == sent, f"{self.name} #{self.position}: expected {exchange}, got {kind} {sent!r}"
        if kind == "send_config_set":
            assert recorded_kwargs(kwargs) == exchange.get("kwargs", {}), f"{self.name} #{self.position}: {kwargs}"
        return exchange

    def send_command(self, command_string: str, **kwargs: Any) -> str:
        return str(self._next("send_command", command_string, kwargs)["output"])

    send_command_timing = send_command

    def send_config_set(self, config_commands: Sequence[str], **kwargs: Any) -> str:
        exchange = self._next("send_config_set", list(config_commands), kwargs)
        if "raises" in exchange:
            raise ConfigInvalidException(exchange["raises"])
        return str(exchange["output"])

    def disconnect(self) -> None:
        self.disconnected = True

    @property
    def finished(self) -> bool:
        return self.position == len(self.exchanges)


def dump_transcript(log: list[dict[str, Any]], header: dict[str, Any]) -> str:
    """A recording as YAML, block-style text for outputs (how the data files are written)."""
    def block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)
    yaml.SafeDumper.add_representer(str, block)
    return yaml.safe_dump({**header, "exchanges": log}, sort_keys=False, width=200)

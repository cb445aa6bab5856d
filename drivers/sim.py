"""A simulated fabric whose configuration lives in one JSON file, for trying fabric-intent anywhere.

File format (`fabric-intent-sim/1`)::

    {"format": "fabric-intent-sim/1",
     "devices": {"leaf-a1": [ {"kind": "static-route", ..., "owner": "fabric-intent"},
                              {"kind": "static-route", ..., "owner": "netops"} ]}}

Entries whose `owner` is `fabric-intent` are the ones fabric-intent owns; every other entry (any
shape at all) is hand-made configuration and is kept exactly as it is. A device's revision is the
SHA-256 of its entries, so any change on it, owned or not, makes an older plan stale.

Options (inventory `drivers.sim`, or a switch's `options`): `state_file` (default
`sim-fabric.json`) and `seed_file`, read when the state file does not exist yet. Relative paths
resolve against the inventory file's folder.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError

from drivers.base import Capabilities, Driver
from intent.errors import DriverError, StalePlanError
from intent.model import (
    OWNER,
    AddressGroup,
    BgpPeering,
    DeviceObject,
    PolicyRule,
    PrefixList,
    Realized,
    StaticRoute,
    Vrf,
    ip_text,
)
from intent.plan import Change, FabricState, apply_changes

FORMAT = "fabric-intent-sim/1"
_REALIZED: TypeAdapter[Any] = TypeAdapter(Realized)
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


def revision_of(entries: list[Any]) -> str:
    return hashlib.sha256(json.dumps(entries, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def render_object(obj: DeviceObject, verb: str = "set") -> list[str]:
    """Neutral `set`/`delete` lines for one object, in the style of a config-mode CLI."""
    if isinstance(obj, StaticRoute):
        tail = f" tag {obj.tag}" if verb == "set" else ""
        return [f"{verb} vrf {obj.vrf} static-route {ip_text(obj.prefix)} next-hop {ip_text(obj.next_hop)}{tail}"]
    if isinstance(obj, PrefixList):
        if verb == "delete":
            return [f"delete prefix-list {obj.name}"]
        return [f"set prefix-list {obj.name} {entry}" for entry in obj.entries]
    if isinstance(obj, BgpPeering):
        head = f"{verb} vrf {obj.vrf} bgp neighbor {ip_text(obj.neighbor)}"
        if verb == "delete":
            return [head]
        return [f"{head} remote-as {obj.remote_as}", f'{head} description "{obj.description}"',
                f"{head} prefix-list {obj.prefix_list} in", f"{head} maximum-prefix {obj.max_prefix}"]
    if isinstance(obj, Vrf):
        return [f"{verb} vrf {obj.name}"]
    if isinstance(obj, AddressGroup):
        return _group_lines(obj, verb)
    if isinstance(obj, PolicyRule):
        return [f"delete policy-rule {obj.name}"] if verb == "delete" else [_rule_line(obj)]
    raise DriverError(f"the sim driver cannot render {type(obj).__name__}")


def _group_lines(group: AddressGroup, verb: str) -> list[str]:
    if verb == "delete":
        return [f"delete address-group {group.name}"]
    members = [ip_text(a) for a in group.addresses] + [ip_text(p) for p in group.prefixes]
    return [f'set address-group {group.name} description "{group.description}"'] + [
        f"set address-group {group.name} member {m}" for m in members]


def _rule_line(rule: PolicyRule) -> str:
    ports = "" if rule.ports is None else f" ports {rule.ports[0]}-{rule.ports[1]}"
    return (f"set policy-rule {rule.name} stage {rule.stage} action {rule.action} src {rule.src or 'any'} "
            f"dst {rule.dst or 'any'} protocol {(rule.protocol or 'any').lower()}{ports}")


def _member_changes(before: AddressGroup, after: AddressGroup) -> list[str]:
    old = {ip_text(m) for m in (*before.addresses, *before.prefixes)}
    new = {ip_text(m) for m in (*after.addresses, *after.prefixes)}
    lines = [f"delete address-group {after.name} member {m}" for m in sorted(old - new)]
    lines += [f"set address-group {after.name} member {m}" for m in sorted(new - old)]
    if before.description != after.description:
        lines.insert(0, f'set address-group {after.name} description "{after.description}"')
    return lines


# The fields that make an object's key, per kind, parsed as the intent model parses them.
_IDENTITY: dict[str, tuple[type[DeviceObject], dict[str, Callable[[Any], Any]]]] = {
    "static-route": (StaticRoute, {"prefix": ipaddress.ip_network, "next_hop": ipaddress.ip_address}),
    "bgp-peering": (BgpPeering, {"neighbor": ipaddress.ip_address}),
    "prefix-list": (PrefixList, {"name": str}),
    "vrf": (Vrf, {"name": str}),
    "address-group": (AddressGroup, {"name": str}),
    "policy-rule": (PolicyRule, {"name": str}),
}


def foreign_key(entry: Any, device: str) -> str | None:
    """The intent key a hand-made entry occupies, if it is shaped like one of fabric-intent's kinds."""
    if not isinstance(entry, dict) or entry.get("owner") == OWNER or entry.get("kind") not in _IDENTITY:
        return None
    cls, fields = _IDENTITY[entry["kind"]]
    try:
        values = {name: parse(entry[name]) for name, parse in fields.items()}
    except (KeyError, TypeError, ValueError):
        return None
    key: str = cls.model_construct(device=device, **values).key
    return key


class SimDriver(Driver):
    """File-backed simulated switch; the whole fabric shares one state file."""

    name: ClassVar[str] = "sim"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=("vrf", "prefix-list", "bgp-peering", "static-route", "address-group", "policy-rule"),
        transactional=True, rollback=True,
        description="simulated fabric in a JSON file (all-or-nothing per device)")

    def __init__(self, *args: Any, replace: Callable[[str, Path], None] = os.replace, **kwargs: Any) -> None:
        """`replace` is the seam for a commit's last step (`os.replace`): tests inject one that fails."""
        super().__init__(*args, **kwargs)
        self._replace = replace
        options = {**self.inventory.drivers.get("sim", {}), **self.switch.options}
        self.state_file = self.base_dir / str(options.get("state_file", "sim-fabric.json"))
        seed = options.get("seed_file")
        self.seed_file = self.base_dir / str(seed) if seed else None
        self._candidate: list[Any] | None = None
        self._base_revision: str | None = None

    # -- reading -------------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        path = self.state_file if self.state_file.exists() or self.seed_file is None else self.seed_file
        if not path.exists():
            return {"format": FORMAT, "devices": {}}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DriverError(f"{self.device}: cannot read sim state {path.name}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("devices"), dict):
            raise DriverError(f"{self.device}: {path.name} is not a {FORMAT} file")
        return data

    def _entries(self, data: dict[str, Any]) -> list[Any]:
        entries = data["devices"].get(self.device, [])
        if not isinstance(entries, list):
            raise DriverError(f"{self.device}: devices.{self.device} in {self.state_file.name} must be a list")
        return entries

    def _owned(self, entries: list[Any]) -> list[DeviceObject]:
        owned = []
        for index, entry in enumerate(entries):
            if not (isinstance(entry, dict) and entry.get("owner") == OWNER):
                continue
            try:
                obj = _REALIZED.validate_python({k: v for k, v in entry.items() if k != "owner"})
            except ValidationError as exc:
                problem = exc.errors()[0]["msg"]
                raise DriverError(f"{self.device}: owned entry #{index} is malformed: {problem}") from exc
            if obj.device != self.device:
                raise DriverError(f"{self.device}: owned entry #{index} names device {obj.device!r}")
            owned.append(obj)
        return owned

    def observe(self) -> FabricState:
        entries = self._entries(self._read())
        foreign = frozenset(k for e in entries if (k := foreign_key(e, self.device)) is not None)
        return FabricState(device=self.device, revision=revision_of(entries), objects=tuple(self._owned(entries)),
                           foreign=foreign)

    # -- rendering -----------------------------------------------------------------------------
    def render(self, change: Change) -> tuple[str, ...]:
        if change.action == "delete" and change.before is not None:
            return tuple(render_object(change.before, "delete"))
        if change.action == "update" and isinstance(change.before, AddressGroup) and isinstance(
                change.after, AddressGroup):  # members only: a pod came or went
            return tuple(_member_changes(change.before, change.after))
        if change.action == "update" and isinstance(change.before, PrefixList) and isinstance(change.after, PrefixList):
            gone = {e.seq for e in change.before.entries} - {e.seq for e in change.after.entries}
            return tuple([f"delete prefix-list {change.after.name} seq {s}" for s in sorted(gone)]
                         + render_object(change.after))
        assert change.after is not None
        before = change.before
        if change.action == "update" and before is not None and getattr(before, "vrf", None) != getattr(
                change.after, "vrf", None):  # a route or neighbour moving to another VRF
            return tuple(render_object(before, "delete") + render_object(change.after))
        return tuple(render_object(change.after))

    # -- writing -------------------------------------------------------------------------------
    def load_candidate(self, changes: Sequence[Change]) -> None:
        entries = self._entries(self._read())
        self._base_revision = revision_of(entries)
        owned = {o.key: o for o in self._owned(entries)}
        result = apply_changes(owned, changes)
        kept: list[Any] = []
        for entry in entries:  # hand-made entries stay exactly where and as they are
            if not (isinstance(entry, dict) and entry.get("owner") == OWNER):
                kept.append(entry)
        kept += [{**obj.config(), "owner": OWNER} for _, obj in sorted(result.items())]
        self._candidate = kept

    def commit(self) -> str:
        if self._candidate is None:
            raise DriverError(f"{self.device}: nothing staged to commit")
        with _lock_for(self.state_file.resolve()):
            data = self._read()
            if revision_of(self._entries(data)) != self._base_revision:
                raise StalePlanError(f"{self.device}: the device changed while the change was staged")
            data["devices"][self.device] = self._candidate
            self._write(data)
        revision, self._candidate = revision_of(data["devices"][self.device]), None
        return revision

    def rollback(self) -> None:
        self._candidate = None  # nothing was written: commit replaces the file in one rename

    def _write(self, data: dict[str, Any]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=f".{self.state_file.name}.")
        try:
            os.chmod(tmp, self.state_file.stat().st_mode & 0o777 if self.state_file.exists() else 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
                fh.write("\n")
            self._replace(tmp, self.state_file)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise DriverError(f"{self.device}: cannot write {self.state_file.name}: {exc}") from exc

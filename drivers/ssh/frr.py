"""FRRouting over SSH: static routes, prefix-lists, BGP neighbours and VRF markers through vtysh.

Reads `show running-config` (frr_parse), renders changes (frr_render) and pushes them in one
batch (frr_push). vtysh has no rollback, so when a line is refused the driver compensates: it
reads the device back, undoes every owned change that took effect, reads back again and reports
exactly what the device holds. See docs/drivers/frr.md for settings and limits.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers.base import ApplyResult, Capabilities, Driver
from drivers.ssh import frr_render as render
from drivers.ssh.frr_parse import RunningConfig, config_lines, parse_running_config, revision_of
from drivers.ssh.frr_push import Refusal, push_channel, push_lines
from drivers.ssh.session import BatchChannel, Connection, ConnectionFactory, open_connection, read_secret, settings_for
from intent.errors import ApplyError, DriverError, StalePlanError
from intent.inventory import format_validation_error
from intent.model import BgpPeering, DeviceObject, StaticRoute
from intent.plan import Change, DevicePlan, FabricState, apply_changes, diff


class FrrSettings(BaseModel):
    """The frr driver's options (inventory `drivers.frr`, overridden by a switch's `options`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    login: Literal["vtysh", "shell"] = "vtysh"  # the SSH user's login shell: vtysh itself, or a Linux shell
    vtysh_command: str = "sudo vtysh"  # how a Linux shell login starts vtysh
    batch: Literal["channel", "lines"] = "channel"  # one-shot channel per batch, or netmiko line by line
    timeout: float = Field(120.0, gt=0)


class FrrDriver(Driver):
    """One FRR switch managed over SSH with vtysh."""

    name: ClassVar[str] = "frr"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=("vrf", "prefix-list", "bgp-peering", "static-route"), transactional=False, rollback=True,
        description="FRRouting over SSH (vtysh); one batch per apply, compensation on a refused line")

    def __init__(self, *args: Any, connect: ConnectionFactory | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.settings = FrrSettings.model_validate(settings_for(self.switch, self.inventory))
        except ValidationError as exc:
            raise DriverError(f"{self.device}: bad frr settings: {'; '.join(format_validation_error(exc))}") from None
        self._connect = connect or self._open
        self._conn: Connection | None = None
        self._batch: list[tuple[str, str | None]] = []  # (line, key of the change it belongs to)
        self._before: RunningConfig | None = None
        self._outcome: ApplyResult | None = None

    # -- session -------------------------------------------------------------------------------
    def _open(self) -> Connection:
        device_type = "cisco_ios" if self.settings.login == "vtysh" else "linux"
        return open_connection(self.switch, self.inventory, self.base_dir, device_type=device_type,
                               interactive=self.settings.batch == "lines")

    @contextmanager
    def _session(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
            return
        self._conn = self._connect()
        try:
            yield self._conn
        finally:
            conn, self._conn = self._conn, None
            conn.disconnect()

    def _vtysh(self, command: str) -> str:
        """The command line that runs one vtysh command in the login mode configured."""
        if self.settings.login == "vtysh":
            return command
        return f"{self.settings.vtysh_command} -c {shlex.quote(command)}"

    def _show_running(self, conn: Connection) -> str:
        if self.settings.batch == "channel" and isinstance(conn, BatchChannel):
            result = conn.run(self._vtysh("show running-config"), timeout=self.settings.timeout)
            if result.status not in (0, None):
                raise DriverError(f"{self.device}: show running-config failed: {result.output.strip()[:200]}")
            return result.output
        return conn.send_command(self._vtysh("show running-config"), read_timeout=self.settings.timeout)

    def _running_text(self) -> str:
        with self._session() as conn:
            text = self._show_running(conn)
        if "frr version" not in text:
            raise DriverError(f"{self.device}: the answer to show running-config is not FRR's: {text.strip()[:120]!r}")
        return text

    def _read(self) -> RunningConfig:
        return parse_running_config(self._running_text(), self.device, self.inventory.routing.route_tag)

    # -- the contract ----------------------------------------------------------------------------
    def observe(self) -> FabricState:
        config = self._read()
        return FabricState(device=self.device, revision=config.revision, objects=tuple(config.objects),
                           foreign=frozenset(config.foreign))

    def render(self, change: Change) -> tuple[str, ...]:
        return tuple(render.change_lines(change, self.switch.asn))

    def apply(self, device_plan: DevicePlan) -> ApplyResult:
        """One SSH session for the whole apply: read, refuse if stale, push one batch, read back."""
        with self._session():
            config = self._read()
            if config.revision != device_plan.revision:
                raise StalePlanError(
                    f"{self.device}: the device changed since the plan was made (revision "
                    f"{device_plan.revision[:12]} -> {config.revision[:12]}); make a new plan")
            keys = tuple(c.key for c in device_plan.changes)
            if not keys:
                return ApplyResult(device=self.device, revision=config.revision)
            self._before, self._outcome = config, None
            self.load_candidate(device_plan.changes)
            try:
                revision = self.commit()
            except ApplyError as exc:
                return self._outcome or ApplyResult(device=self.device, not_applied=keys, error=str(exc))
            finally:
                self.rollback()
        return ApplyResult(device=self.device, applied=keys, revision=revision)

    def load_candidate(self, changes: Sequence[Change]) -> None:
        """Stage the batch: every change's lines, then what keeps redistribution in step."""
        before = self._before or self._read()
        self._before, self._changes = before, tuple(changes)
        batch = [(line, c.key) for c in changes for line in self.render(c)]
        after = apply_changes({o.key: o for o in before.objects}, changes)
        self._batch = batch + [(line, None) for line in self._upkeep(before, list(after.values()))]

    def commit(self) -> str:
        if self._before is None or not self._batch:
            raise DriverError(f"{self.device}: nothing staged to commit")
        with self._session() as conn:
            refused = self._push(conn, [line for line, _ in self._batch])
            if refused:
                raise self._compensate(refused)
            return revision_of(config_lines(self._running_text()))

    def rollback(self) -> None:
        """Nothing is staged on the device itself; a refused batch is undone by `commit` (compensation)."""
        self._batch, self._before = [], None

    # -- pushing and compensating ------------------------------------------------------------------
    def _push(self, conn: Connection, lines: list[str]) -> list[Refusal]:
        lines = self._with_secrets(lines)
        try:
            if self.settings.batch == "channel" and isinstance(conn, BatchChannel):
                command = None if self.settings.login == "vtysh" else self.settings.vtysh_command
                return push_channel(conn, command, lines, self.settings.timeout)
            if self.settings.login != "vtysh":
                raise DriverError(f"{self.device}: batch 'lines' needs login 'vtysh' (netmiko cannot drive "
                                  "vtysh behind a Linux shell line by line)")
            return push_lines(conn, lines)
        finally:
            lines.clear()  # the copy holds the BGP password

    def _with_secrets(self, lines: list[str]) -> list[str]:
        if not any(render.PASSWORD_PLACEHOLDER in line for line in lines):
            return list(lines)
        if self.inventory.bgp.password is None:
            raise DriverError(f"{self.device}: a neighbour is authenticated but bgp.password is not set")
        secret = read_secret(self.inventory.bgp.password, self.base_dir, self.device, "bgp.password")
        return [line.replace(render.PASSWORD_PLACEHOLDER, secret) for line in lines]

    def _compensate(self, refused: list[Refusal]) -> ApplyError:
        """Restore the owned state from before the batch, read back, and say exactly what happened."""
        assert self._before is not None
        before, refusal = self._before, refused[0]
        line, key = self._batch[refusal.index] if 0 <= refusal.index < len(self._batch) else ("", None)
        failed = self._read()
        took_effect = _differing(before.objects, failed.objects)
        if took_effect:
            with self._session() as conn:
                undo = list(diff(before.objects, failed.objects))
                restore = [text for c in undo for text in self.render(c)]
                restore += self._upkeep(failed, list(before.objects))
                self._push(conn, restore)
        final = self._read()
        still = _differing(before.objects, final.objects)
        where = f"change {key}" if key else "redistribution upkeep"
        what = (f"line {refusal.index + 1} of the batch ({where}), {line.strip()!r}, was refused" if line
                else "vtysh refused a line it could not be pinned to")
        more = f" (and {len(refused) - 1} later line(s) refused after it)" if len(refused) > 1 else ""
        text = f"{self.device}: {what}: {refusal.message}{more}. vtysh has no rollback: "
        if still:
            text += (f"{len(took_effect)} owned object(s) had changed; restoring failed for {len(still)}: "
                     f"{', '.join(sorted(still))}; the device now holds revision {final.revision[:12]}")
        else:
            text += (f"{len(took_effect)} owned object(s) had changed and were restored"
                     f"{' (' + ', '.join(sorted(took_effect)) + ')' if took_effect else ''}; the owned configuration "
                     "is as before")
        self._outcome = self._result(final, still, text)
        return ApplyError(text)

    def _result(self, final: RunningConfig, still: set[str], error: str) -> ApplyResult:
        now = {o.key: o.config() for o in final.objects}
        applied = tuple(c.key for c in self._changes if c.key in still and now.get(c.key) == (
            c.after.config() if c.after is not None else None))
        not_applied = tuple(c.key for c in self._changes if c.key not in applied)
        return ApplyResult(device=self.device, applied=applied, not_applied=not_applied, revision=final.revision,
                           error=error)

    def _upkeep(self, config: RunningConfig, owned_after: list[DeviceObject]) -> list[str]:
        """Redistribution of owned static routes, and BGP instances left empty by fabric-intent."""
        routes = [o for o in owned_after if isinstance(o, StaticRoute)]
        enabled = self.inventory.routing.redistribute_static and self.switch.asn is not None
        wanted = {(r.vrf, "ipv6" if r.prefix.version == 6 else "ipv4") for r in routes} if enabled else set()
        lines = _redistribution(config, wanted, self.switch.asn, self.inventory.routing.route_tag)
        peers = {o.vrf for o in owned_after if isinstance(o, BgpPeering)}
        owned_before = {o.vrf for o in config.objects if isinstance(o, BgpPeering)}
        for vrf, instance in sorted(config.bgp.items(), key=lambda item: item[0] == "default"):
            ours = vrf in owned_before or "ours" in instance.redistribute.values()
            keeps = vrf in peers or any(v == vrf for v, _ in wanted)
            if instance.foreign_lines == 0 and ours and not keeps:
                lines.append(f"no {render.bgp_header(instance.asn, vrf)}")
        return lines


def _redistribution(config: RunningConfig, wanted: set[tuple[str, str]], asn: int | None, tag: int) -> list[str]:
    lines: list[str] = []
    if wanted and not config.route_map:
        lines += render.redistribute_map(tag, True)
    for vrf, family in sorted(wanted):
        instance = config.bgp.get(vrf)
        if asn is None or (instance is not None and (instance.asn != asn or family in instance.redistribute)):
            continue  # another ASN, or redistribution already there (ours, or made by hand: left alone)
        lines += render.redistribution(asn, vrf, family, True)
    for vrf, instance in sorted(config.bgp.items()):
        for family, who in sorted(instance.redistribute.items()):
            if who == "ours" and (vrf, family) not in wanted:
                lines += render.redistribution(instance.asn, vrf, family, False)
    if config.route_map and not wanted:
        lines += render.redistribute_map(tag, False)
    return lines


def _differing(before: Sequence[DeviceObject], after: Sequence[DeviceObject]) -> set[str]:
    """Keys of owned objects that differ between two readings."""
    old, new = {o.key: o.config() for o in before}, {o.key: o.config() for o in after}
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}

"""FRRouting over SSH: static routes, prefix-lists, BGP neighbours and VRF markers through vtysh.

Reads `show running-config` (frr_parse), renders changes (frr_render) and pushes them in one
batch (frr_push). vtysh has no rollback, so when a line is refused the driver compensates: it
reads the device back, undoes every owned change that took effect, reads back again and reports
exactly what the device holds. On a switch that enforces NetworkPolicy (login `shell`), address
groups and policy rules live in the nftables table `inet fabric-intent` (frr_nft), pushed with
`nft -f` after the vtysh batch; if nft refuses it, the vtysh batch is undone too. See
docs/drivers/frr.md for settings and limits.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers.base import ApplyResult, Capabilities, Driver
from drivers.ssh import frr_nft as nft
from drivers.ssh import frr_render as render
from drivers.ssh.frr_parse import RunningConfig, config_lines, parse_running_config, revision_of
from drivers.ssh.frr_push import Refusal, push_channel, push_lines
from drivers.ssh.session import BatchChannel, Connection, ConnectionFactory, open_connection, read_secret, settings_for
from intent.errors import ApplyError, DriverError, StalePlanError
from intent.inventory import format_validation_error
from intent.model import AddressGroup, BgpPeering, DeviceObject, StaticRoute
from intent.plan import Change, DevicePlan, FabricState, apply_changes, diff


class FrrSettings(BaseModel):
    """The frr driver's options (inventory `drivers.frr`, overridden by a switch's `options`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    login: Literal["vtysh", "shell"] = "vtysh"  # the SSH user's login shell: vtysh itself, or a Linux shell
    vtysh_command: str = "sudo vtysh"  # how a Linux shell login starts vtysh
    batch: Literal["channel", "lines"] = "channel"  # one-shot channel per batch, or netmiko line by line
    nft_command: str = "sudo nft"  # how a Linux shell login runs nft on the switch (policy enforcement)
    timeout: float = Field(120.0, gt=0)


class FrrDriver(Driver):
    """One FRR switch managed over SSH with vtysh."""

    name: ClassVar[str] = "frr"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=("vrf", "prefix-list", "bgp-peering", "static-route", "address-group", "policy-rule"),
        transactional=False, rollback=True,
        description="FRRouting over SSH (vtysh); one batch per apply, compensation on a refused line; "
                    "NetworkPolicy as an nftables table (login shell only)")

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
        self._table: nft.NftTable | None = None  # fabric-intent's nftables table before the apply
        self._script = ""  # the nft -f input staged
        self._changes: tuple[Change, ...] = ()
        self._outcome: ApplyResult | None = None

    @property
    def enforces_policy(self) -> bool:
        """Whether the inventory places NetworkPolicy on this switch (its nftables table is then read)."""
        return self.device in self.inventory.policy.enforce_on

    def _check_policy_login(self) -> None:
        if self.settings.login != "shell" or self.settings.batch != "channel":
            raise DriverError(
                f"{self.device}: NetworkPolicy is enforced here as nftables rules, pushed with `nft` from a Linux "
                f"shell, but the frr login is {self.settings.login!r} (batch {self.settings.batch!r}); set login "
                "'shell' and batch 'channel' for this switch, or take it out of policy.enforce_on")

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
        with self._session():
            config, table = self._read(), self._read_table()
        return FabricState(device=self.device, revision=self._revision(config.revision, table),
                           objects=(*config.objects, *table.objects), foreign=frozenset(config.foreign))

    def render(self, change: Change) -> tuple[str, ...]:
        if nft.is_policy(change):
            return tuple(nft.change_lines(change))
        return tuple(render.change_lines(change, self.switch.asn))

    def plan(self, desired: Sequence[DeviceObject] | Mapping[str, DeviceObject], observed: FabricState) -> DevicePlan:
        """The base plan, over address groups in the form nftables holds them; policy needs a shell login."""
        wanted = list(desired.values()) if isinstance(desired, Mapping) else list(desired)
        if any(o.kind in nft.POLICY_KINDS for o in wanted) or any(o.kind in nft.POLICY_KINDS for o in observed.objects):
            self._check_policy_login()
        return super().plan([nft.held_form(o) if isinstance(o, AddressGroup) else o for o in wanted], observed)

    def apply(self, device_plan: DevicePlan) -> ApplyResult:
        """One SSH session for the whole apply: read, refuse if stale, push one batch, read back."""
        with self._session():
            config, table = self._read(), self._read_table()
            revision = self._revision(config.revision, table)
            if revision != device_plan.revision:
                raise StalePlanError(
                    f"{self.device}: the device changed since the plan was made (revision "
                    f"{device_plan.revision[:12]} -> {revision[:12]}); make a new plan")
            keys = tuple(c.key for c in device_plan.changes)
            if not keys:
                return ApplyResult(device=self.device, revision=revision)
            self._before, self._table, self._outcome = config, table, None
            self.load_candidate(device_plan.changes)
            try:
                revision = self.commit()
            except ApplyError as exc:
                return self._outcome or ApplyResult(device=self.device, not_applied=keys, error=str(exc))
            finally:
                self.rollback()
        return ApplyResult(device=self.device, applied=keys, revision=revision)

    def load_candidate(self, changes: Sequence[Change]) -> None:
        """Stage the vtysh batch (every change's lines, then what keeps redistribution in step) and the nft script."""
        policy = [c for c in changes if nft.is_policy(c)]
        routing = [c for c in changes if not nft.is_policy(c)]
        if policy:
            self._check_policy_login()
        before = self._before or self._read()
        self._before, self._changes = before, tuple(changes)
        self._script = ""
        if policy:
            self._table = self._table or self._read_table()
            self._script = nft.script(self._table.objects, policy)
        batch = [(line, c.key) for c in routing for line in self.render(c)]
        after = apply_changes({o.key: o for o in before.objects}, routing)
        upkeep = self._upkeep(before, list(after.values())) if routing or not policy else []
        self._batch = batch + [(line, None) for line in upkeep]

    def commit(self) -> str:
        """The vtysh batch, then the nft script; a refusal of either leaves the owned state as before."""
        if self._before is None or not (self._batch or self._script):
            raise DriverError(f"{self.device}: nothing staged to commit")
        with self._session() as conn:
            if self._batch:
                refused = self._push(conn, [line for line, _ in self._batch])
                if refused:
                    raise self._compensate(refused)
            if self._script:
                failure = self._push_table(conn, self._script)
                if failure:
                    raise self._compensate_table(failure)
            config_revision = revision_of(config_lines(self._running_text()))
            return self._revision(config_revision, self._read_table())

    def rollback(self) -> None:
        """Nothing is staged on the device itself; a refused batch is undone by `commit` (compensation)."""
        self._batch, self._before, self._table, self._script = [], None, None, ""

    # -- nftables ------------------------------------------------------------------------------------
    def _revision(self, config_revision: str, table: nft.NftTable) -> str:
        """The device revision: the running configuration's, joined by the nftables table's where policy is enforced."""
        if not self.enforces_policy or self.settings.login != "shell":
            return config_revision
        return hashlib.sha256(f"{config_revision}\n{table.revision}".encode()).hexdigest()

    def _nft(self, conn: Connection, arguments: str, script: str = "") -> tuple[int | None, str]:
        if not isinstance(conn, BatchChannel):
            raise DriverError(f"{self.device}: nftables needs the SSH exec channel (batch 'channel')")
        result = conn.run(f"{self.settings.nft_command} {arguments}", script, timeout=self.settings.timeout)
        return result.status, result.output

    def _read_table(self) -> nft.NftTable:
        """fabric-intent's nftables table, when this switch enforces policy and the login can read it."""
        if not self.enforces_policy or self.settings.login != "shell":
            return nft.parse_table("", self.device)
        with self._session() as conn:
            status, output = self._nft(conn, nft.LIST_TABLE)
        if status not in (0, None):
            if nft.is_missing_table(output):
                return nft.parse_table("", self.device)
            raise DriverError(f"{self.device}: `{self.settings.nft_command} {nft.LIST_TABLE}` failed "
                              f"(exit {status}): {output.strip()[:300]}")
        return nft.parse_table(output, self.device)

    def _push_table(self, conn: Connection, script: str) -> str:
        """Run `nft -f -` with the script; nft's complaint when it refused (the table is then unchanged)."""
        status, output = self._nft(conn, "-f -", script)
        if status == 0 or (status is None and not output.strip()):
            return ""
        return " ".join(output.split())[:400] or f"exit status {status}"

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
        took_effect, still, final = self._restore(before)
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

    def _restore(self, before: RunningConfig) -> tuple[set[str], set[str], RunningConfig]:
        """Undo every owned vtysh change that took effect; (what had changed, what still differs, final reading)."""
        failed = self._read()
        took_effect = _differing(before.objects, failed.objects)
        if took_effect:
            with self._session() as conn:
                undo = list(diff(before.objects, failed.objects))
                restore = [text for c in undo for text in self.render(c)]
                restore += self._upkeep(failed, list(before.objects))
                self._push(conn, restore)
        final = self._read()
        return took_effect, _differing(before.objects, final.objects), final

    def _compensate_table(self, complaint: str) -> ApplyError:
        """nft refused the script (nothing of it took effect): undo the vtysh batch too, and say what happened."""
        assert self._before is not None and self._table is not None
        took_effect, still, final = self._restore(self._before) if self._batch else (set(), set(), self._before)
        table = self._read_table()
        text = f"{self.device}: nft refused the policy rule set: {complaint}. "
        unchanged = table.revision == self._table.revision
        text += ("nft applies a file as one transaction: the table is as before" if unchanged
                 else "the nftables table changed meanwhile: make a new plan")
        if still:
            text += (f"; the vtysh batch took effect and restoring it failed for {len(still)} object(s): "
                     f"{', '.join(sorted(still))}")
        elif took_effect:
            text += f"; the vtysh batch was undone ({len(took_effect)} owned object(s) restored)"
        self._outcome = self._result(final, still, text)
        return ApplyError(text)

    def _result(self, final: RunningConfig, still: set[str], error: str) -> ApplyResult:
        now = {o.key: o.config() for o in final.objects}
        applied = tuple(c.key for c in self._changes if c.key in still and now.get(c.key) == (
            c.after.config() if c.after is not None else None))
        not_applied = tuple(c.key for c in self._changes if c.key not in applied)
        table = self._read_table() if self.enforces_policy else nft.parse_table("", self.device)
        return ApplyResult(device=self.device, applied=applied, not_applied=not_applied,
                           revision=self._revision(final.revision, table), error=error)

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

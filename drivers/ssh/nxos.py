"""Cisco NX-OS over SSH (netmiko `cisco_nxos`), made all-or-nothing with a configuration checkpoint.

Apply: `checkpoint fi-<id>` (a snapshot of the running configuration), the plan's lines in one
`configure terminal` batch that stops at the first refused line, then `no checkpoint fi-<id>`. When a
line is refused (`% Invalid command at '^' marker.`) or the session fails, `rollback running-config
checkpoint fi-<id>` (atomic: all or nothing) restores the configuration as it was, and the checkpoint
is deleted. If the rollback itself fails, the checkpoint is kept for the operator and the error says so.

NX-OS needs `feature bgp` before BGP neighbours can be configured; the driver does not enable features.

Options (inventory `drivers.nxos` or a switch's `options`): `policy_interfaces`, the pod-facing interfaces
(`[Vlan100]`) the NetworkPolicy ACLs are bound to (`FI-EGRESS` in, `FI-INGRESS` out); see `nxos_policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from netutils.config.parser import NXOSConfigParser

from drivers.base import Capabilities
from drivers.ssh import nxos_config, nxos_policy
from drivers.ssh.cli_common import CLI_KINDS, CliDriver, PlatformSyntax, change_name, first_error, revision_of
from intent.errors import DriverError
from intent.model import PolicyRule
from intent.plan import Change

ROLLBACK_DONE = "Rollback completed successfully"


class NxosDriver(CliDriver):
    """Cisco NX-OS switch: static routes, prefix-lists, BGP neighbours, VRF contexts and NetworkPolicy ACLs,
    with checkpoint and rollback."""

    name: ClassVar[str] = "nxos"
    device_type: ClassVar[str] = "cisco_nxos"
    syntax: ClassVar[PlatformSyntax] = nxos_config
    parser = NXOSConfigParser
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=CLI_KINDS, transactional=False, rollback=True,
        description="Cisco NX-OS over SSH: checkpoint, configure, rollback running-config checkpoint on error")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checkpoint: str | None = None
        self._lines: list[str] = []

    def check_policy(self, rules: Sequence[PolicyRule]) -> None:
        clashes = nxos_policy.sequence_clashes({r.name: r for r in rules}.values())
        if clashes:
            raise DriverError(f"{self.device}: policy rules {clashes[0]} would share an ACL sequence number; "
                              "this rule set cannot be placed on NX-OS")

    def load_candidate(self, changes: Sequence[Change]) -> None:
        """NX-OS has no candidate configuration: take the checkpoint the change can be rolled back to."""
        self._lines = self.lines_of(changes)
        self.reveal("\n".join(self._lines))  # a missing secret fails here, before the checkpoint
        name = change_name(self.plan_revision, self._lines)
        self.run_checked(f"checkpoint {name}")
        self._checkpoint = name

    def commit(self) -> str:
        if self._checkpoint is None:
            raise DriverError(f"{self.device}: nothing staged to commit")
        self.last_output = self.send_config(self._lines)
        revision = revision_of(self.running_config())
        self._drop_checkpoint()
        return revision

    def rollback(self) -> None:
        if self._checkpoint is None:
            return
        if self.left_in_config_mode:
            self.show("end")
            self.left_in_config_mode = False
        output = self.show(f"rollback running-config checkpoint {self._checkpoint}")
        self.last_output = output
        if ROLLBACK_DONE not in output:
            kept, self._checkpoint = self._checkpoint, None
            raise DriverError(f"{self.device}: rollback to checkpoint {kept} failed "
                              f"({first_error(output) or 'no confirmation'}); the checkpoint is kept for recovery")
        self._drop_checkpoint()

    def _drop_checkpoint(self) -> None:
        name, self._checkpoint = self._checkpoint, None
        self.run_checked(f"no checkpoint {name}")


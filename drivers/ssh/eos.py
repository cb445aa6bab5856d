"""Arista EOS over SSH (netmiko `arista_eos`), all-or-nothing through a configuration session.

Apply: `configure session fi-<id>`, the plan's lines, `show session-config diffs` (returned as the
result's `device_output` and logged), then `commit` — or, with the `commit_timer` option, `commit timer
hh:mm:ss`, a read-back over the same connection, and `configure session fi-<id> commit` to confirm
(EOS rolls the change back by itself when the timer runs out unconfirmed). A refused line or a failed
commit ends in `abort`: the running configuration was never touched.

Options (inventory `drivers.eos` or a switch's `options`): `commit_timer` (`hh:mm:ss`, default off);
`policy_interfaces`, the pod-facing interfaces (`[Vlan100]`) the NetworkPolicy traffic-policies are
applied to (`FI-EGRESS` input, `FI-INGRESS` output); see `eos_policy`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from netutils.config.parser import EOSConfigParser

from drivers.base import Capabilities
from drivers.ssh import eos_config
from drivers.ssh.cli_common import CLI_KINDS, CliDriver, PlatformSyntax, change_name, revision_of
from intent.errors import DeviceUnreachableError, DriverError
from intent.plan import Change

_TIMER = re.compile(r"^\d{2}:[0-5]\d:[0-5]\d$")


class EosDriver(CliDriver):
    """Arista EOS switch: static routes, prefix-lists, BGP neighbours, VRFs and NetworkPolicy traffic-policies,
    in a configure session."""

    name: ClassVar[str] = "eos"
    device_type: ClassVar[str] = "arista_eos"
    syntax: ClassVar[PlatformSyntax] = eos_config
    parser = EOSConfigParser
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=CLI_KINDS, transactional=True, rollback=True,
        description="Arista EOS over SSH: configure session, diff, commit (optional commit timer), abort on error")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timer = self.options.get("commit_timer")
        if timer is not None and not _TIMER.match(str(timer)):
            raise DriverError(f"{self.device}: option commit_timer must be hh:mm:ss (quote it in YAML), got {timer!r}")
        self.commit_timer: str | None = str(timer) if timer is not None else None
        self._session: str | None = None
        self._in_session = False  # the CLI is in the session's config mode (not yet committed)

    def load_candidate(self, changes: Sequence[Change]) -> None:
        lines = self.lines_of(changes)
        self.reveal("\n".join(lines))  # a missing secret fails here, before a session is opened
        self._session = change_name(self.plan_revision, lines)
        self._in_session = True
        self.send_config(lines, config_mode_command=f"configure session {self._session}", exit_config_mode=False)
        self.last_output = self.show("show session-config diffs")

    def commit(self) -> str:
        if self._session is None:
            raise DriverError(f"{self.device}: nothing staged to commit")
        if self.commit_timer is None:
            self.run_checked("commit")
        else:
            self.run_checked(f"commit timer {self.commit_timer}")
            self._in_session = False
            self.running_config()  # the switch still answers after the change: confirm it
            self.run_checked(f"configure session {self._session} commit")
        self._session, self._in_session = None, False
        return revision_of(self.running_config())

    def rollback(self) -> None:
        if self._session is None:
            return
        timed, name = not self._in_session, self._session
        command = f"configure session {name} abort" if timed else "abort"
        self._session, self._in_session = None, False
        try:
            self.run_checked(command)
        except DeviceUnreachableError as exc:
            if timed and self.commit_timer:
                raise DeviceUnreachableError(f"{exc}; the switch reverts session {name} by itself when its commit "
                                             f"timer ({self.commit_timer}) runs out unconfirmed") from exc
            raise

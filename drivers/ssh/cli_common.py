"""What the Arista EOS and Cisco NX-OS drivers share: one SSH connection per observe/apply, reading the
running configuration as (parents..., line) paths, its revision, secrets kept out of every output, and
device errors turned into fabric-intent errors that name the refused line.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol

from netutils.config.parser import BaseSpaceConfigParser
from pydantic import ValidationError

from drivers.base import ApplyResult, Driver
from drivers.ssh.session import Connection, ConnectionFactory, open_connection, read_secret, settings_for
from intent.errors import ApplyError, DeviceUnreachableError, DriverError, FabricIntentError
from intent.model import AddressGroup, DeviceObject, PolicyRule, StaticRoute
from intent.plan import Change, DevicePlan, FabricState

log = logging.getLogger("fabric_intent.drivers.ssh")

#: Stands for the BGP password in rendered lines, plans and reports; the value is put in only when sent.
PASSWORD_PLACEHOLDER = "<bgp.password>"
#: The name every owned static route carries (with the tag).
ROUTE_NAME = "fabric-intent"
#: Header lines of `show running-config` that change without any configuration change (NX-OS).
_VOLATILE = re.compile(r"^!\s*(Time|Running configuration last done at):.*$", re.M)
#: A CLI error line: `% Invalid input`, `% Invalid command at '^' marker.`, `ERROR: ...`.
ERROR_LINE = re.compile(r"^\s*(% .*|ERROR: .*)$", re.M)
_REFUSED = re.compile(r"at command: (?P<line>.*), matched error: (?P<error>.*)", re.S)

Path_ = tuple[str, ...]
#: The kinds of object the EOS and NX-OS drivers configure.
CLI_KINDS = ("vrf", "prefix-list", "bgp-peering", "static-route", "address-group", "policy-rule")
#: What an address group read back from a switch carries as its description (NX-OS object-groups and
#: EOS field-sets hold none).
HELD_DESCRIPTION = "members only (the switch holds no description)"


def config_paths(text: str, parser: type[BaseSpaceConfigParser]) -> list[Path_]:
    """Every configuration line as its path from the top: `("router bgp 65101", "vrf BLUE", "neighbor ...")`."""
    parsed = parser(text).config_lines
    return [tuple(p.strip() for p in line.parents) + (line.config_line.strip(),) for line in parsed]


def change_name(revision: str, lines: Sequence[str]) -> str:
    """A session or checkpoint name unique to the plan: EOS keeps completed sessions' names for a while, and
    NX-OS refuses to overwrite a checkpoint of the same name."""
    return "fi-" + hashlib.sha256("\n".join([revision, *lines]).encode()).hexdigest()[:10]


def revision_of(text: str) -> str:
    """SHA-256 of the running configuration, without the header lines that change by themselves."""
    return hashlib.sha256(_VOLATILE.sub("", text).encode()).hexdigest()


def words_after(words: list[str], keyword: str) -> str | None:
    """The word following `keyword` in a command (`tag 64512` -> `64512`), if present."""
    return words[words.index(keyword) + 1] if keyword in words[:-1] else None


def route_is_owned(words: list[str]) -> bool:
    return words_after(words, "name") == ROUTE_NAME


def route_tail(route: StaticRoute) -> str:
    return f"tag {route.tag} name {ROUTE_NAME}"


def key_of(kind: type[DeviceObject], **fields: Any) -> str:
    """The intent key a device object with these identifying fields has (the others need not be known)."""
    key: str = kind.model_construct(**fields).key
    return key


def held_form(group: AddressGroup) -> AddressGroup:
    """The group as the switch can hold it and the driver reads it back: host members as addresses, the
    other prefixes as prefixes, both sorted, and no description."""
    hosts = [p.network_address for p in group.prefixes if p.prefixlen == p.max_prefixlen]
    addresses = sorted({*group.addresses, *hosts}, key=lambda a: (a.version, int(a)))
    prefixes = sorted((p for p in group.prefixes if p.prefixlen != p.max_prefixlen),
                      key=lambda p: (p.version, int(p.network_address), p.prefixlen))
    return AddressGroup.model_construct(device=group.device, name=group.name, description=HELD_DESCRIPTION,
                                        addresses=tuple(addresses), prefixes=tuple(prefixes),
                                        provenance=group.provenance)


def first_error(output: str) -> str | None:
    match = ERROR_LINE.search(output)
    return match.group(1).strip() if match else None


class PlatformSyntax(Protocol):
    """A platform's configuration module: rendering changes and reading owned objects back."""

    def render_change(self, change: Change, asn: int | None, cluster: str,
                      interfaces: Sequence[str] = ()) -> list[str]: ...

    def parse_owned(self, paths: list[Path_], device: str,
                    interfaces: Sequence[str] = ()) -> tuple[list[DeviceObject], frozenset[str]]: ...


class CliDriver(Driver):
    """Base of the EOS and NX-OS drivers: connection handling, observe, and secret-safe sending."""

    device_type: ClassVar[str]  # netmiko device_type
    parser: ClassVar[type[BaseSpaceConfigParser]]
    syntax: ClassVar[PlatformSyntax]  # the platform's configuration module

    def __init__(self, *args: Any, connect: ConnectionFactory | None = None, **kwargs: Any) -> None:
        """`connect` is the seam for the SSH connection; None opens one with netmiko from the inventory."""
        super().__init__(*args, **kwargs)
        self._connect = connect
        self._connection: Connection | None = None
        self.options: dict[str, Any] = settings_for(self.switch, self.inventory)
        self.last_output = ""  # what the device printed for the last change (diff, rollback), secrets removed
        self.left_in_config_mode = False  # a refused line stopped the batch inside configuration mode
        self.plan_revision = ""  # revision of the plan being applied: names its session or checkpoint
        interfaces = self.options.get("policy_interfaces", [])
        if not isinstance(interfaces, list) or not all(isinstance(i, str) and i.strip() for i in interfaces):
            raise DriverError(f"{self.device}: option policy_interfaces must be a list of interface names, "
                              f"got {interfaces!r}")
        self.policy_interfaces: tuple[str, ...] = tuple(interfaces)  # pod-facing: where policy is enforced

    # -- connection --------------------------------------------------------------------------------
    def _open(self) -> Connection:
        if self._connect is not None:
            return self._connect()
        return open_connection(self.switch, self.inventory, self.base_dir, device_type=self.device_type)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """The connection of the running observe/apply, opened on first use and closed at its end."""
        if self._connection is not None:
            yield self._connection
            return
        try:
            self._connection = self._open()
        except FabricIntentError:
            raise
        except Exception as exc:  # a connection factory's own failure: never leaks as a foreign type
            raise DeviceUnreachableError(f"{self.device}: cannot open the SSH session: {exc}") from exc
        try:
            yield self._connection
        finally:
            connection, self._connection = self._connection, None
            try:
                self._call(connection.disconnect)
            except FabricIntentError as exc:  # the work is done or has failed already; closing is best effort
                log.debug("%s: closing the SSH session failed: %s", self.device, exc)

    def _call(self, method: Callable[..., str | None], *args: Any, **kwargs: Any) -> str:
        """Call the connection; transport problems become DeviceUnreachableError, others DriverError."""
        try:
            return method(*args, **kwargs) or ""
        except DriverError as exc:  # from the session layer: may quote a line that carried the password
            text = self.scrub(str(exc))
            if text == str(exc):
                raise
            raise type(exc)(text, retry_after=exc.retry_after) from exc
        except FabricIntentError:
            raise
        except (OSError, TimeoutError, EOFError) as exc:
            raise DeviceUnreachableError(f"{self.device}: lost the SSH session: {self.scrub(str(exc))}") from exc
        except Exception as exc:  # netmiko and paramiko raise many types; none may leak
            if "timeout" in type(exc).__name__.lower():
                raise DeviceUnreachableError(f"{self.device}: the device did not answer: {self.scrub(str(exc))}") \
                    from exc
            raise DriverError(f"{self.device}: {type(exc).__name__}: {self.scrub(str(exc))}") from exc

    def show(self, command: str) -> str:
        with self.connection() as conn:
            return self.scrub(self._call(conn.send_command, command, read_timeout=60))

    def send_config(self, lines: Sequence[str], **kwargs: Any) -> str:
        """Send config lines in one batch, stopping at the first line the device refuses (ApplyError naming it)."""
        sent = [self.reveal(line) for line in lines]
        with self.connection() as conn:
            try:
                output = conn.send_config_set(sent, error_pattern=ERROR_LINE.pattern, read_timeout=120, **kwargs)
            except Exception as exc:
                self.left_in_config_mode = True
                refused = _REFUSED.search(str(exc))
                if refused is None:
                    self._call(_reraise, exc)
                assert refused is not None
                raise ApplyError(f"{self.device}: the device refused `{self.scrub(refused['line'].strip())}`: "
                                 f"{refused['error'].strip()}") from exc
        output = self.scrub(output or "")
        if (error := first_error(output)) is not None:
            raise ApplyError(f"{self.device}: the device refused a line: {error}")
        return output

    # -- secrets -----------------------------------------------------------------------------------
    def _secret(self) -> str | None:
        ref = self.inventory.bgp.password
        return read_secret(ref, self.base_dir, self.device, "bgp.password") if ref is not None else None

    def reveal(self, line: str) -> str:
        if PASSWORD_PLACEHOLDER not in line:
            return line
        secret = self._secret()
        if secret is None:
            raise DriverError(f"{self.device}: a neighbour is authenticated but the inventory has no bgp.password")
        return line.replace(PASSWORD_PLACEHOLDER, secret)

    def scrub(self, text: str) -> str:
        """`text` with the BGP password replaced by its placeholder."""
        ref = self.inventory.bgp.password
        if ref is None or not text:
            return text
        try:
            secret = read_secret(ref, self.base_dir, self.device, "bgp.password")
        except DriverError:
            return text
        return text.replace(secret, PASSWORD_PLACEHOLDER) if secret else text

    def run_checked(self, command: str) -> str:
        """Run an exec command; an error line in its output is an ApplyError naming the command."""
        output = self.show(command)
        if (error := first_error(output)) is not None:
            raise ApplyError(f"{self.device}: `{command}` failed: {error}")
        return output

    # -- contract ----------------------------------------------------------------------------------
    def render(self, change: Change) -> tuple[str, ...]:
        return tuple(self.syntax.render_change(change, self.switch.asn, self.inventory.cluster,
                                               self.policy_interfaces))

    def parse(self, text: str) -> tuple[list[DeviceObject], frozenset[str]]:
        """Owned objects and the keys hand-made configuration occupies, from the running configuration."""
        return self.syntax.parse_owned(config_paths(text, self.parser), self.device, self.policy_interfaces)

    def running_config(self) -> str:
        return self.show("show running-config")

    def observe(self) -> FabricState:
        text = self.running_config()
        try:
            objects, foreign = self.parse(text)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise DriverError(f"{self.device}: cannot read a fabric-intent object from the running configuration: "
                              f"{error['msg']} (got {error.get('input')!r})") from exc
        except (ValueError, IndexError) as exc:
            raise DriverError(f"{self.device}: cannot read a fabric-intent object from the running configuration: "
                              f"{exc}") from exc
        return FabricState(device=self.device, revision=revision_of(text), objects=tuple(objects), foreign=foreign)

    def check_policy(self, rules: Sequence[PolicyRule]) -> None:
        """Refuse, with a DriverError, a rule set this platform cannot place (nothing by default)."""

    def plan(self, desired: Sequence[DeviceObject] | Mapping[str, DeviceObject], observed: FabricState) -> DevicePlan:
        """The base plan over address groups in the form the switch holds them (`held_form`), with each
        direction's policy drops (which build and bind the policy) after the accepts."""
        wanted = list(desired.values()) if isinstance(desired, Mapping) else list(desired)
        self.check_policy([o for o in [*wanted, *observed.objects] if isinstance(o, PolicyRule)])
        summaries = {o.key: o.describe() for o in wanted if isinstance(o, AddressGroup)}
        plan = super().plan([held_form(o) if isinstance(o, AddressGroup) else o for o in wanted], observed)
        changes = [c.model_copy(update={"summary": summaries[c.key]}) if c.key in summaries else c
                   for c in plan.changes]
        changes.sort(key=_policy_order)
        return plan.model_copy(update={"changes": tuple(changes)})

    def apply(self, device_plan: DevicePlan) -> ApplyResult:
        """The base apply (stale check, stage, commit, roll back on error) over one connection."""
        self.plan_revision = device_plan.revision  # names the session or checkpoint of this plan
        with self.connection():
            result = super().apply(device_plan)
        if self.last_output:
            log.info("%s: %s", self.device, self.last_output)
        return result.model_copy(update={"device_output": self.last_output})

    def lines_of(self, changes: Sequence[Change]) -> list[str]:
        return [line for change in changes for line in change.native]


def _policy_order(change: Change) -> tuple[bool, bool, bool]:
    """Creates, then deletes (kept in the plan's order), with each direction's policy drops after its accepts."""
    rule = change.after or change.before
    drop = isinstance(rule, PolicyRule) and rule.action == "drop"
    deleting = change.action == "delete"
    return deleting, deleting and change.kind != "policy-rule", drop


def _reraise(exc: Exception) -> str:
    raise exc

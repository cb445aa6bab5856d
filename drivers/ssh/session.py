"""The SSH connection every CLI driver uses: netmiko for the interactive session, plus one-shot
channels (exec or shell request, no PTY) on the same authenticated transport for bulk pushes.

Credentials are read from their references (environment variable or file) only here, and never
logged or put into a message. Host keys are verified against a known_hosts file by default;
turning that off is an explicit setting and is logged as a warning. netmiko and paramiko errors
are mapped to the error tree: an unreachable device is `DeviceUnreachableError` (retryable), a
refused login or host key is `DriverError` with a precise message. A driver that works through
one-shot channels only can log in without netmiko's interactive session (`interactive=False`).
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import paramiko
from netmiko import ConnectHandler
from netmiko.exceptions import (
    ConfigInvalidException,
    NetmikoBaseException,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from intent.errors import ApplyError, DeviceUnreachableError, DriverError
from intent.inventory import FabricInventory, SecretRef, Switch, format_validation_error

LOG = logging.getLogger("fabric_intent.drivers.ssh")
_KEY_TYPES: tuple[type[paramiko.PKey], ...] = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class Connection(Protocol):
    """The subset of netmiko's BaseConnection the drivers use."""

    def send_command(self, command_string: str, **kwargs: Any) -> str: ...
    def send_config_set(self, config_commands: Sequence[str], **kwargs: Any) -> str: ...
    def send_command_timing(self, command_string: str, **kwargs: Any) -> str: ...
    def disconnect(self) -> None: ...


ConnectionFactory = Callable[[], Connection]


class ChannelResult(BaseModel):
    """What a one-shot channel printed (stdout and stderr together) and its exit status."""

    model_config = ConfigDict(frozen=True)

    output: str
    status: int | None  # None when the server sent no exit status


@runtime_checkable
class BatchChannel(Protocol):
    """A connection that can also open one-shot channels: no PTY, input on stdin, output to EOF."""

    def run(self, command: str | None, stdin: str = "", *, timeout: float = 60.0) -> ChannelResult:
        """Run `command` (exec request), or the login shell when None (shell request), feeding `stdin`."""


class SshSettings(BaseModel):
    """SSH settings of one switch: the driver's section of the inventory, overridden by the switch's options."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    known_hosts: str | None = None  # file of trusted host keys; None: ~/.ssh/known_hosts
    verify_host_key: bool = True
    conn_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)


def settings_for(switch: Switch, inventory: FabricInventory) -> dict[str, Any]:
    """The driver's options for one switch: `drivers.<driver>` of the inventory, then the switch's own."""
    return {**inventory.drivers.get(switch.driver, {}), **switch.options}


def ssh_settings(switch: Switch, inventory: FabricInventory) -> SshSettings:
    try:
        return SshSettings.model_validate(settings_for(switch, inventory))
    except ValidationError as exc:
        raise DriverError(f"{switch.name}: bad SSH settings: {'; '.join(format_validation_error(exc))}") from None


def read_secret(ref: SecretRef, base_dir: Path, device: str, what: str) -> str:
    """The secret a reference points at. Messages name the reference, never the value."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise DriverError(f"{device}: {what} refers to environment variable {ref.env}, which is not set")
        return value
    path = base_dir / str(ref.file)
    try:
        return path.read_text(encoding="utf-8").rstrip("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise DriverError(f"{device}: cannot read {what} from file {ref.file}: {exc.__class__.__name__}") from None


def _private_key(text: str, device: str) -> paramiko.PKey:
    for key_type in _KEY_TYPES:
        try:
            return key_type.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise DriverError(f"{device}: credentials.private_key is not an unencrypted Ed25519, ECDSA or RSA private key")


def connect_params(switch: Switch, inventory: FabricInventory, base_dir: Path, device_type: str) -> dict[str, Any]:
    """netmiko's ConnectHandler arguments for one switch (holds secrets: never log the result)."""
    if switch.management is None:
        raise DriverError(f"{switch.name}: the inventory gives no management address (switches[].management)")
    creds = switch.credentials
    if creds is None or not creds.username or (creds.password is None and creds.private_key is None):
        raise DriverError(f"{switch.name}: the inventory gives no SSH credentials (username and password or "
                          "private_key)")
    settings = ssh_settings(switch, inventory)
    params: dict[str, Any] = {
        "device_type": device_type, "host": switch.management.host, "port": switch.management.port,
        "username": creds.username, "allow_agent": False, "ssh_config_file": None, "fast_cli": True,
        "conn_timeout": settings.conn_timeout, "read_timeout_override": settings.read_timeout,
        "use_keys": False, **_host_key_params(switch, settings, base_dir)}  # the key is passed as `pkey`
    if creds.password is not None:
        params["password"] = read_secret(creds.password, base_dir, switch.name, "credentials.password")
    if creds.private_key is not None:
        params["pkey"] = _private_key(read_secret(creds.private_key, base_dir, switch.name,
                                                  "credentials.private_key"), switch.name)
    return params


def _host_key_params(switch: Switch, settings: SshSettings, base_dir: Path) -> dict[str, Any]:
    if not settings.verify_host_key:
        LOG.warning("%s: SSH host key verification is turned off (verify_host_key: false)", switch.name)
        return {"ssh_strict": False, "system_host_keys": False}
    if settings.known_hosts is None:
        return {"ssh_strict": True, "system_host_keys": True}
    path = base_dir / settings.known_hosts
    if not path.is_file():
        raise DriverError(f"{switch.name}: known_hosts file {settings.known_hosts} does not exist")
    return {"ssh_strict": True, "system_host_keys": False, "alt_host_keys": True, "alt_key_file": str(path)}


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def connect_error(exc: Exception, switch: Switch, username: str) -> DriverError:
    """The error-tree equivalent of a failed netmiko connect."""
    where = f"{switch.name}: SSH to {switch.management.host}:{switch.management.port}" if switch.management else (
        f"{switch.name}: SSH")
    for cause in _cause_chain(exc):
        if isinstance(cause, paramiko.BadHostKeyException):
            return DriverError(f"{where} refused: the host key presented does not match the known_hosts entry "
                               "(possible man-in-the-middle; update known_hosts only if the switch was re-keyed)")
        if isinstance(cause, paramiko.SSHException) and "not found in known_hosts" in str(cause):
            return DriverError(f"{where} refused: the host key is not in known_hosts (add it, or set known_hosts)")
    if isinstance(exc, paramiko.AuthenticationException):  # netmiko's is a subclass
        return DriverError(f"{where}: authentication as {username!r} failed (wrong password or key)")
    if isinstance(exc, ValueError):
        return DriverError(f"{where}: bad connection settings: {_first_line(exc)}")
    return DeviceUnreachableError(f"{where} failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


class SshSession:
    """A netmiko connection with its errors mapped to the error tree, and one-shot channels.

    Opened with `interactive=False` it holds only the authenticated SSH transport (no interactive
    shell, no prompt discovery); netmiko then logs in the first time an interactive method is used.
    """

    def __init__(self, switch: Switch, params: dict[str, Any], *, netmiko_connection: Any = None,
                 client: paramiko.SSHClient | None = None) -> None:
        self.device = switch.name
        self._switch, self._params = switch, params  # params hold secrets: never log them
        self._conn = netmiko_connection
        self._client = client

    def _netmiko(self) -> Any:
        if self._conn is None:
            self._conn = _netmiko_login(self._switch, self._params)
        return self._conn

    @contextmanager
    def _mapped(self, doing: str) -> Iterator[None]:
        try:
            yield
        except ConfigInvalidException as exc:
            raise ApplyError(f"{self.device}: the device refused a line while {doing}: {_first_line(exc)}") from exc
        except (NetmikoBaseException, paramiko.SSHException, OSError, EOFError) as exc:
            message = f"{self.device}: SSH session failed while {doing}: {_first_line(exc)}"
            raise DeviceUnreachableError(message) from exc

    def send_command(self, command_string: str, **kwargs: Any) -> str:
        with self._mapped(f"running {command_string!r}"):
            return str(self._netmiko().send_command(command_string, **kwargs))

    def send_command_timing(self, command_string: str, **kwargs: Any) -> str:
        with self._mapped(f"running {command_string!r}"):
            return str(self._netmiko().send_command_timing(command_string, **kwargs))

    def send_config_set(self, config_commands: Sequence[str], **kwargs: Any) -> str:
        with self._mapped(f"sending {len(config_commands)} configuration lines"):
            return str(self._netmiko().send_config_set(config_commands, **kwargs))

    def disconnect(self) -> None:
        for close in (self._conn.disconnect if self._conn is not None else None,
                      self._client.close if self._client is not None else None):
            try:
                if close is not None:
                    close()
            except (NetmikoBaseException, paramiko.SSHException, OSError, EOFError):
                LOG.debug("%s: error while closing the SSH session ignored", self.device)
        self._conn = self._client = None

    def _transport(self) -> paramiko.Transport | None:
        if self._client is not None:
            return self._client.get_transport()
        client = self._netmiko().remote_conn_pre
        return client.get_transport() if client is not None else None

    def run(self, command: str | None, stdin: str = "", *, timeout: float = 60.0) -> ChannelResult:
        transport = self._transport()
        if transport is None or not transport.is_active():
            raise DeviceUnreachableError(f"{self.device}: the SSH transport is closed")
        with self._mapped("running a batch on a new channel"):
            return _run_on(transport, command, stdin, timeout, self.device)


def _run_on(transport: paramiko.Transport, command: str | None, stdin: str, timeout: float,
            device: str) -> ChannelResult:
    channel = transport.open_session(timeout=timeout)
    try:
        channel.settimeout(timeout)
        channel.set_combine_stderr(True)
        if command is None:
            channel.invoke_shell()
        else:
            channel.exec_command(command)
        if stdin:
            channel.sendall(stdin.encode())
        channel.shutdown_write()
        return ChannelResult(output=_read_to_eof(channel, timeout, device), status=_exit_status(channel))
    finally:
        channel.close()


def _read_to_eof(channel: paramiko.Channel, timeout: float, device: str) -> str:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            chunk = channel.recv(65536)
        except TimeoutError as exc:
            raise DeviceUnreachableError(f"{device}: no answer from the device within {timeout:g} s") from exc
        if not chunk:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise DeviceUnreachableError(f"{device}: the device kept talking for more than {timeout:g} s")


def _exit_status(channel: paramiko.Channel) -> int | None:
    if channel.status_event.wait(2.0):
        return channel.recv_exit_status()
    return None


def _netmiko_login(switch: Switch, params: dict[str, Any]) -> Any:
    try:
        return ConnectHandler(**params)
    except (NetmikoBaseException, paramiko.SSHException, OSError, EOFError, ValueError) as exc:
        raise connect_error(exc, switch, params["username"]) from exc


def _transport_login(switch: Switch, params: dict[str, Any]) -> paramiko.SSHClient:
    """The same login as netmiko's (host keys, credentials, timeouts), without an interactive shell."""
    client = paramiko.SSHClient()
    try:
        if params.get("system_host_keys"):
            client.load_system_host_keys()
        if params.get("alt_host_keys"):
            client.load_host_keys(params["alt_key_file"])
        policy = paramiko.RejectPolicy() if params["ssh_strict"] else paramiko.AutoAddPolicy()
        client.set_missing_host_key_policy(policy)
        timeout = params["conn_timeout"]
        client.connect(params["host"], port=params["port"], username=params["username"],
                       password=params.get("password"), pkey=params.get("pkey"), look_for_keys=False,
                       allow_agent=False, timeout=timeout, auth_timeout=timeout, banner_timeout=timeout)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        raise connect_error(exc, switch, params["username"]) from exc
    return client


def open_connection(switch: Switch, inventory: FabricInventory, base_dir: Path, *, device_type: str,
                    interactive: bool = True) -> SshSession:
    """Log in to `switch`; see the module docstring for what is verified and how errors map.

    `interactive=False` logs in without netmiko's interactive session, for drivers that work through
    one-shot channels (`SshSession.run`); netmiko logs in later only if an interactive method is used.
    """
    params = connect_params(switch, inventory, base_dir, device_type)
    if interactive:
        return SshSession(switch, params, netmiko_connection=_netmiko_login(switch, params))
    return SshSession(switch, params, client=_transport_login(switch, params))

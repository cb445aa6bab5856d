"""The SSH session layer without a network: credentials by reference, host-key settings, error mapping.

Real logins, host-key refusals and closed ports against a real sshd are in test_frr_lab.py.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException

from drivers.ssh.session import connect_error, connect_params, read_secret
from intent.errors import DeviceUnreachableError, DriverError
from intent.inventory import FabricInventory, SecretRef, parse_inventory

PASSWORD = "pw-that-must-never-show-17"


def _inventory(**switch: Any) -> FabricInventory:
    entry = {"name": "leaf-1", "role": "leaf", "driver": "frr", "management": {"host": "127.0.0.1", "port": 2201},
             "credentials": {"username": "netops", "password": {"env": "FI_TEST_SSH_PASSWORD"}}, **switch}
    return parse_inventory({"fabric": "f", "cluster": "c", "switches": [entry]}, "fabric.yaml")


def _new_key() -> str:
    """A fresh Ed25519 private key in OpenSSH format, made for one test and trusted nowhere."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()


def _key_file(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    path.write_text(_new_key())
    return path


def test_a_password_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FI_TEST_SSH_PASSWORD", PASSWORD)
    (tmp_path / "known_hosts").write_text("")
    inventory = _inventory(options={"known_hosts": "known_hosts"})
    params = connect_params(inventory.switches[0], inventory, tmp_path, "cisco_ios")
    assert params["password"] == PASSWORD
    assert (params["host"], params["port"], params["username"]) == ("127.0.0.1", 2201, "netops")
    assert params["ssh_strict"] is True and params["alt_key_file"] == str(tmp_path / "known_hosts")
    assert params["allow_agent"] is False and params["ssh_config_file"] is None


def test_a_missing_secret_names_its_reference_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FI_TEST_SSH_PASSWORD", raising=False)
    inventory = _inventory()
    with pytest.raises(DriverError, match="environment variable FI_TEST_SSH_PASSWORD, which is not set"):
        connect_params(inventory.switches[0], inventory, tmp_path, "cisco_ios")
    with pytest.raises(DriverError, match="cannot read bgp.password from file secret.txt") as info:
        read_secret(SecretRef(file="secret.txt"), tmp_path, "leaf-1", "bgp.password")
    assert str(tmp_path) not in str(info.value)


def test_a_private_key_file_is_loaded(tmp_path: Path) -> None:
    key = _key_file(tmp_path)
    inventory = _inventory(credentials={"username": "netops", "private_key": {"file": key.name}})
    params = connect_params(inventory.switches[0], inventory, tmp_path, "cisco_ios")
    assert isinstance(params["pkey"], paramiko.Ed25519Key) and "password" not in params
    assert params["system_host_keys"] is True, "without a known_hosts setting, ~/.ssh/known_hosts is used"


def test_a_key_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "id").write_text(PASSWORD)
    inventory = _inventory(credentials={"username": "netops", "private_key": {"file": "id"}})
    with pytest.raises(DriverError, match="is not an unencrypted Ed25519, ECDSA or RSA private key") as info:
        connect_params(inventory.switches[0], inventory, tmp_path, "cisco_ios")
    assert PASSWORD not in str(info.value)


def test_turning_host_key_checks_off_is_explicit_and_logged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            caplog: Any) -> None:
    monkeypatch.setenv("FI_TEST_SSH_PASSWORD", PASSWORD)
    inventory = _inventory(options={"verify_host_key": False})
    with caplog.at_level(logging.WARNING, logger="fabric_intent.drivers.ssh"):
        params = connect_params(inventory.switches[0], inventory, tmp_path, "cisco_ios")
    assert params["ssh_strict"] is False
    assert "host key verification is turned off" in caplog.text and PASSWORD not in caplog.text


def test_a_missing_known_hosts_file_or_management_address_is_refused(tmp_path: Path) -> None:
    inventory = _inventory(options={"known_hosts": "nowhere"})
    with pytest.raises(DriverError, match="known_hosts file nowhere does not exist"):
        connect_params(inventory.switches[0], inventory, tmp_path, "cisco_ios")
    bare = _inventory(management=None)
    with pytest.raises(DriverError, match="no management address"):
        connect_params(bare.switches[0], bare, tmp_path, "cisco_ios")
    with pytest.raises(DriverError, match="bad SSH settings: conn_timeout"):
        odd = _inventory(options={"conn_timeout": -1})
        connect_params(odd.switches[0], odd, tmp_path, "cisco_ios")


def _raised(cause: BaseException, outer: Exception) -> Exception:
    """`outer` raised while handling `cause`, as netmiko raises its own errors."""
    try:
        try:
            raise cause
        except BaseException:
            raise outer  # noqa: B904 - netmiko chains implicitly, and so does this
    except Exception as exc:
        return exc


def test_connect_errors_map_to_the_error_tree() -> None:
    switch = _inventory().switches[0]
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(_new_key()))
    mismatch = connect_error(_raised(paramiko.BadHostKeyException("[127.0.0.1]:2201", key, key),
                                     NetmikoTimeoutException("A paramiko SSHException occurred")), switch, "netops")
    assert type(mismatch) is DriverError and "does not match the known_hosts entry" in str(mismatch)
    unknown = connect_error(_raised(paramiko.SSHException("Server '[127.0.0.1]:2201' not found in known_hosts"),
                                    NetmikoTimeoutException("x")), switch, "netops")
    assert type(unknown) is DriverError and "not in known_hosts" in str(unknown)
    auth = connect_error(NetmikoAuthenticationException("Authentication to device failed."), switch, "netops")
    assert type(auth) is DriverError and "authentication as 'netops' failed" in str(auth)
    down = connect_error(_raised(ConnectionRefusedError(111, "refused"), NetmikoTimeoutException(
        "TCP connection to device failed.")), switch, "netops")
    assert isinstance(down, DeviceUnreachableError) and down.retryable
    assert "leaf-1: SSH to 127.0.0.1:2201 failed: TCP connection to device failed." == str(down)
    assert isinstance(connect_error(TimeoutError("timed out"), switch, "netops"), DeviceUnreachableError)

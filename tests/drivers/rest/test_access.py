"""Controller settings and credentials from the inventory: defaults, overrides, precise refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.rest.access import controller_options, login_credentials, read_secret, rest_settings
from intent.errors import DriverError
from intent.inventory import SecretRef, parse_inventory


def _inventory(**nsx: object) -> object:
    return parse_inventory({
        "fabric": "lab", "cluster": "c1",
        "switches": [{"name": "t0-a", "role": "border", "driver": "nsx", "management": {"host": "nsx-a.example.net"}},
                     {"name": "t0-b", "role": "border", "driver": "nsx", "options": {"page_size": 50,
                                                                                     "base_url": "https://b:8443"}}],
        "drivers": {"nsx": {"page_size": 200, **nsx}}}, "fabric.yaml")


def test_switch_options_override_the_driver_mapping() -> None:
    inventory = _inventory()
    a, b = inventory.switch("t0-a"), inventory.switch("t0-b")  # type: ignore[attr-defined]
    assert controller_options("nsx", a, inventory)["page_size"] == 200  # type: ignore[arg-type]
    assert controller_options("nsx", b, inventory)["page_size"] == 50  # type: ignore[arg-type]
    settings = rest_settings(controller_options("nsx", a, inventory), a, requests_per_second=100.0)  # type: ignore[arg-type]
    assert (settings.base_url, settings.max_requests_per_second, settings.verify) == (
        "https://nsx-a.example.net", 100.0, True)
    assert rest_settings({"base_url": "https://b:8443", "max_requests_per_second": 5}, b,
                         requests_per_second=100.0).max_requests_per_second == 5


def test_bad_settings_name_the_field() -> None:
    inventory = _inventory()
    b = inventory.switch("t0-b")  # type: ignore[attr-defined]
    with pytest.raises(DriverError, match=r"^t0-b: bad controller settings: page_size: Input should be less than or "):
        rest_settings({"base_url": "https://b", "page_size": 10**9}, b, requests_per_second=None)
    with pytest.raises(DriverError, match=r"^t0-b: bad controller settings: base_url: String should match pattern"):
        rest_settings({"base_url": "nsx.example.net"}, b, requests_per_second=None)


def test_credentials_come_from_the_switch_or_the_options() -> None:
    inventory = _inventory(credentials={"username": "fi", "password": {"env": "NSX_PASSWORD"}})
    a = inventory.switch("t0-a")  # type: ignore[attr-defined]
    creds = login_credentials(a, controller_options("nsx", a, inventory))  # type: ignore[arg-type]
    assert (creds.username, str(creds.password)) == ("fi", "env:NSX_PASSWORD")
    with pytest.raises(DriverError, match="^t0-a: the controller needs credentials with a username and a password"):
        login_credentials(a, {})
    with pytest.raises(DriverError, match=r"^t0-a: options.credentials: password: give exactly one of"):
        login_credentials(a, {"credentials": {"username": "fi", "password": {}}})


def test_secrets_are_read_only_when_asked_and_never_repeated(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("s3cret-value\n")
    assert read_secret(SecretRef(file="pw"), tmp_path, "t0-a") == "s3cret-value"
    monkeypatch.setenv("FI_TEST_SECRET", "from-env")
    assert read_secret(SecretRef(env="FI_TEST_SECRET"), tmp_path, "t0-a") == "from-env"
    monkeypatch.delenv("FI_TEST_SECRET")
    with pytest.raises(DriverError, match="^t0-a: the environment variable FI_TEST_SECRET holding the password is"):
        read_secret(SecretRef(env="FI_TEST_SECRET"), tmp_path, "t0-a")
    with pytest.raises(DriverError, match="^t0-a: cannot read the password file missing: FileNotFoundError$"):
        read_secret(SecretRef(file="missing"), tmp_path, "t0-a")

"""A controller's connection settings and credentials, from the inventory.

Options come from `drivers.<driver>` and are overridden by the switch's `options`. The controller
URL is `base_url`, or `https://<management.host>[:port]`. Credentials are the switch's
`credentials` (or `options.credentials`): a username and a password reference (env or file);
the password is read only when the driver logs in, and never appears in a message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drivers.rest.http import RestSettings
from intent.errors import DriverError
from intent.inventory import Credentials, FabricInventory, SecretRef, Switch, format_validation_error

__all__ = ["controller_options", "login_credentials", "read_secret", "rest_settings"]


def controller_options(driver: str, switch: Switch, inventory: FabricInventory) -> dict[str, Any]:
    return {**inventory.drivers.get(driver, {}), **switch.options}


def rest_settings(options: dict[str, Any], switch: Switch, *, requests_per_second: float | None) -> RestSettings:
    """The `RestSettings` from options (only the keys RestSettings knows), with the controller's default budget."""
    values = {k: v for k, v in options.items() if k in RestSettings.model_fields}
    if "base_url" not in values and switch.management is not None:
        port = "" if switch.management.port in (22, 443) else f":{switch.management.port}"
        values["base_url"] = f"https://{switch.management.host}{port}"
    values.setdefault("max_requests_per_second", requests_per_second)
    try:
        return RestSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(format_validation_error(exc))
        raise DriverError(f"{switch.name}: bad controller settings: {problems}") from None


def login_credentials(switch: Switch, options: dict[str, Any]) -> Credentials:
    """The switch's credentials, or `options.credentials`; a username and a password reference are required."""
    creds = switch.credentials
    if creds is None and "credentials" in options:
        try:
            creds = Credentials.model_validate(options["credentials"])
        except ValidationError as exc:
            raise DriverError(f"{switch.name}: options.credentials: "
                              f"{'; '.join(format_validation_error(exc))}") from None
    if creds is None or not creds.username or creds.password is None:
        raise DriverError(f"{switch.name}: the controller needs credentials with a username and a password reference")
    return creds


def read_secret(ref: SecretRef, base_dir: Path, device: str) -> str:
    """The secret's value from its environment variable or file (relative to the inventory's folder)."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise DriverError(f"{device}: the environment variable {ref.env} holding the password is not set")
        return value
    assert ref.file is not None
    path = base_dir / ref.file
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DriverError(f"{device}: cannot read the password file {ref.file}: {type(exc).__name__}") from None

"""What every REST controller driver shares: options, connection settings, a lazily made session, and login auth.

A controller driver names its request budget (`requests_per_second`), how it logs in (`login_auth`) and
what it takes from its own options (`read_options`). `ControllerDriver` reads the shared options and
settings from the inventory and makes the `RestClient` on first use, so building a driver does no I/O.
`LoginAuth` is the base of auths whose session ends only when a response says so; it keeps every secret
it handles for scrubbing.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from drivers.base import Driver
from drivers.rest.access import controller_options, login_credentials, read_secret, rest_settings
from drivers.rest.http import Auth, RestClient, status_error

__all__ = ["ControllerDriver", "LoginAuth"]


class LoginAuth:
    """Log in with a username and a password read when needed; the session ends only when a response says so."""

    def __init__(self, username: str, password: Callable[[], str], controller: str) -> None:
        self.username, self._password, self.controller = username, password, controller
        self._secrets: list[str] = []

    def password(self) -> str:
        """The password, read now and kept for scrubbing."""
        value = self._password()
        self.keep(value)
        return value

    def keep(self, *values: str) -> None:
        """Remember secret values (tokens, cookies) so they never reach a log line or an error."""
        self._secrets += values

    def check_login(self, response: httpx.Response, what: str) -> None:
        """Raise the controller's error when the login request was refused."""
        if response.status_code not in (200, 201):
            raise status_error(self.controller, what, response, self.secrets())

    def refresh_due(self) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in self._secrets if s)


class ControllerDriver(Driver):
    """A driver for one REST controller: `options`, `settings` and the `client` session."""

    requests_per_second: ClassVar[float | None] = None  # the controller's default request budget

    def __init__(self, *args: Any, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        """`transport` and `sleep` are the seams tests use (a fake controller, no real waiting)."""
        super().__init__(*args, **kwargs)
        self.options = controller_options(self.name, self.switch, self.inventory)
        self.settings = rest_settings(self.options, self.switch, requests_per_second=self.requests_per_second)
        self._transport, self._sleep = transport, sleep
        self._client: RestClient | None = None
        self.read_options()

    def read_options(self) -> None:
        """Read the driver's own options and set up its state (after the shared ones are read; no I/O)."""

    @abc.abstractmethod
    def login_auth(self, username: str, password: Callable[[], str]) -> Auth:
        """How this controller logs in, given the username and a reader of the password."""

    @property
    def client(self) -> RestClient:
        """The controller session, made on first use (building a driver does no I/O)."""
        if self._client is None:
            creds = login_credentials(self.switch, self.options)
            assert creds.username is not None and creds.password is not None
            ref = creds.password
            auth = self.login_auth(creds.username, lambda: read_secret(ref, self.base_dir, self.device))
            self._client = RestClient(self.device, self.settings, auth, transport=self._transport, sleep=self._sleep)
        return self._client

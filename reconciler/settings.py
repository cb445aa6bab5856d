"""Settings of the `fabric-intent run` service: command-line options over `FABRIC_INTENT_*` environment.

Every timing is in seconds. The defaults suit a production cluster; tests shorten them.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["observe", "plan", "apply"]
MODES: tuple[Mode, ...] = ("observe", "plan", "apply")


def default_identity() -> str:
    """This replica's name in the Lease: `POD_NAME` (downward API) if set, else host name and process id."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


class LoopSettings(BaseSettings):
    """How the reconcile loop paces, retries and guards its work."""

    model_config = SettingsConfigDict(env_prefix="FABRIC_INTENT_", extra="ignore", frozen=True)

    mode: Mode = "apply"
    debounce: float = Field(0.2, ge=0, description="quiet time that ends a burst of events")
    max_delay: float = Field(2.0, gt=0, description="longest a burst can postpone its reconcile")
    resync_interval: float = Field(300.0, gt=0, description="full reconcile even without events")
    hold_after: float = Field(60.0, ge=0, description="a watch broken this long holds every write")
    workers: int = Field(8, ge=1, description="devices worked on in parallel")
    backoff_base: float = Field(1.0, gt=0, description="first retry delay of a failing device")
    backoff_cap: float = Field(300.0, gt=0, description="longest retry delay of a failing device")
    allow_mass_delete: bool = False
    stall_after: float = Field(120.0, gt=0, description="/healthz fails when the loop has not turned this long")

    @model_validator(mode="after")
    def _ordered(self) -> LoopSettings:
        if self.max_delay < self.debounce:
            raise ValueError(f"max_delay ({self.max_delay}) must not be shorter than debounce ({self.debounce})")
        if self.backoff_cap < self.backoff_base:
            raise ValueError(f"backoff_cap ({self.backoff_cap}) must not be shorter than backoff_base "
                             f"({self.backoff_base})")
        return self


class LeaseSettings(BaseSettings):
    """Leader election on a `coordination.k8s.io/v1` Lease."""

    model_config = SettingsConfigDict(env_prefix="FABRIC_INTENT_LEASE_", extra="ignore", frozen=True)

    namespace: str | None = None  # None: the pod's own namespace, or `fabric-intent` outside a cluster
    name: str = "fabric-intent"
    duration: float = Field(15.0, gt=0)
    renew_deadline: float = Field(10.0, gt=0)
    retry_period: float = Field(2.0, gt=0)
    identity: str = Field(default_factory=default_identity)

    @model_validator(mode="after")
    def _ordered(self) -> LeaseSettings:
        if not self.retry_period < self.renew_deadline < self.duration:
            raise ValueError(f"lease timings must satisfy retry_period ({self.retry_period}) < renew_deadline "
                             f"({self.renew_deadline}) < duration ({self.duration})")
        return self


class RunSettings(BaseSettings):
    """Everything `fabric-intent run` needs besides its two files."""

    model_config = SettingsConfigDict(env_prefix="FABRIC_INTENT_", extra="ignore", frozen=True)

    metrics_port: int = Field(9100, ge=0, le=65535)  # 0: any free port (tests)
    metrics_address: str = "0.0.0.0"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    events_per_minute: int = Field(60, ge=0, description="Kubernetes Events posted at most per minute")
    watch_backoff_base: float = Field(0.5, gt=0, description="first reconnect delay of a broken watch")
    watch_backoff_cap: float = Field(30.0, gt=0, description="longest reconnect delay of a broken watch")
    loop: LoopSettings = Field(default_factory=LoopSettings)
    lease: LeaseSettings = Field(default_factory=LeaseSettings)


def from_options(*, mode: str | None = None, metrics_port: int | None = None,
                 allow_mass_delete: bool = False) -> RunSettings:
    """Settings from the `FABRIC_INTENT_*` environment, with the command line's options on top."""
    loop: dict[str, Any] = {"mode": mode} if mode is not None else {}
    if allow_mass_delete:
        loop["allow_mass_delete"] = True
    top: dict[str, Any] = {"loop": LoopSettings(**loop)}
    if metrics_port is not None:
        top["metrics_port"] = metrics_port
    return RunSettings(**top)

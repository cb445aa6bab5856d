"""Leader election on a `coordination.k8s.io/v1` Lease, with the rules client-go's leaderelection follows.

A replica acquires the Lease when it is free (no holder, or not renewed for `lease_duration` as this
replica observed it) and then renews it every `retry_period`. Every write carries the Lease's
resourceVersion, so of two replicas racing only one succeeds (the other gets 409 Conflict). A leader
stops counting itself leader `renew_deadline` after the start of its last successful renew, which is
before any other replica may take the Lease (`lease_duration` after it saw that renew): so there is
never a moment with two writers, even when the API server is unreachable. `stop()` releases the
Lease (holderIdentity cleared), so a successor takes over at once rather than after the lease time.

`kubernetes.leaderelection` is not used: its LeaseLock talks through the default client (no ApiClient
can be given), `run()` blocks and cannot be stopped or release the Lease, it has no `is_leader` that
lapses on its own, and it measures deadlines with the wall clock.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from intent.errors import FabricIntentError

log = logging.getLogger("fabric_intent.leader")
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
REQUEST_TIMEOUT = (5.0, 10.0)


class ClusterAccessError(FabricIntentError):
    """The Kubernetes API refused a request fabric-intent needs (RBAC) or could not serve it."""


class LeaderElector:
    """Campaign for one Lease in the background; `is_leader` says whether this replica may write now."""

    def __init__(self, api: kubernetes.client.ApiClient, *, namespace: str, name: str = "fabric-intent",
                 identity: str, lease_duration: float = 15, renew_deadline: float = 10, retry_period: float = 2,
                 on_started_leading: Callable[[], None] | None = None,
                 on_stopped_leading: Callable[[], None] | None = None) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("leader election needs lease_duration > renew_deadline > retry_period > 0")
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self.api, self.namespace, self.name, self.identity = api, namespace, name, identity
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self.on_started_leading, self.on_stopped_leading = on_started_leading, on_stopped_leading
        self._renewed_at: float | None = None  # monotonic start of the last successful acquire/renew
        self._observed: tuple[Any, ...] | None = None  # the Lease record as last seen, and when
        self._observed_at = 0.0
        self._leading = False  # what the callbacks were last told
        self._held = False  # this replica wrote itself into the Lease at least once
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def is_leader(self) -> bool:
        """True only while this replica holds the Lease renewed within `renew_deadline`."""
        renewed = self._renewed_at
        return renewed is not None and not self._stopping.is_set() and time.monotonic() < renewed + self.renew_deadline

    def start(self) -> None:
        """Campaign and renew in a daemon thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"leader-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True) -> None:
        """Stop renewing; with `release` (the SIGTERM path) clear the holder so a successor need not wait."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.renew_deadline + 5)
        self._renewed_at = None
        self._tell()
        if release and self._held:
            self._release()

    # -- the campaign ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._try_acquire_or_renew()
            except Exception:  # is_leader lapses by itself; keep campaigning
                log.exception("leader election round failed")
            self._tell()
            self._stopping.wait(self._next_wait())

    def _next_wait(self) -> float:
        left = -1.0 if self._renewed_at is None else self._renewed_at + self.renew_deadline - time.monotonic()
        if left <= 0:  # not leading: spread the polls, as client-go's JitterUntil does
            return self.retry_period * (1 + random.random() * 0.2)
        return min(self.retry_period, left)  # leading: wake at the deadline to step down on time

    def _tell(self) -> None:
        """Run the callbacks when leadership changed since they last ran."""
        with self._lock:
            leading = self.is_leader
            if leading == self._leading:
                return
            self._leading = leading
        log.info("%s %s leading Lease %s/%s", self.identity, "started" if leading else "stopped",
                 self.namespace, self.name)
        callback = self.on_started_leading if leading else self.on_stopped_leading
        if callback is not None:
            try:
                callback()
            except Exception:  # a failing callback must not end the campaign
                log.exception("leadership callback failed")

    def _try_acquire_or_renew(self) -> bool:
        started = time.monotonic()
        try:
            lease = _call(self.api, "GET", self._path(self.name))
        except ApiException as exc:
            if exc.status != 404:
                log.warning("cannot read Lease %s/%s: HTTP %s %s", self.namespace, self.name, exc.status, exc.reason)
                return False
            return self._write("POST", self._path(), self._lease_body(None, started), started)
        except (OSError, ValueError) as exc:
            log.warning("cannot read Lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        spec = lease.get("spec") or {}
        record = tuple(spec.get(k) for k in ("holderIdentity", "renewTime", "acquireTime", "leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, started
        holder = spec.get("holderIdentity")
        if holder and holder != self.identity and started < self._observed_at + self.lease_duration:
            return False  # held by another replica, renewed recently enough
        return self._write("PUT", self._path(self.name), self._lease_body(lease, started), started)

    def _write(self, method: str, path: str, body: dict[str, Any], started: float) -> bool:
        try:
            _call(self.api, method, path, body)
        except ApiException as exc:
            if exc.status == 409:
                log.info("%s lost the race for Lease %s/%s", self.identity, self.namespace, self.name)
            else:
                log.warning("cannot write Lease %s/%s: HTTP %s %s", self.namespace, self.name, exc.status, exc.reason)
            return False
        except (OSError, ValueError) as exc:
            log.warning("cannot write Lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        self._renewed_at, self._held = started, True
        return True

    def _lease_body(self, lease: dict[str, Any] | None, started: float) -> dict[str, Any]:
        now = _micro_time()
        old = (lease or {}).get("spec") or {}
        ours = old.get("holderIdentity") == self.identity
        spec = {**old, "holderIdentity": self.identity, "leaseDurationSeconds": math.ceil(self.lease_duration),
                "renewTime": now, "acquireTime": old.get("acquireTime") if ours else now,
                "leaseTransitions": int(old.get("leaseTransitions") or 0) + (0 if ours or lease is None else 1)}
        meta = (lease or {}).get("metadata") or {"name": self.name, "namespace": self.namespace}
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def _release(self) -> None:
        try:
            lease = _call(self.api, "GET", self._path(self.name))
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            now = _micro_time()
            lease["spec"] = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now,
                             "acquireTime": now}
            _call(self.api, "PUT", self._path(self.name), lease)
            log.info("%s released Lease %s/%s", self.identity, self.namespace, self.name)
        except (ApiException, OSError, ValueError) as exc:  # the Lease then expires on its own
            log.warning("cannot release Lease %s/%s: %s", self.namespace, self.name, _describe(exc))

    def _path(self, name: str = "") -> str:
        base = LEASES.format(namespace=self.namespace)
        return f"{base}/{name}" if name else base


def ensure_namespace(api: kubernetes.client.ApiClient, name: str) -> None:
    """Create namespace `name` if it does not exist; `ClusterAccessError` if RBAC allows neither."""
    try:
        _call(api, "GET", f"/api/v1/namespaces/{name}")
        return
    except ApiException as exc:
        if exc.status not in (403, 404):
            raise ClusterAccessError(f"cannot read namespace {name!r}: {_describe(exc)}") from exc
    except OSError as exc:
        raise ClusterAccessError(f"cannot reach the Kubernetes API to read namespace {name!r}: {exc}") from exc
    try:
        _call(api, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        log.info("created namespace %s for the leader Lease", name)
    except ApiException as exc:
        if exc.status == 409:  # created meanwhile, or it existed and only reading it was forbidden
            return
        if exc.status == 403:
            raise ClusterAccessError(
                f"namespace {name!r} does not exist and this account may not create it (403 Forbidden): create it, "
                "grant create on namespaces, or choose an existing one with --lease-namespace") from exc
        raise ClusterAccessError(f"cannot create namespace {name!r}: {_describe(exc)}") from exc
    except OSError as exc:
        raise ClusterAccessError(f"cannot reach the Kubernetes API to create namespace {name!r}: {exc}") from exc


def _call(api: kubernetes.client.ApiClient, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON request through the official client's transport; ApiException on a non-2xx answer.

    Lease bodies go as plain JSON, not client models: MicroTime must keep its six fraction digits.
    """
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = api.param_serialize(method=method, resource_path=path, header_params=headers, body=body,
                                  auth_settings=["BearerToken"])
    try:
        response = api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
    except urllib3.exceptions.HTTPError as exc:  # connection refused, timeouts
        raise OSError(f"{method} {path}: {type(exc).__name__}") from exc
    data = response.read()
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=data.decode("utf-8", "replace"), data=None)
    return json.loads(data)


def _micro_time() -> str:
    """Now as a Kubernetes MicroTime (RFC 3339, six fraction digits, UTC)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    return str(exc)

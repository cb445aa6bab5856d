"""`fabric-intent run`: the reconciler as a service.

It wires the cluster cache (list + watch), the Lease elector, the reconcile loop, Kubernetes
Events, and the HTTP endpoints for probes and metrics. Only the replica holding the Lease works on
the fabric; the others keep their cluster view warm. SIGTERM (or SIGINT) stops writing, lets the
device transaction in flight finish, releases the Lease and exits 0.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import kubernetes

from drivers.fabric import Fabric
from intent.errors import InputError
from reconciler import logs
from reconciler.events import EventRecorder
from reconciler.files import load_inventory
from reconciler.health import HealthServer, Probes
from reconciler.kube import ClusterCache
from reconciler.leader import LeaderElector, ensure_namespace
from reconciler.loop import Reconciler
from reconciler.metrics import Metrics
from reconciler.settings import RunSettings

log = logs.get("run")
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_LEASE_NAMESPACE = "fabric-intent"


@dataclass(frozen=True)
class ClusterAccess:
    """A client for the API server, and the namespace of the pod this runs in (None outside a cluster)."""

    api: kubernetes.client.ApiClient
    pod_namespace: str | None


def in_pod(account: Path = SERVICE_ACCOUNT) -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (account / "token").is_file()


def connect(kubeconfig: Path | None, account: Path = SERVICE_ACCOUNT) -> ClusterAccess:
    """A client from `kubeconfig`, or the pod's in-cluster configuration when none is given."""
    if kubeconfig is not None:
        if not kubeconfig.is_file():
            raise InputError(f"--kubeconfig {kubeconfig}: no such file")
        try:
            api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        except (kubernetes.config.ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"--kubeconfig {kubeconfig}: not a usable kubeconfig: {exc}") from None
        namespace = _pod_namespace(account) if in_pod(account) else None
        return ClusterAccess(api, namespace)
    if not in_pod(account):
        raise InputError("not running in a Kubernetes pod: give --kubeconfig FILE")
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException as exc:
        raise InputError(f"in-cluster configuration: {exc}") from None
    return ClusterAccess(kubernetes.client.ApiClient(), _pod_namespace(account))


def _pod_namespace(account: Path) -> str | None:
    try:
        return (account / "namespace").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def lease_namespace(access: ClusterAccess, explicit: str | None) -> str:
    """The Lease's namespace: as given, else the pod's own, else `fabric-intent` (created if missing)."""
    namespace = explicit or access.pod_namespace or DEFAULT_LEASE_NAMESPACE
    if access.pod_namespace is None:
        ensure_namespace(access.api, namespace)  # a clear InputError when RBAC forbids creating it
    return namespace


class Service:
    """Every part of the running service; `start()` then `stop()`."""

    def __init__(self, fabric_file: Path, access: ClusterAccess, settings: RunSettings, namespace: str) -> None:
        inventory = load_inventory(fabric_file)
        fabric = Fabric.from_inventory(inventory, fabric_file.parent)
        lease = settings.lease
        self.settings, self.metrics = settings, Metrics()
        self.recorder = EventRecorder(access.api, instance=lease.identity, per_minute=settings.events_per_minute)
        self.cache = ClusterCache(access.api, backoff_base=settings.watch_backoff_base,
                                  backoff_cap=settings.watch_backoff_cap)
        self.elector = LeaderElector(access.api, namespace=namespace, name=lease.name, identity=lease.identity,
                                     lease_duration=lease.duration, renew_deadline=lease.renew_deadline,
                                     retry_period=lease.retry_period, on_started_leading=self._started_leading,
                                     on_stopped_leading=self._stopped_leading)
        self.loop = Reconciler(inventory, fabric.drivers, self.cache, settings=settings.loop, metrics=self.metrics,
                               leader=self.elector, recorder=self.recorder)
        self.cache.on_event = self.loop.notify
        self.http = HealthServer(Probes(self.metrics, self.loop, lambda: self.cache.synced),
                                 address=settings.metrics_address, port=settings.metrics_port)

    def start(self) -> None:
        self.http.start()
        self.recorder.start()
        self.cache.start()
        self.elector.start()
        self.loop.start()
        log.info("started", extra={"mode": self.settings.loop.mode, "identity": self.settings.lease.identity})

    def stop(self) -> None:
        """Stop writing first, then release the Lease, then the watches and the endpoints."""
        self.loop.stop()
        self.elector.stop()
        self.recorder.stop()
        self.cache.stop()
        self.http.stop()
        log.info("stopped")

    def _started_leading(self) -> None:
        log.info("leading: this replica works on the fabric")
        self.metrics.leader.set(1)
        self.loop.kick()

    def _stopped_leading(self) -> None:
        log.warning("no longer leading: this replica stops writing")
        self.metrics.leader.set(0)


def run(kubeconfig: Path | None, fabric_file: Path, settings: RunSettings, lease_ns: str | None = None,
        stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop` is set); returns the exit code."""
    logs.setup(settings.log_level)
    load_inventory(fabric_file)  # a bad inventory fails before anything connects
    access = connect(kubeconfig)
    service = Service(fabric_file, access, settings, lease_namespace(access, lease_ns or settings.lease.namespace))
    stop = stop or threading.Event()
    _on_signals(stop)
    service.start()
    try:
        stop.wait()
    finally:
        service.stop()
    return 0


def _on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("signal received: stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

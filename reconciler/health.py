"""The service's HTTP endpoints on one port: `/metrics`, `/healthz`, `/readyz` and `/plan`.

* `/healthz`: 200 while the reconcile loop thread runs and turns (liveness: restart me if not).
* `/readyz`: 200 once the cluster view is synced and the loop is healthy (readiness).
* `/metrics`: Prometheus text exposition.
* `/plan`: the last plan the loop made, as JSON (what `plan` mode publishes); 404 before the first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST

from intent.plan import Plan
from intent.report import render_json
from reconciler import logs
from reconciler.metrics import Metrics

log = logs.get("health")


class LoopState(Protocol):
    @property
    def healthy(self) -> bool: ...
    @property
    def last_plan(self) -> Plan | None: ...


@dataclass(frozen=True)
class Probes:
    """What the endpoints report on."""

    metrics: Metrics
    loop: LoopState
    synced: Callable[[], bool]

    def live(self) -> tuple[bool, str]:
        return (True, "ok") if self.loop.healthy else (False, "the reconcile loop is not running")

    def ready(self) -> tuple[bool, str]:
        if not self.synced():
            return False, "the cluster view is not synced"
        return self.live()


class HealthServer:
    """A threaded HTTP server for the probes and metrics; `port=0` picks a free port."""

    def __init__(self, probes: Probes, *, address: str = "0.0.0.0", port: int = 9100) -> None:
        self.probes = probes
        self._server = ThreadingHTTPServer((address, port), _handler(probes))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fabric-intent-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("serving /metrics /healthz /readyz /plan", extra={"port": self.port})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler(probes: Probes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, probes.metrics.render(), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, text = probes.live() if path == "/healthz" else probes.ready()
                self._send(200 if ok else 503, f"{text}\n".encode(), "text/plain; charset=utf-8")
            elif path == "/plan":
                plan = probes.loop.last_plan
                body = render_json(plan).encode() if plan is not None else b'{"error": "no plan made yet"}\n'
                self._send(200 if plan is not None else 404, body, "application/json")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # probes every few seconds: not worth a line
            pass

    return Handler

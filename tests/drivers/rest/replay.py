"""Replay a cassette with respx: exchanges answered in order, every request checked against its recording.

    replay = Replay.load("aci", "plan-static-routes")
    with replay:                       # on exit: every route called, every exchange used
        driver = AciDriver(..., transport=replay.transport)

Each request must match the next exchange exactly: method, path, query, the recorded headers and
the body (after the same scrubbing the recorder applies). A request the cassette does not hold
fails (`assert_all_mocked`); an exchange never reached fails on exit (`assert_all_called`).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import httpx
import respx

from drivers.rest.cassette import Cassette, Exchange, recorded_request

CASSETTES = Path(__file__).resolve().parent.parent / "data" / "cassettes"


class ReplayMismatch(AssertionError):
    """A request differs from the exchange the cassette expects next."""


class Replay:
    """A respx router that plays one cassette's exchanges in order."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self.position = 0
        self.sent: list[httpx.Request] = []
        self.router = respx.MockRouter(assert_all_called=True, assert_all_mocked=True)
        for method, path in dict.fromkeys((e.request.method, e.request.path) for e in cassette.exchanges):
            self.router.route(method=method, path=path).mock(side_effect=self._answer)
        self.transport = httpx.MockTransport(self.router.handler)

    @classmethod
    def load(cls, controller: str, scenario: str) -> Replay:
        return cls(Cassette.load(CASSETTES / controller / f"{scenario}.json"))

    def __enter__(self) -> Replay:
        self.router.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.router.__exit__(kind, exc, tb)
        if kind is None:
            self.assert_exhausted()

    @property
    def remaining(self) -> list[Exchange]:
        return self.cassette.exchanges[self.position:]

    def assert_exhausted(self) -> None:
        if self.remaining:
            nxt = self.remaining[0].request
            raise ReplayMismatch(f"{len(self.remaining)} recorded exchange(s) never requested, next: "
                                 f"{nxt.method} {nxt.path}")

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if not self.remaining:
            raise ReplayMismatch(f"request beyond the end of the cassette: {request.method} {request.url}")
        exchange = self.remaining[0]
        self._check(exchange, request)
        self.position += 1
        self.sent.append(request)
        if exchange.transport_error is not None:
            text = exchange.transport_error_text or "replayed transport failure"
            raise getattr(httpx, exchange.transport_error)(text, request=request)
        assert exchange.response is not None, f"exchange {self.position} has neither response nor transport_error"
        return exchange.response.to_httpx()

    def _check(self, exchange: Exchange, request: httpx.Request) -> None:
        want = exchange.request
        got = recorded_request(request)
        got_headers = {k: v for k, v in got.headers.items() if k in want.headers}
        got = got.model_copy(update={"headers": got_headers})
        if got != want:
            raise ReplayMismatch(f"exchange {self.position + 1} of {len(self.cassette.exchanges)} "
                                 f"({self.cassette.description or self.cassette.controller}) differs:\n"
                                 f"  expected {want.model_dump(by_alias=True, exclude_none=True)}\n"
                                 f"  got      {got.model_dump(by_alias=True, exclude_none=True)}")

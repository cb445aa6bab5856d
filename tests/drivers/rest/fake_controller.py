"""What the fake controllers share: the request log, queued faults, poisoning, and the `transport=` seam.

A fake controller subclasses `FakeController` and answers in `_serve`; `handle` records each request,
answers a queued fault first (`fail_next`: an error response; `reset_next`: the connection drops, before
or after the request is worked on) and, once the test poisoned it, fails every request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx

Answer = Callable[[httpx.Request], httpx.Response]


class FakeController:
    """The plumbing of one fake controller; subclasses say how they serve, drop and fail."""

    USER: ClassVar[str]
    PASSWORD: ClassVar[str]
    LOGIN: ClassVar[str]  # the login path, left out of `writes()`
    STATE: ClassVar[str]  # the key of a state file holding the controller's objects
    STATE_FILE: ClassVar[str]  # the contract fixture's state file, in data/contract/<driver>/

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.faults: list[tuple[str, str, Answer]] = []
        self.poisoned = False
        self.transport = httpx.MockTransport(self.handle)

    @classmethod
    def load(cls, path: Path) -> Self:
        """A controller holding the objects of a state file (JSON); a subclass takes them as its one argument."""
        return cls(json.loads(path.read_text(encoding="utf-8"))[cls.STATE])  # type: ignore[call-arg]

    # -- what each controller says ------------------------------------------------------------------
    def _serve(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def _dropped(self, request: httpx.Request) -> httpx.TransportError:
        """The error a client sees when this controller drops the connection."""
        raise NotImplementedError

    def _poisoned_answer(self) -> httpx.Response:
        raise NotImplementedError

    def expire_sessions(self) -> None:
        """Every session (or token) handed out stops working: the next request is answered 401."""
        raise NotImplementedError

    def _logged_body(self, request: httpx.Request) -> Any:
        """The request body as the request log keeps it (decoded JSON, or None)."""
        return json.loads(request.content) if request.content else None

    # -- faults ------------------------------------------------------------------------------------
    def fail_next(self, method: str, path: str, response: httpx.Response, times: int = 1) -> None:
        self.faults += [(method, path, lambda _r, resp=response: resp)] * times

    def reset_next(self, method: str, path: str, *, after_work: bool) -> None:
        """The connection drops on the next matching request, before the controller works on it or after."""
        def drop(request: httpx.Request) -> httpx.Response:
            if after_work:
                self._serve(request)
            raise self._dropped(request)
        self.faults.append((method, path, drop))

    # -- HTTP -------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, self._logged_body(request)))
        if self.poisoned:
            return self._poisoned_answer()
        for index, (method, path, answer) in enumerate(self.faults):
            if method == request.method and path == request.url.path:
                del self.faults[index]
                return answer(request)
        return self._serve(request)

    def writes(self) -> list[tuple[str, str, Any]]:
        """Every request but reads and logins, in order."""
        return [r for r in self.requests if r[0] != "GET" and r[1] != self.LOGIN]

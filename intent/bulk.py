"""Bulk work and Python's cyclic garbage collector.

Loading, building and planning a cluster of 150,000 pods allocates millions of containers and
frees almost none of them in cycles. With the collector on, every full collection walks all of
them again: at that scale more than half of a cold `plan` went there (see `fabric-intent bench`).
`collector_paused` wraps such a burst: the collector is off while it runs (reference counting
still frees everything acyclic the moment it is dropped), and on the way out what survived moves
to the collector's permanent generation (`gc.freeze`), so later collections skip it too. Young
garbage is collected first, so that no garbage cycle is frozen along with it.

It changes no result and does no I/O; it is process state, restored on exit (nesting is fine).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for a burst of allocations that are kept, then freeze them.

    Also a decorator: `@collector_paused()`.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.collect(1)
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()

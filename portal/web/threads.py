"""The threads a worker process runs store calls on: a few for page views, others for long work.

Page views' store calls take anyio's default thread limiter, set to THREADS. Their work holds the
GIL most of the time, so more threads add no throughput, only a longer queue for the GIL in which
the event loop loses its turn: under 50 clients on one worker, 4 threads instead of 8 cut p99
by 13-36% on every page measured, on SQLite and on PostgreSQL, and CPU time a request by up to 8%
(one page: 2% more). 2 threads cost PostgreSQL a sixth of its requests (its statements wait on
the server).

A page view's read-only store work on SQLite runs on the event loop itself when it is quick
(store.QuickReader): the thread is for what must wait (a write, PostgreSQL, a long read).

Long work (building an export, waiting for its builder, bulk casework, housekeeping, a big
erasure's hand-over) runs under a limiter of its own, so that it never holds one of the threads
that serve page views: with as few as four, two exports at once would otherwise leave the
portal's pages two threads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from portal.core.store import HandOver, QuickReader, WriteNeeded, run_transaction

T = TypeVar("T")

THREADS = 4
LONG_WORK_THREADS = 4
# One connection for each thread, so that none waits for the pool and none opens and closes an
# overflow connection per request (SQLite runs four PRAGMAs on each new one); the spare ones are
# for anything outside the threads (startup, the command line in the same process).
POOL_SIZE = THREADS + LONG_WORK_THREADS
POOL_SPARE = 4

# Per event loop, as anyio keeps its default limiter: a limiter belongs to the loop it waits on.
_LONG_WORK: RunVar[CapacityLimiter] = RunVar("portal_long_work")


def use_page_threads() -> None:
    """Called at startup, in the worker's event loop."""
    to_thread.current_default_thread_limiter().total_tokens = THREADS


async def unit_of_work(
    factory: sessionmaker[Session], quick: QuickReader | None, fn: Callable[[Session], T], *, read_first: bool
) -> T:
    """`fn` in one unit of work: with `read_first` on the event loop when it can be quick (SQLite),
    otherwise (and as a writer, when it must write) on a page thread."""
    if read_first and quick is not None:
        try:
            return quick.run(fn)
        except WriteNeeded:
            read_first = False  # known to write: straight to the writer's transaction
        except HandOver:
            pass
    return await run_in_threadpool(run_transaction, factory, fn, read_first=read_first)


async def long_work(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on a thread for long work; the page threads stay free."""
    try:
        limiter = _LONG_WORK.get()
    except LookupError:
        limiter = CapacityLimiter(LONG_WORK_THREADS)
        _LONG_WORK.set(limiter)
    return await to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)

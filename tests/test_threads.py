"""Long work (exports, casework in bulk, housekeeping) never takes the threads that serve page views."""

from __future__ import annotations

import threading
import time

import anyio
from starlette.concurrency import run_in_threadpool

from portal.web import threads


def test_page_views_are_served_while_every_long_work_thread_is_busy() -> None:
    release = threading.Event()
    started: list[int] = []  # list.append is atomic

    def long() -> str:
        started.append(1)
        release.wait(10)
        return "built"

    async def main() -> tuple[float, list[str], int]:
        threads.use_page_threads()
        results: list[str] = []

        async def one_long() -> None:
            results.append(await threads.long_work(long))

        async with anyio.create_task_group() as group:
            # Twice as many as there are threads for long work: half of them wait their turn.
            for _ in range(2 * threads.LONG_WORK_THREADS):
                group.start_soon(one_long)
            while len(started) < threads.LONG_WORK_THREADS:
                await anyio.sleep(0.01)
            began = time.monotonic()
            # As many page views at once as there are page threads: none waits for long work.
            async with anyio.create_task_group() as pages:
                for _ in range(threads.THREADS):
                    pages.start_soon(run_in_threadpool, time.sleep, 0.05)
            waited = time.monotonic() - began
            beyond = len(started) - threads.LONG_WORK_THREADS
            release.set()
        return waited, results, beyond

    # In a thread of its own: a browser test before this one may have left its loop on this one.
    done: list[tuple[float, list[str], int]] = []
    runner = threading.Thread(target=lambda: done.append(anyio.run(main)))
    runner.start()
    runner.join(60)
    assert done, "the event loop did not finish within 60 s"
    waited, results, beyond = done[0]
    assert waited < 1.0  # the page views' store calls ran at once (0.05 s), not after the long work
    assert beyond == 0  # long work beyond its threads waited its turn
    assert results == ["built"] * 2 * threads.LONG_WORK_THREADS

"""The CPU priority of background work: below the web workers, so that pages are served first."""

from __future__ import annotations

import contextlib
import os

# Ten steps below a web worker (nice(2)): on a busy machine the kernel gives the workers most of
# the CPU and the background job what they leave; on an idle one it changes nothing.
BACKGROUND_NICENESS = 10


def run_below_web(niceness: int = BACKGROUND_NICENESS) -> None:
    """Lower this process's CPU priority by `niceness`; where the system refuses, it stays as it is."""
    if niceness > 0:
        with contextlib.suppress(OSError):
            os.nice(niceness)

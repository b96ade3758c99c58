"""The erasure engine's entry point: `run-due` (and `portal serve`) call `run` for every erasure that
is in progress, again after a crash, until it reports the request completed.

Phase 2 (issue 12, after the registry rework of issue 9) puts the engine here: driven by the
registry, in bounded batches each committed on its own, resumable and idempotent, and finishing
with `timeline.transition(ctx, row, "completed", …)` in the transaction that writes the deletion
certificate. Until then it refuses, clearly, and the request stays in progress: nothing is deleted
by halves.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from portal.core.clock import Clock
from portal.core.errors import PortalError
from portal.core.settings import Settings


class EngineNotBuilt(PortalError):
    """The erasure engine does not exist yet (phase 2 of issue 12)."""


def run(factory: sessionmaker[Session], settings: Settings, clock: Clock, request_id: int) -> None:
    """Erase the subject of in-progress erasure request `request_id` and complete the request."""
    raise EngineNotBuilt("erasure engine not built yet")

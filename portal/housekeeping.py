"""Periodic upkeep shared by `portal serve` and the CLI: mail, checkpoints, expiry of old rows."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from portal import checkpoints, mail, sessions, throttle
from portal.clock import Clock
from portal.context import Ctx
from portal.db import transaction
from portal.settings import Settings


def run_once(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> None:
    with transaction(factory) as session:
        ctx = Ctx(session=session, settings=settings, now=clock.now())
        sessions.purge_expired(ctx)
        throttle.purge_expired(ctx)
    with transaction(factory) as session:
        mail.deliver_pending(Ctx(session=session, settings=settings, now=clock.now()))
    with transaction(factory) as session:
        checkpoints.checkpoint_if_due(Ctx(session=session, settings=settings, now=clock.now()), max_age_seconds=60)

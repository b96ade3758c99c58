"""Periodic upkeep shared by `portal serve` and the CLI: mail, checkpoints, expiry of old rows."""

from __future__ import annotations

import logging
import weakref
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from portal.accounts import accounts, mailrequests, sessions, throttle
from portal.audit import checkpoints
from portal.core import mail
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.settings import Settings
from portal.core.store import transaction
from portal.export import exports
from portal.requests import onbehalf, reminders, waiting
from portal.subjects import retention

log = logging.getLogger("portal.housekeeping")
RETENTION_EVERY = timedelta(hours=1)
# Due erasures and deadline reminders: a minute late is on time for both.
REQUESTS_EVERY = timedelta(minutes=1)
# When this process should next ask the store whether retention is due, per store (session
# factory). The store is the authority (the newest `retention.run` audit entry, under a lock);
# this only spares it the question every 5 seconds.
_retention_next: weakref.WeakKeyDictionary[sessionmaker[Session], datetime] = weakref.WeakKeyDictionary()
_requests_next: weakref.WeakKeyDictionary[sessionmaker[Session], datetime] = weakref.WeakKeyDictionary()


def run_once(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> None:
    with transaction(factory) as session:
        ctx = Ctx(session=session, settings=settings, now=clock.now())
        sessions.purge_expired(ctx)
        throttle.purge_expired(ctx)
        accounts.purge_expired_links(ctx)
        exports.purge_expired(ctx)
    _requests_if_due(factory, settings, clock)
    with transaction(factory) as session:
        mailrequests.process(Ctx(session=session, settings=settings, now=clock.now()))
    with transaction(factory) as session:
        mail.deliver_pending(Ctx(session=session, settings=settings, now=clock.now()))
    try:
        with transaction(factory) as session:
            ctx = Ctx(session=session, settings=settings, now=clock.now())
            checkpoints.checkpoint_if_due(ctx, max_age_seconds=60)
    except checkpoints.CheckpointError as exc:
        # Said on stderr (the log) every round and by /healthz until an operator has looked; the rest
        # of the upkeep goes on.
        log.error("audit checkpoints stopped: %s", exc)
    _retention_if_due(factory, settings, clock)


def _retention_if_due(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> None:
    now = clock.now()
    due = _retention_next.get(factory)
    if due is not None and now < due:
        return
    with transaction(factory) as session:
        result = retention.run_if_due(Ctx(session=session, settings=settings, now=now), RETENTION_EVERY)
    # A run that hit its cap continues next round; otherwise look again in an hour (or in a minute
    # when another process holds the lock or ran recently: it may stop before finishing).
    if result is None:
        _retention_next[factory] = now + timedelta(minutes=1)
    else:
        _retention_next[factory] = now if not result.complete else now + RETENTION_EVERY


def _requests_if_due(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> None:
    """Run due erasures (what `portal requests run-due` does), mail staff their reminders, remind people
    to confirm requests filed on their behalf and close those left unconfirmed."""
    now = clock.now()
    due = _requests_next.get(factory)
    if due is not None and now < due:
        return
    _requests_next[factory] = now + REQUESTS_EVERY
    result = waiting.run_due(factory, settings, clock)
    for request_id, message in result.failed:
        log.warning("erasure request %s could not run: %s", request_id, message)
    with transaction(factory) as session:
        reminders.send_due(Ctx(session=session, settings=settings, now=clock.now()))
    with transaction(factory) as session:
        onbehalf.sweep(Ctx(session=session, settings=settings, now=clock.now()))

"""The erasure engine as operators run it: killed at any moment (kill -9) and run again it finishes
without error, with exact counts and nobody else touched; put on hold mid-run it stops; a second
runner is turned away; it refuses requests that are not in progress."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from portal.audit import verifier
from portal.audit.checkpoints import load_or_create_key
from portal.cli import main
from portal.core.settings import Settings
from portal.requests import actions, erasure, runlock
from tests import sitedata_factory as f
from tests.conftest import STRONG_PASSWORD, Store
from tests.erasure_util import rows, scalar
from tests.request_util import account_subject, portal_with, request_in, status_of

RECORDS = 1500
BATCH = 10


def _person(store: Store, email: str, records: int) -> int:
    subject = account_subject(store, email)
    f.cookie(store, subject, "site_id", f"{email}-cookie")
    for term in ("kung fu classics", f"{email} films"):
        f.preference(store, subject, term)
    f.log_records(store, subject, records, source_id=f.source(store, f"/logs/{len(email)}-{records}"))
    return subject


def _batches(store: Store, request_id: int) -> int | None:
    """Batches the run committed so far, read without taking SQLite's write lock (the engine's
    connections begin IMMEDIATE: a poller doing so would starve behind the run)."""
    if store.kind == "sqlite":
        with contextlib.closing(
            sqlite3.connect(make_url(store.settings.database_url).database or "")
        ) as conn:
            found = conn.execute(
                "SELECT batches FROM erasure_run WHERE request_id = ?", (request_id,)
            ).fetchone()
        value = found[0] if found else None
    else:
        value = scalar(store, "SELECT batches FROM erasure_run WHERE request_id = :r", r=request_id)
    return None if value is None else int(value)


def _run_until(store: Store, request_id: int, batches: int) -> bool:
    """`portal requests run-due` in a subprocess, killed with SIGKILL once the run has committed
    `batches` batches; False if it ended first."""
    env = {**os.environ, "PORTAL_ERASURE_BATCH": str(BATCH)}
    proc = subprocess.Popen([sys.executable, "-m", "portal", "requests", "run-due"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if (_batches(store, request_id) or 0) >= batches:
                time.sleep(random.uniform(0, 0.003))  # anywhere in the next batch, or between two
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.002)
        assert proc.poll() is not None, "run-due neither progressed nor ended"
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _finish(store: Store, settings: Settings, request_id: int) -> str:
    """Run the engine here until it no longer meets the lock a killed run held (PostgreSQL frees it
    when it notices the connection is gone)."""
    deadline = time.monotonic() + 20
    while True:
        outcome = erasure.run(store.factory, settings, store.clock, request_id)
        if outcome != "busy" or time.monotonic() > deadline:
            return outcome
        time.sleep(0.05)


def test_killed_at_any_moment_it_finishes_with_exact_counts_and_touches_nobody_else(cli_env: Store) -> None:
    store = cli_env
    ann = _person(store, "ann@example.org", RECORDS)
    bob = _person(store, "bob@example.org", 50)
    request_id = request_in(store, ann, "erasure", "in_progress")
    before = rows(store)
    kills, target = 0, 2
    while kills < 3:
        if not _run_until(store, request_id, target):
            break
        kills += 1
        assert status_of(store, request_id) == "in_progress"
        target = (_batches(store, request_id) or 0) + 3 + 4 * kills
    assert kills >= 2, "the run ended before it could be killed twice: make the person bigger"
    outcome = _finish(store, replace(store.settings, erasure_batch=BATCH), request_id)
    assert outcome == "completed" and status_of(store, request_id) == "completed"
    run = json.loads(str(scalar(store, "SELECT done FROM erasure_run WHERE request_id = :r", r=request_id)))
    planned = json.loads(
        str(scalar(store, "SELECT planned FROM erasure_run WHERE request_id = :r", r=request_id))
    )
    assert run["log_records"] == planned["log_records"] == RECORDS  # every row counted once, kills or not
    assert run["identifiers"] == 1 and run["search_preferences"] == 2 and run["account"] == 1
    assert scalar(store, "SELECT count(*) FROM log_record WHERE subject_id = :s", s=ann) == 0
    after = rows(store)
    for table in ("log_record", "identifier", "search_preference", "account", "subject"):
        theirs = {k: r for k, r in before[table].items() if r.get("subject_id", r.get("id")) == bob}
        assert theirs and all(after[table].get(k) == r for k, r in theirs.items()), table
    public = load_or_create_key(store.settings.audit_key_path).public_key()
    assert verifier.verify(store.engine, public).ok
    # The completion was written once, with one certificate.
    assert scalar(store, "SELECT count(*) FROM audit_entry WHERE action = 'request.completed'") == 1
    assert scalar(store, "SELECT count(*) FROM outbox_mail WHERE subject LIKE '%deletion certificate%'") == 1


def test_put_on_hold_mid_run_it_stops_and_goes_on_when_resumed(cli_env: Store) -> None:
    store = cli_env
    records = 4 * RECORDS  # long enough to run for more than a second (see erasure.YIELD_EVERY)
    ann = _person(store, "ann@example.org", records)
    request_id = request_in(store, ann, "erasure", "in_progress")
    env = {**os.environ, "PORTAL_ERASURE_BATCH": "10"}
    proc = subprocess.Popen([sys.executable, "-m", "portal", "requests", "run-due"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while (_batches(store, request_id) or 0) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    with store.ctx(actor="account:9") as ctx:
        actions.hold(ctx, request_id, "A court asked us to keep the records for now.")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"stopped (put on hold or extended while it ran): {request_id}" in out
    left = int(scalar(store, "SELECT count(*) FROM log_record WHERE subject_id = :s", s=ann))  # type: ignore[arg-type]
    assert 0 < left < records and status_of(store, request_id) == "on_hold"
    with pytest.raises(erasure.NotInProgress):  # on hold, nothing more is erased
        erasure.run(store.factory, store.settings, store.clock, request_id)
    # How far it got, for operators and for the person (who may log in again until it is done).
    shown = CliRunner().invoke(main, ["requests", "show", str(request_id)])
    assert f"erasure:   {records - left + 3:,} of {records + 5:,} rows" in shown.output, shown.output
    assert f"Access-log records: {records - left:,} of {records:,}" in shown.output
    with portal_with(store) as portal:
        client = portal.client()
        assert (
            client.submit("/login", {"email": "ann@example.org", "password": STRONG_PASSWORD}).status_code
            == 303
        )
        page = client.get(f"/my/requests/{request_id}").text
        assert "Erasing your data" in page and "Paused while the request is “On hold”" in page
        # "My data" counts what is left, not what there was (each batch takes its records off the tally).
        assert f"{left:,} log records</a>" in client.get("/my").text
    with store.ctx(actor="account:9") as ctx:
        actions.resume(ctx, request_id)
    settings = replace(store.settings, erasure_batch=500)
    with runlock.held(store.engine, settings, request_id) as mine:
        assert mine  # another worker finds it taken and leaves it
        assert erasure.run(store.factory, settings, store.clock, request_id) == "busy"
    assert erasure.run(store.factory, settings, store.clock, request_id) == "completed"
    assert scalar(store, "SELECT count(*) FROM log_record WHERE subject_id = :s", s=ann) == 0
    done = json.loads(str(scalar(store, "SELECT done FROM erasure_run WHERE request_id = :r", r=request_id)))
    assert done["log_records"] == records


def test_it_refuses_what_is_not_an_erasure_in_progress(store: Store) -> None:
    ann = _person(store, "ann@example.org", 3)
    for kind, status in (("erasure", "in_review"), ("erasure", "approved"), ("access", "in_progress")):
        request_id = request_in(store, ann, kind, status)
        with pytest.raises(erasure.NotInProgress):
            erasure.run(store.factory, store.settings, store.clock, request_id)
        with store.ctx() as ctx:
            ctx.session.execute(
                actions.DataRequest.__table__.update()
                .where(actions.DataRequest.id == request_id)
                .values(  # type: ignore[attr-defined]
                    status="cancelled", closed_at=ctx.now
                )
            )
    with pytest.raises(erasure.NotInProgress):
        erasure.run(store.factory, store.settings, store.clock, 999_999)
    assert scalar(store, "SELECT count(*) FROM log_record WHERE subject_id = :s", s=ann) == 3
    assert scalar(store, "SELECT count(*) FROM erasure_run") == 0

"""Retention: exactly the old rows go, exactly the unlinked old IPs are masked, and every run is audited."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import text as sa_text

from portal import audit, housekeeping
from portal.subjects import retention
from tests import sitedata
from tests.conftest import Store

DAY = timedelta(days=1)


def _ips(store: Store) -> dict[int, str]:
    with store.engine.connect() as conn:
        return {r[0]: r[1] for r in conn.exec_driver_sql("SELECT line_no, ip FROM log_record")}


def _retention_entries(store: Store) -> list[dict[str, object]]:
    with store.engine.connect() as conn:
        seqs = [r[0] for r in conn.exec_driver_sql(
            "SELECT seq FROM audit_entry WHERE action = 'retention.run' ORDER BY seq"
        )]  # fmt: skip
    with store.ctx() as ctx:
        return [audit.details_of(ctx, seq) or {} for seq in seqs]


@pytest.mark.parametrize(
    ("ip", "masked"),
    [
        ("198.51.100.23", "198.51.0.0"),
        ("10.1.0.0", "10.1.0.0"),
        ("2001:db8:abcd:12:1::7", "2001:db8:abcd::"),
        ("2001:db8:1:2::", "2001:db8:1::"),
        ("::ffff:102:304", "1.2.0.0"),  # IPv4-mapped: masked as the IPv4 address it is
        ("fe80::1%eth0", "fe80::"),
        ("not-an-ip", "0.0.0.0"),
    ],
)
def test_mask_ip(ip: str, masked: str) -> None:
    assert retention.mask_ip(ip) == masked


def test_deletes_old_records_and_masks_only_unlinked_old_ips(store: Store) -> None:
    now = store.clock.now()
    person = sitedata.subject(store)
    src = sitedata.source(store)
    rows = {
        1: (now - 200 * DAY, "198.51.100.23", None),  # too old: deleted
        2: (now - 181 * DAY, "203.0.113.9", person),  # too old, linked: deleted too
        3: (now - 100 * DAY, "198.51.100.23", None),  # unlinked, past the mask window: masked
        4: (now - 100 * DAY, "2001:db8:abcd:12:1::7", None),  # IPv6: masked to /48
        5: (now - 100 * DAY, "2001:db8:1:2::", None),  # ends in "::" yet not a /48: masked
        6: (now - 100 * DAY, "::ffff:102:304", None),  # IPv4-mapped: masked as IPv4
        7: (now - 100 * DAY, "10.1.0.0", None),  # already its own mask: untouched, not counted
        8: (now - 100 * DAY, "203.0.113.9", person),  # linked: keeps its IP until it is deleted
        9: (now - 10 * DAY, "192.0.2.44", None),  # recent: untouched
        10: (now - 179 * DAY, "2001:db8::1", None),  # inside retention, past masking
    }
    for line_no, (at, ip, subject_id) in rows.items():
        sitedata.log_record(store, src, line_no, at, ip, subject_id)

    with store.ctx() as ctx:
        result = retention.run(ctx)

    assert (result.log_records_deleted, result.ips_masked, result.complete) == (2, 5, True)
    assert _ips(store) == {
        3: "198.51.0.0",
        4: "2001:db8:abcd::",
        5: "2001:db8:1::",
        6: "1.2.0.0",
        7: "10.1.0.0",
        8: "203.0.113.9",
        9: "192.0.2.44",
        10: "2001:db8::",
    }
    [entry] = _retention_entries(store)
    assert entry["log_records_deleted"] == 2 and entry["ips_masked"] == 5 and entry["complete"] is True

    # Idempotent: a second run finds nothing, counts nothing, and is still audited.
    with store.ctx() as ctx:
        again = retention.run(ctx)
    assert (again.log_records_deleted, again.ips_masked) == (0, 0)
    assert len(_retention_entries(store)) == 2

    # The linked record keeps its IP until it is old enough to go, then it goes whole.
    store.clock.advance(days=81)
    with store.ctx() as ctx:
        later = retention.run(ctx)
    assert later.log_records_deleted == 7 and _ips(store) == {9: "192.0.0.0"}


def test_expires_quarantine_preferences_and_stale_cookie_identifiers(store: Store) -> None:
    now = store.clock.now()
    person = sitedata.subject(store)
    old, recent = now - 181 * DAY, now - 5 * DAY
    sitedata.quarantined(store, old, b"old junk")
    keep_q = sitedata.quarantined(store, recent, b"new junk")
    sitedata.preference(store, person, "old term", old)
    sitedata.preference(store, person, "new term", recent)
    sitedata.identifier(store, person, "expired-cookie", old, expires_at=now - DAY)
    sitedata.identifier(store, person, "unknown-expiry", old)
    sitedata.identifier(store, person, "still-live", old, expires_at=now + 30 * DAY)
    sitedata.identifier(store, person, "site-user-1", old, kind="site_user", name="")
    sitedata.identifier(store, person, "recent-cookie", recent)

    with store.ctx() as ctx:
        result = retention.run(ctx)

    assert (result.quarantined_deleted, result.search_preferences_deleted, result.identifiers_deleted) == (
        1,
        1,
        2,
    )
    assert store.scalar("SELECT id FROM quarantined_line") == keep_q
    assert store.scalar("SELECT term FROM search_preference") == "new term"
    with store.engine.connect() as conn:
        left = {r[0] for r in conn.exec_driver_sql("SELECT value FROM identifier")}
    assert left == {"still-live", "site-user-1", "recent-cookie"}


def test_mask_days_zero_never_masks(store: Store) -> None:
    src = sitedata.source(store)
    sitedata.log_record(store, src, 1, store.clock.now() - 100 * DAY, "198.51.100.23", None)
    with store.ctx() as ctx:
        ctx.settings = dataclasses.replace(ctx.settings, ip_mask_days=0)
        result = retention.run(ctx)
    assert result.ips_masked == 0 and result.mask_cutoff is None
    assert _ips(store) == {1: "198.51.100.23"}


def test_a_capped_run_says_so_and_the_next_run_finishes(store: Store) -> None:
    src = sitedata.source(store)
    for n in range(5):
        sitedata.log_record(store, src, n, store.clock.now() - 200 * DAY, "198.51.100.23", None)
    with store.ctx() as ctx:
        first = retention.run(ctx, max_rows=3)
    with store.ctx() as ctx:
        second = retention.run(ctx, max_rows=3)
    assert (first.log_records_deleted, first.complete) == (3, False)
    assert (second.log_records_deleted, second.complete) == (2, True)
    assert [e["complete"] for e in _retention_entries(store)] == [False, True]


def test_housekeeping_runs_retention_at_most_hourly(store: Store) -> None:
    src = sitedata.source(store)
    sitedata.log_record(store, src, 1, store.clock.now() - 200 * DAY, "198.51.100.23", None)
    housekeeping.run_once(store.factory, store.settings, store.clock)
    housekeeping.run_once(store.factory, store.settings, store.clock)
    store.clock.advance(minutes=30)
    housekeeping.run_once(store.factory, store.settings, store.clock)
    assert [e["log_records_deleted"] for e in _retention_entries(store)] == [1]
    store.clock.advance(minutes=31)
    housekeeping.run_once(store.factory, store.settings, store.clock)
    assert len(_retention_entries(store)) == 2


def test_housekeeping_in_another_process_sees_the_stored_last_run(store: Store) -> None:
    """The store, not process memory, decides: a second server process does not run it again."""
    with store.ctx() as ctx:
        retention.run(ctx)
    with store.ctx() as ctx:
        assert retention.run_if_due(ctx, housekeeping.RETENTION_EVERY) is None
    store.clock.advance(minutes=61)
    with store.ctx() as ctx:
        assert retention.run_if_due(ctx, housekeeping.RETENTION_EVERY) is not None


def test_portal_retention_run_command(store: Store) -> None:
    src = sitedata.source(store)
    sitedata.log_record(store, src, 1, store.clock.now() - 400 * DAY, "198.51.100.23", None)
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(store.settings.var_dir),
        "PORTAL_DATABASE_URL": store.settings.database_url,
        "PORTAL_SECRET_KEY": store.settings.secret_key.decode(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "portal", "retention", "run"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "log records deleted: 1" in done.stdout
    assert store.scalar("SELECT count(*) FROM log_record") == 0
    assert len(_retention_entries(store)) == 1


def test_emailed_links_go_a_week_after_they_expire_and_recovery_codes_stay(portal) -> None:  # type: ignore[no-untyped-def]
    """The registry promises emailed links are kept no longer than that; housekeeping keeps it."""
    from portal.accounts import recovery
    from tests.staff_util import staff_account

    store = portal.store
    c = portal.client()
    portal.register(c, "links@example.org")  # a confirmation link, valid 24 hours
    _, _secret = staff_account(store, "staff@example.org", "agent")
    with store.ctx() as ctx:
        staff_id = int(ctx.session.execute(
            sa_text("SELECT id FROM account WHERE email = 'staff@example.org'")
        ).scalar_one())  # fmt: skip
        recovery.issue(ctx, staff_id)
    count = "SELECT count(*) FROM link_token WHERE purpose {} 'recovery'"
    assert store.scalar(count.format("<>")) >= 1 and store.scalar(count.format("=")) == 10
    store.clock.advance(days=7)  # expired six days ago: it still says so
    housekeeping.run_once(store.factory, store.settings, store.clock)
    assert store.scalar(count.format("<>")) >= 1
    store.clock.advance(days=2)
    housekeeping.run_once(store.factory, store.settings, store.clock)
    assert store.scalar(count.format("<>")) == 0
    assert store.scalar(count.format("=")) == 10

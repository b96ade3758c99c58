"""Ingest end to end on both stores: formats, exactly once, quarantine, linking rules."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from portal.accounts import accounts, mailrequests, passwords
from portal.core.priority import BACKGROUND_NICENESS
from portal.ingest.pipeline import Ingest, IngestError
from portal.models import SearchPreference, UnclassifiedCookie
from portal.subjects import catalog, consent, identity
from tests import logfactory as lf
from tests.conftest import STRONG_PASSWORD, Store

ID, PREF, SESSION = "site_id", "search_pref", "session_id"


def ingest(store: Store, *paths: Path | str, stdin: bytes | None = None, **kw):  # type: ignore[no-untyped-def]
    run = Ingest(store.factory, store.settings, store.clock, **kw)
    return run.run([str(p) for p in paths], stdin=io.BytesIO(stdin) if stdin is not None else None)


def rows(store: Store, sql: str, **params: object) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def subject_of(store: Store, name: str, value: str) -> int | None:
    with store.ctx() as ctx:
        found = identity.find(ctx, "cookie", name, value)
        return identity.root(ctx, found.subject_id) if found else None


# -- formats and sources ---------------------------------------------------------------------


def test_the_real_shared_log_is_stored_with_no_rejection(store: Store) -> None:
    if not lf.SAMPLE_LOG.exists():
        pytest.fail(f"sample log missing: {lf.SAMPLE_LOG}")
    summary = ingest(store, lf.SAMPLE_LOG, site="www")
    assert (summary.lines_read, summary.stored, summary.rejected) == (10_000, 10_000, 0)
    assert store.scalar("SELECT count(*) FROM log_record") == 10_000
    # Each record's id is its line's place (the primary key holds each line to one row).
    assert store.scalar("SELECT count(*) FROM log_record WHERE id = source_id * 1099511627776 + line_no") == 10_000
    # No cookies in that log: nothing may be tied to anyone (never by IP or user agent).
    assert store.scalar("SELECT count(*) FROM log_record WHERE subject_id IS NOT NULL") == 0
    assert store.scalar("SELECT count(*) FROM search_preference") == 0
    first = rows(store, "SELECT ip, method, path, status, bytes, referrer_domain, site FROM log_record ORDER BY line_no LIMIT 1")
    assert first == [("83.149.9.216", "GET", "/presentations/logstash-monitorama-2013/images/kibana-search.png", 200, 203023, "semicomplete.com", "www")]


def test_gzip_stdin_and_jsonl(store: Store, tmp_path: Path) -> None:
    lines = [lf.line(at=lf.T0 + lf.minutes(i), path=f"/p{i}") for i in range(30)]
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress("".join(x + "\n" for x in lines).encode()))
    assert ingest(store, gz).stored == 30
    other = [lf.line(at=lf.T0 + lf.minutes(100 + i), path=f"/q{i}") for i in range(5)]
    assert ingest(store, "-", stdin="".join(x + "\n" for x in other).encode()).stored == 5
    jl = tmp_path / "a.jsonl"
    jl.write_text(
        '{"time_iso8601": "2026-11-01T12:00:00+00:00", "remote_addr": "2001:db8::1", "request": "GET /j HTTP/2.0",'
        ' "status": 200, "body_bytes_sent": 10, "http_referer": "", "http_user_agent": "curl/8",'
        ' "http_cookie": "site_id=abc123; other=zzz"}\n'
    )
    assert ingest(store, jl).stored == 1
    got = rows(store, "SELECT ip, path, protocol, cookies FROM log_record WHERE path = '/j'")
    assert got == [("2001:db8::1", "/j", "HTTP/2.0", '{"site_id":"abc123"}')]  # uncatalogued value dropped
    assert rows(store, "SELECT name, seen FROM unclassified_cookie") == [("other", 1)]


# -- exactly once ----------------------------------------------------------------------------


def test_reingest_growth_rotation_and_copytruncate_store_each_line_once(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    batch1 = [lf.line(at=lf.T0 + lf.minutes(i), path=f"/a{i}") for i in range(100)]
    lf.write(log, batch1)
    assert ingest(store, log).stored == 100
    again = ingest(store, log)
    assert (again.stored, again.duplicates) == (0, 100)

    with log.open("a") as fh:  # the file grows
        fh.writelines(lf.line(at=lf.T0 + lf.minutes(200 + i), path=f"/b{i}") + "\n" for i in range(20))
    assert ingest(store, log).stored == 20

    log.rename(tmp_path / "access.log.1")  # rotation: old file renamed, a new one started
    with (tmp_path / "access.log.1").open("a") as fh:  # lines written just before rotation
        fh.write(lf.line(at=lf.T0 + lf.minutes(300), path="/late") + "\n")
    lf.write(log, [lf.line(at=lf.T0 + lf.minutes(400 + i), path=f"/c{i}") for i in range(7)])
    assert ingest(store, tmp_path / "access.log.1", log).stored == 8

    # copytruncate: the same path now holds new content from the start.
    lf.write(log, [lf.line(at=lf.T0 + lf.minutes(500 + i), path=f"/d{i}") for i in range(3)])
    assert ingest(store, log).stored == 3
    assert store.scalar("SELECT count(*) FROM log_record") == 100 + 20 + 8 + 3
    dupes = store.scalar("SELECT count(*) FROM (SELECT path FROM log_record GROUP BY path HAVING count(*) > 1) d")
    assert dupes == 0


def test_a_partial_last_line_waits_for_its_newline(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    complete = lf.line(path="/done")
    partial = lf.line(path="/half-written")
    log.write_text(complete + "\n" + partial[:40])
    assert ingest(store, log).stored == 1
    log.write_text(complete + "\n" + partial + "\n")
    assert ingest(store, log).stored == 1
    assert store.scalar("SELECT count(*) FROM log_record") == 2
    assert store.scalar("SELECT count(*) FROM quarantined_line") == 0


def _env(store: Store) -> dict[str, str]:
    return {
        **os.environ,
        "PORTAL_VAR_DIR": str(store.settings.var_dir),
        "PORTAL_DATABASE_URL": store.settings.database_url,
        "PORTAL_SECRET_KEY": store.settings.secret_key.decode(),
    }


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_without_duplicates(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    total = 60_000
    with log.open("w") as fh:
        for i in range(total):
            cookies = f"{ID}=v{i % 500}; {PREF}=term+{i % 7}" if i % 3 == 0 else "-"
            fh.write(lf.line(ip=f"198.51.{i % 250}.{i % 200}", at=lf.T0 + lf.minutes(i), path=f"/k{i}", cookies=cookies) + "\n")
    cmd = [sys.executable, "-m", "portal", "ingest", "--batch-lines", "500", str(log)]
    proc = subprocess.Popen(cmd, env=_env(store), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stored = store.scalar("SELECT count(*) FROM log_record")
        if stored and int(stored) >= 3000:  # type: ignore[call-overload]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored_before = int(store.scalar("SELECT count(*) FROM log_record"))  # type: ignore[arg-type]
    assert 0 < stored_before < total, "the run was not interrupted mid-way"
    done = subprocess.run(cmd, env=_env(store), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert store.scalar("SELECT count(*) FROM log_record") == total
    assert store.scalar("SELECT count(DISTINCT line_no) FROM log_record") == total
    assert store.scalar("SELECT count(DISTINCT path) FROM log_record") == total


def test_preparing_lines_in_a_child_process_stores_exactly_what_one_process_does(
    store: Store, tmp_path: Path
) -> None:
    """Big files are prepared in a forked helper; the result must not depend on that."""
    lines = []
    for i in range(3000):
        cookies = f"{ID}=v{i % 40}; {PREF}=term+{i % 5}; _ga=x{i}" if i % 4 == 0 else "-"
        referrer = f"https://www.google.com/search?q=walk+{i % 3}" if i % 9 == 0 else "-"
        lines.append(lf.line(at=lf.T0 + lf.minutes(i), path=f"/w{i}?a={i}", cookies=cookies, referrer=referrer))
    lines.insert(1500, "not a log line")
    log = lf.write(tmp_path / "w.log", lines)
    fields = "line_no, subject_id IS NULL, at, ip, path, referrer_domain, user_agent, cookies"
    prefs = "SELECT term, source FROM search_preference ORDER BY term, source"
    one = ingest(store, log, batch_lines=250, parallel=False)
    stored_one = rows(store, f"SELECT {fields} FROM log_record ORDER BY line_no")
    prefs_one = rows(store, prefs)
    unclassified_one = rows(store, "SELECT name, seen FROM unclassified_cookie")
    with store.engine.begin() as conn:
        for table in ("log_record", "search_preference", "unclassified_cookie", "quarantined_line", "ingest_source"):
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
        conn.execute(text("UPDATE subject SET log_records = 0"))  # their tallies, as the records are gone
    two = ingest(store, log, batch_lines=250, parallel=True)
    assert (two.lines_read, two.stored, two.rejected) == (one.lines_read, one.stored, one.rejected) == (3001, 3000, 1)
    assert rows(store, f"SELECT {fields} FROM log_record ORDER BY line_no") == stored_one
    assert rows(store, prefs) == prefs_one
    assert rows(store, "SELECT name, seen FROM unclassified_cookie") == unclassified_one
    assert store.scalar("SELECT count(*) FROM quarantined_line") == 1
    # A rejection under --strict still stops the run, from the child as from one process,
    # and nothing after the last committed batch is stored.
    strict_log = lf.write(tmp_path / "s.log", [lf.line(path=f"/s{i}") for i in range(600)] + ["garbage"])
    with pytest.raises(IngestError, match="--strict"):
        ingest(store, strict_log, batch_lines=250, strict=True, parallel=True)
    assert store.scalar("SELECT count(*) FROM log_record WHERE path LIKE '/s%'") == 500


def test_a_source_past_the_last_id_is_refused_before_anything_is_stored(store: Store, tmp_path: Path) -> None:
    from portal.models.sitedata import MAX_SOURCE_ID

    with store.engine.begin() as conn:  # the next source the store numbers is one too many
        if store.kind == "sqlite":
            conn.execute(
                text(
                    'INSERT INTO ingest_source (id, site, path, fingerprint, fingerprint_bytes, "offset", lines,'
                    " format, created_at, updated_at) VALUES (:id, '', 'old.log', 'old', 1, 0, 0, 'combined',"
                    " '2026-01-01', '2026-01-01')"
                ),
                {"id": MAX_SOURCE_ID},
            )
        else:
            conn.execute(text("SELECT setval('ingest_source_id_seq', :id)"), {"id": MAX_SOURCE_ID})
    log = lf.write(tmp_path / "late.log", [lf.line(path=f"/late{i}") for i in range(3)])
    with pytest.raises(IngestError, match="past the last a log record id can name"):
        ingest(store, log)
    assert store.scalar("SELECT count(*) FROM log_record") == 0


# -- bad input -------------------------------------------------------------------------------


def test_hostile_lines_are_quarantined_and_the_run_goes_on(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "hostile.log"
    good = lf.line(path="/ok")
    with log.open("wb") as fh:
        fh.write(good.encode() + b"\n")
        fh.write(lf.line(ua="<script>alert(1)</script>\r\nX-Injected: yes").encode() + b"\n")
        fh.write(b"A" * 1_000_000 + b"\n")
        fh.write(lf.line(path="/caf\xc3").encode("utf-8", "surrogateescape")[:-30] + b"\xff\xfe bad utf8\n")
        fh.write(b"\x00\x01\x02\x03binary\x00garbage\n")
        fh.write(lf.line(path="/ok-too").encode() + b"\n")
    summary = ingest(store, log)
    assert summary.stored >= 2
    assert summary.rejected >= 3
    reasons = dict(rows(store, "SELECT reason, count(*) FROM quarantined_line GROUP BY reason"))
    assert reasons.get("too_long") == 1
    assert "binary" in reasons
    assert {"invalid_utf8", "binary", "malformed"} & set(reasons)
    big = rows(store, "SELECT raw_length, length(raw) FROM quarantined_line WHERE reason = 'too_long'")
    assert big == [(1_000_000, 4096)]  # the megabyte is counted, not kept
    stored_paths = {r[0] for r in rows(store, "SELECT path FROM log_record")}
    assert {"/ok", "/ok-too"} <= stored_paths
    # --strict makes the first rejection fatal.
    with pytest.raises(IngestError, match="--strict"):
        ingest(store, lf.write(tmp_path / "s.log", [lf.line(path="/s1"), "garbage line"]), strict=True)


def test_cli_exit_status_says_whether_lines_were_rejected(store: Store, tmp_path: Path) -> None:
    clean = lf.write(tmp_path / "clean.log", [lf.line(path="/x")])
    dirty = lf.write(tmp_path / "dirty.log", [lf.line(path="/y"), "not a log line"])
    run = lambda p: subprocess.run([sys.executable, "-m", "portal", "ingest", str(p)], env=_env(store), capture_output=True, text=True)  # noqa: E731
    ok = run(clean)
    assert ok.returncode == 0 and "1 stored" in ok.stdout
    bad = run(dirty)
    assert bad.returncode == 1 and "1 malformed" in bad.stdout and "quarantine" in bad.stderr


def test_the_command_runs_below_the_web_workers_cpu_priority(store: Store) -> None:
    """An import must not take the CPU from the people using the portal: it lowers its own priority
    (it waits here on an open stdin while its priority is read), unless told not to."""
    own = os.nice(0)
    for flags, expected in (([], min(19, own + BACKGROUND_NICENESS)), (["--niceness", "3"], min(19, own + 3))):
        cmd = [sys.executable, "-m", "portal", "ingest", *flags, "-"]
        proc = subprocess.Popen(cmd, env=_env(store), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline, seen = time.monotonic() + 60, own
            while time.monotonic() < deadline and seen != expected:
                time.sleep(0.05)
                seen = os.getpriority(os.PRIO_PROCESS, proc.pid)
            assert seen == expected
        finally:
            line = lf.line(path=f"/nice/{expected}", at=lf.T0 + lf.minutes(expected))
            out, err = proc.communicate(input=(line + "\n").encode(), timeout=120)
        assert proc.returncode == 0 and "1 stored" in out.decode(), err.decode()


# -- linking ---------------------------------------------------------------------------------


def test_same_ip_different_people_stay_apart(store: Store, tmp_path: Path) -> None:
    log = lf.write(
        tmp_path / "a.log",
        [
            lf.line(ip="192.0.2.10", path="/alice", cookies=f"{ID}=alice-cookie"),
            lf.line(ip="192.0.2.10", path="/bob", cookies=f"{ID}=bob-cookie", ua=lf.FIREFOX),
            lf.line(ip="192.0.2.10", path="/nobody", cookies="-"),  # same IP, no cookie: nobody's
        ],
    )
    ingest(store, log)
    alice, bob = subject_of(store, ID, "alice-cookie"), subject_of(store, ID, "bob-cookie")
    assert alice and bob and alice != bob
    by_path = dict(rows(store, "SELECT path, subject_id FROM log_record"))
    assert by_path == {"/alice": alice, "/bob": bob, "/nobody": None}


def _identifying_cookie(store: Store, name: str = SESSION) -> None:
    """A second catalogued cookie that identifies a browser (a site's session id, say)."""
    with store.ctx() as ctx:
        catalog.save(ctx, catalog.CookieForm(name, ("essential",), "The site's session id.", "", True, ""))


def test_identifying_cookies_seen_together_merge_and_earlier_records_follow(store: Store, tmp_path: Path) -> None:
    _identifying_cookie(store)
    ingest(
        store,
        lf.write(
            tmp_path / "1.log",
            [
                lf.line(at=lf.T0, path="/anon", cookies=f"{SESSION}=s-1; {PREF}=cheap+flights"),
                lf.line(at=lf.T0 + lf.minutes(1), path="/member", cookies=f"{ID}=id-1"),
            ],
        ),
    )
    session_subject, id_subject = subject_of(store, SESSION, "s-1"), subject_of(store, ID, "id-1")
    assert session_subject and id_subject and session_subject != id_subject
    # Later one request carries both: the two are one browser from now on, and the old rows follow.
    ingest(store, lf.write(tmp_path / "2.log", [lf.line(at=lf.T0 + lf.minutes(5), path="/both", cookies=f"{SESSION}=s-1; {ID}=id-1")]))
    merged = subject_of(store, SESSION, "s-1")
    assert merged == subject_of(store, ID, "id-1")
    assert {r[0] for r in rows(store, "SELECT subject_id FROM log_record")} == {merged}
    assert rows(store, "SELECT term, source, times FROM search_preference") == [("cheap flights", "cookie", 1)]
    assert store.scalar("SELECT count(*) FROM subject_link") == 1
    assert store.scalar("SELECT count(*) FROM audit_entry WHERE action = 'subject.link'") == 1


def test_strangers_with_the_same_search_preference_stay_strangers(store: Store, tmp_path: Path) -> None:
    """The preference cookie holds the search terms themselves: strangers who searched the same
    words carry the same value. It is data about each request, never a key to anyone."""
    lines = [
        lf.line(ip="192.0.2.1", path="/ann", cookies=f"{ID}=ann; {PREF}=cheap+flights"),
        lf.line(ip="192.0.2.2", path="/bob", cookies=f"{ID}=bob; {PREF}=cheap+flights", at=lf.T0 + lf.minutes(1)),
        lf.line(ip="192.0.2.3", path="/cy", cookies=f"{PREF}=cheap+flights", at=lf.T0 + lf.minutes(2)),
        lf.line(ip="192.0.2.4", path="/di", cookies=f"{PREF}=cheap+flights", at=lf.T0 + lf.minutes(3)),
    ]
    ingest(store, lf.write(tmp_path / "s.log", lines))
    ann, bob = subject_of(store, ID, "ann"), subject_of(store, ID, "bob")
    assert ann and bob and ann != bob
    assert dict(rows(store, "SELECT path, subject_id FROM log_record")) == {"/ann": ann, "/bob": bob, "/cy": None, "/di": None}
    assert store.scalar("SELECT count(*) FROM identifier WHERE name = :n", n=PREF) == 0
    # The value stays with each request, for the person it is about to see.
    assert store.scalar("SELECT count(*) FROM log_record WHERE cookies LIKE '%cheap+flights%'") == 4
    assert sorted(rows(store, "SELECT subject_id, term FROM search_preference")) == sorted([(ann, "cheap flights"), (bob, "cheap flights")])
    assert store.scalar("SELECT count(*) FROM subject_link") == 0


def test_an_older_log_read_after_a_newer_one_widens_a_terms_first_and_last_sighting(
    store: Store, tmp_path: Path
) -> None:
    """Rotated logs are often imported newest first (access.log, then access.log.1): a search term's
    sightings must span both, whatever the order, as an identifier's do."""
    cookies = f"{ID}=ann; {PREF}=cheap+flights; _ga=x"  # _ga: not in the catalog, only counted
    new = [lf.line(path="/n", cookies=cookies, at=lf.T0 + lf.minutes(m)) for m in (60, 90)]
    old = [lf.line(path="/o", cookies=cookies, at=lf.T0 + lf.minutes(m)) for m in (0, 30)]
    ingest(store, lf.write(tmp_path / "access.log", new))
    ingest(store, lf.write(tmp_path / "access.log.1", old))
    span = [lf.T0, lf.T0 + lf.minutes(90)]
    with store.ctx() as ctx:
        (term,) = ctx.session.scalars(select(SearchPreference)).all()
        (cookie,) = ctx.session.scalars(select(UnclassifiedCookie)).all()
    for row, times in ((term, term.times), (cookie, cookie.seen)):
        seen = [at if at.tzinfo else at.replace(tzinfo=UTC) for at in (row.first_seen, row.last_seen)]
        assert (seen, times) == (span, 4), row


def test_site_events_link_logins_and_verified_emails(store: Store, tmp_path: Path) -> None:
    with store.ctx() as ctx:
        account = accounts._create(ctx, "kim@example.com", passwords.hash_password(STRONG_PASSWORD), "user", verified=True)  # noqa: SLF001
        portal_subject = account.subject_id
    events = lf.write(
        tmp_path / "events.jsonl",
        [
            lf.event("account", site_user_id="u1", email="Kim@Example.com", adult_verified=True),
            lf.event("login", site_user_id="u1", cookie_value="id-kim", time="2026-11-01T12:00:00Z"),
            lf.event("cookie_set", name=PREF, value="red+shoes", site_user_id="u1", time="2026-11-01T12:01:00Z"),
            lf.event("email_sent", email="kim@example.com", list="news", campaign="nov", time="2026-11-02T08:00:00Z"),
            lf.event("account", site_user_id="u2", email="lee@example.com", adult_verified=False),
            lf.event("login", site_user_id="u2", cookie_value="id-lee", time="2026-11-01T13:00:00Z"),
        ],
    )
    assert ingest(store, events, fmt="events").events == 6
    assert subject_of(store, ID, "id-kim") == portal_subject
    # The preference cookie set for Kim is no key, but its terms are Kim's.
    assert subject_of(store, PREF, "red+shoes") is None
    assert rows(store, "SELECT subject_id, term, source FROM search_preference") == [(portal_subject, "red shoes", "cookie")]
    assert subject_of(store, ID, "id-lee") not in (None, portal_subject)
    assert store.scalar("SELECT count(*) FROM promo_email WHERE subject_id = :s", s=portal_subject) == 1
    # The site account keeps only a keyed hash of the email.
    assert store.scalar("SELECT count(*) FROM site_account WHERE email_hash LIKE '%@%'") == 0
    # A later log line with Kim's identification cookie is Kim's.
    ingest(store, lf.write(tmp_path / "k.log", [lf.line(path="/kim", cookies=f"{ID}=id-kim")]))
    assert rows(store, "SELECT subject_id FROM log_record WHERE path = '/kim'") == [(portal_subject,)]


def test_two_known_people_are_never_merged_by_a_shared_cookie(store: Store, tmp_path: Path) -> None:
    _identifying_cookie(store)
    events = lf.write(
        tmp_path / "e.jsonl",
        [
            lf.event("login", site_user_id="u1", cookie_value="id-a", time="2026-11-01T12:00:00Z"),
            lf.event("login", site_user_id="u2", cookie_value="id-b", time="2026-11-01T12:00:00Z"),
        ],
    )
    ingest(store, events, fmt="events")
    a, b = subject_of(store, ID, "id-a"), subject_of(store, ID, "id-b")
    # A shared computer: one session cookie travels with both people's logins.
    ingest(
        store,
        lf.write(
            tmp_path / "s.log",
            [
                lf.line(path="/a", cookies=f"{SESSION}=shared; {ID}=id-a"),
                lf.line(path="/b", cookies=f"{SESSION}=shared; {ID}=id-b", at=lf.T0 + lf.minutes(1)),
            ],
        ),
    )
    assert subject_of(store, ID, "id-a") == a and subject_of(store, ID, "id-b") == b and a != b
    assert store.scalar("SELECT count(*) FROM audit_entry WHERE action = 'subject.link_refused'") == 1
    assert rows(store, "SELECT subject_id FROM log_record WHERE path = '/b'") == [(b,)]


def test_search_terms_come_from_referrers_and_cookies_and_revocation_sticks(store: Store, tmp_path: Path) -> None:
    google = "https://www.google.co.uk/search?q=late+night+films&hl=en"
    ingest(store, lf.write(tmp_path / "1.log", [lf.line(referrer=google, cookies=f"{ID}=id-9; {PREF}=horror|comedy")]))
    subject = subject_of(store, ID, "id-9")
    assert sorted(rows(store, "SELECT term, source, engine FROM search_preference")) == [
        ("comedy", "cookie", ""),
        ("horror", "cookie", ""),
        ("late night films", "referrer", "Google"),
    ]
    with store.ctx() as ctx:
        consent.set_choice(ctx, subject, "personalization", False, via="portal")  # type: ignore[arg-type]
        consent.forget_search_preferences(ctx, subject)  # type: ignore[arg-type]
    ingest(store, lf.write(tmp_path / "2.log", [lf.line(referrer=google.replace("late", "early"), cookies=f"{ID}=id-9; {PREF}=drama", at=lf.T0 + lf.minutes(9))]))
    assert store.scalar("SELECT count(*) FROM search_preference") == 0
    assert store.scalar("SELECT count(*) FROM log_record") == 2  # the visit itself is still logged


def test_a_configured_search_engine_yields_search_terms(store: Store, tmp_path: Path) -> None:
    from dataclasses import replace

    from portal.ingest.searchterms import DEFAULT_ENGINES, SearchEngine

    log = lf.write(tmp_path / "m.log", [lf.line(referrer="https://www.mojeek.com/search?q=quiet+walks", cookies=f"{ID}=id-m")])
    ingest(store, log)
    assert store.scalar("SELECT count(*) FROM search_preference") == 0  # unknown engine by default
    mojeek = (SearchEngine("Mojeek", ("mojeek.com",), ("q",)), *DEFAULT_ENGINES)
    settings = replace(store.settings, search_engines=mojeek)
    Ingest(store.factory, settings, store.clock).run([str(lf.write(tmp_path / "n.log", [lf.line(at=lf.T0 + lf.minutes(5), referrer="https://www.mojeek.com/search?q=quiet+walks", cookies=f"{ID}=id-m")]))])
    assert rows(store, "SELECT term, source, engine FROM search_preference") == [("quiet walks", "referrer", "Mojeek")]


def test_identifying_cookie_values_are_redacted_from_logged_urls(store: Store, tmp_path: Path) -> None:
    ingest(store, lf.write(tmp_path / "r.log", [lf.line(path="/login?site_id=secret-value&next=/home")]))
    assert rows(store, "SELECT path FROM log_record") == [("/login?site_id=REDACTED&next=/home",)]


def test_every_batch_and_run_is_audited(store: Store, tmp_path: Path) -> None:
    ingest(store, lf.write(tmp_path / "a.log", [lf.line(path=f"/{i}", at=lf.T0 + lf.minutes(i)) for i in range(12)]), batch_lines=5)
    actions = [r[0] for r in rows(store, "SELECT action FROM audit_entry ORDER BY seq")]
    assert actions.count("ingest.batch") == 3 and actions[-1] == "ingest.run"


def test_a_portal_account_verifying_its_email_takes_over_the_site_account(store: Store, tmp_path: Path) -> None:
    ingest(
        store,
        lf.write(
            tmp_path / "e.jsonl",
            [
                lf.event("account", site_user_id="u7", email="mo@example.com", adult_verified=True),
                lf.event("login", site_user_id="u7", cookie_value="id-mo", time="2026-11-01T12:00:00Z"),
            ],
        ),
        fmt="events",
    )
    ingest(store, lf.write(tmp_path / "m.log", [lf.line(path="/mo", cookies=f"{ID}=id-mo")]))
    with store.ctx() as ctx:
        accounts.register(ctx, "mo@example.com", STRONG_PASSWORD)
        mailrequests.process(ctx)  # the background sender's round creates the account
        account = accounts.by_email(ctx, "mo@example.com")
        assert account is not None
        subject = account.subject_id
    # Registered but not verified: nothing is linked yet (an email typed in proves nothing).
    assert subject_of(store, ID, "id-mo") != subject
    body = rows(store, "SELECT body FROM outbox_mail ORDER BY id DESC LIMIT 1")[0][0]
    token = body.split("/verify/")[1].split()[0]
    with store.ctx() as ctx:
        accounts.verify_email(ctx, token)
    assert subject_of(store, ID, "id-mo") == subject
    assert rows(store, "SELECT subject_id FROM log_record WHERE path = '/mo'") == [(subject,)]


def test_values_too_big_for_a_column_cost_their_line_not_the_run(store: Store, tmp_path: Path) -> None:
    """PostgreSQL enforces column sizes that SQLite does not: such a line is refused on both."""
    host = "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + "." + "e" * 60 + ".example"
    good = lf.line(path="/ok")
    hostile = [
        good.replace("HTTP/1.1", "HTTP/" + "1" * 100),  # protocol
        good.replace('"-"', f'"https://{host}/x"', 1),  # referrer domain longer than 253
        good.replace(" 512 ", " 9223372036854775808 "),  # size
        good.replace("GET", "X" * 33),  # method
        good.replace("203.0.113.5", "::ffff:255.255.255.255%" + "e" * 60),  # address with a zone
    ]
    log = lf.write(tmp_path / "big-values.log", [good, *hostile, good])
    summary = ingest(store, log)
    assert (summary.lines_read, summary.stored, summary.rejected) == (7, 3, 4)
    assert summary.reasons == {"bad_request": 2, "malformed": 1, "bad_ip": 1}
    # A referrer naming a host longer than any DNS name is kept, without a domain.
    assert rows(store, "SELECT line_no, referrer_domain FROM log_record ORDER BY line_no") == [
        (1, None),
        (3, None),
        (7, None),
    ]


def test_json_values_no_column_holds_cost_their_line_not_the_run(store: Store, tmp_path: Path) -> None:
    base = {
        "time": "2026-11-01T12:00:00+00:00",
        "remote_addr": "203.0.113.9",
        "status": 200,
        "request_uri": "/j",
    }
    access = [
        json.dumps({**base, "request_method": "GET"}),
        json.dumps({**base, "request_method": "M" * 40}),  # method
        json.dumps({**base, "request_method": "GET", "server_protocol": "HTTP/" + "9" * 40}),  # protocol
        json.dumps(
            {**base, "request_method": "GET", "http_user_agent": "half \ud800 a pair"}
        ),  # lone surrogate
        json.dumps({**base, "request_method": "GET", "http_user_agent": "a whole pair \U0001f600"}),
    ]
    summary = ingest(store, lf.write(tmp_path / "a.jsonl", access), fmt="jsonl")
    assert (summary.stored, summary.rejected) == (2, 3)
    assert sorted(r[0] for r in rows(store, "SELECT reason FROM quarantined_line")) == [
        "bad_request",
        "bad_request",
        "invalid_utf8",
    ]
    events = [
        lf.event("account", site_user_id="u" * 200, email="long@example.org", adult_verified=True),
        lf.event(
            "email_sent", email="a@example.org", list="l" * 150, campaign="c", time="2026-11-01T12:00:00Z"
        ),
        lf.event("cookie_set", name="n" * 200, value="v", time="2026-11-01T12:00:00Z"),
        lf.event("account", site_user_id="u1", email="fine@example.org", adult_verified=True),
    ]
    summary = ingest(store, lf.write(tmp_path / "e.jsonl", events), fmt="events")
    assert (summary.events, summary.rejected) == (1, 3)
    assert store.scalar("SELECT count(*) FROM site_account") == 1


def test_sightings_of_an_identifier_across_lines_and_cookie_sets(store: Store, tmp_path: Path) -> None:
    """Lines are linked a group of equal cookies at a time; what each identifier records must be
    what reading line by line gives: first sighting = the first line, last = the latest time (of
    equal times the later line, with its user agent), preferences counted per line."""
    t = lf.T0
    both = f"{ID}=v1; {PREF}=walks"
    lines = [
        lf.line(at=t + lf.minutes(5), ua="UA-a", cookies=f"{ID}=v1"),  # first sighting of v1
        lf.line(at=t + lf.minutes(1), ua="UA-b", cookies=both),  # earlier time, later line
        lf.line(at=t + lf.minutes(9), ua="UA-c", cookies=f"{ID}=v1"),
        lf.line(at=t + lf.minutes(9), ua="UA-d", cookies=both),  # same latest time, later line: wins
        lf.line(at=t + lf.minutes(2), ua="UA-e", cookies=f"{ID}=v1"),
        lf.line(
            at=t + lf.minutes(3),
            ua="UA-f",
            cookies=both,
            referrer="https://www.google.com/search?q=hiking+boots",
        ),
    ]
    ingest(store, lf.write(tmp_path / "s.log", lines))
    (v1,) = rows(store, f"SELECT first_seen, last_seen, last_user_agent FROM identifier WHERE name = '{ID}'")
    assert (_utc(v1[0]), _utc(v1[1]), v1[2]) == (t + lf.minutes(5), t + lf.minutes(9), "UA-d")
    assert rows(store, f"SELECT count(*) FROM identifier WHERE name = '{PREF}'") == [(0,)]  # no key
    prefs = rows(store, "SELECT term, source, engine, first_seen, last_seen, times FROM search_preference ORDER BY term")
    assert [(p[0], p[1], p[2], _utc(p[3]), _utc(p[4]), p[5]) for p in prefs] == [
        ("hiking boots", "referrer", "Google", t + lf.minutes(3), t + lf.minutes(3), 1),
        ("walks", "cookie", "", t + lf.minutes(1), t + lf.minutes(9), 3),
    ]
    # One subject for every line, whichever cookies it carried.
    assert store.scalar("SELECT count(DISTINCT subject_id) FROM log_record") == 1


def _utc(value: object) -> datetime:
    if isinstance(value, str):  # SQLite through a plain connection
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)

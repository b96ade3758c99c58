"""`portal relink` on a store with today's faulty links: afterwards nobody sees anyone else's records."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from portal.ingest import relink
from portal.ingest.pipeline import Ingest
from portal.models import SubjectLink
from portal.models.sitedata import log_record_id
from portal.subjects import catalog, identity, tally
from tests import logfactory as lf
from tests import sitedata_factory as f
from tests.conftest import Portal, Store

_LINE = {"n": 0}


def _records(store: Store, subject: int | None, cookies: dict[str, str], count: int, *, path: str,
             ip: str, referrer: str | None = None, source: int) -> None:  # fmt: skip
    now = store.clock.now()
    rows = []
    for i in range(count):
        _LINE["n"] += 1
        n = _LINE["n"]
        rows.append(
            {"id": log_record_id(source, n), "source_id": source, "line_no": n, "subject_id": subject,
             "at": now - timedelta(hours=n), "ip": ip, "method": "GET", "path": f"{path}/{i}", "protocol": "HTTP/1.1",
             "status": 200, "bytes": 1, "referrer": referrer, "referrer_domain": None, "user_agent": f.FIREFOX,
             "site": "", "cookies": json.dumps(cookies, separators=(",", ":"))}
        )  # fmt: skip
    with store.engine.begin() as conn:
        f.insert_records(conn, rows)


def _legacy_cookie(store: Store, subject: int, name: str, value: str) -> None:
    """An identifier row as the linking before migration 0006 wrote it (no tie recorded)."""
    f.cookie(store, subject, name, value)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE identifier SET tied_by = NULL WHERE value = :v"), {"v": value})


@dataclass
class Faulty:
    person: int  # a site account, whose preference value strangers share
    mega: int  # a browser subject several strangers were joined into through that value
    account: int  # a portal account that claimed a stranger's browser through a preference value
    claimed: int  # that stranger's browser subject, merged into the account


def faulty_store(portal: Portal) -> Faulty:
    """Links as the old rules made them: shared search-preference values joined strangers."""
    store = portal.store
    src = f.source(store)
    person = f.subject(store, "site")
    f.cookie(store, person, "site_id", "p-site-id")  # tied by a site login (the site's own event)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE identifier SET tied_by = NULL WHERE value = 'p-site-id'"))
    _legacy_cookie(store, person, "search_pref", "cheap+flights")
    _records(store, person, {"site_id": "p-site-id", "search_pref": "cheap+flights"}, 4, path="/person", ip="192.0.2.1", source=src)
    # A visitor with only the same preference cookie: linked to the person by it.
    _records(store, person, {"search_pref": "cheap+flights"}, 3, path="/visitor", ip="192.0.2.2",
             referrer="https://www.google.com/search?q=night+buses", source=src)  # fmt: skip
    f.preference(store, person, "cheap flights", source="cookie")
    f.preference(store, person, "night buses")  # recorded from the visitor's referrer
    # Two browsers, each with its own identification cookie and the same preference value: one subject.
    mega = f.subject(store, "browser")
    for value in ("b1-site-id", "b2-site-id"):
        _legacy_cookie(store, mega, "site_id", value)
        _records(store, mega, {"site_id": value, "search_pref": "late+films"}, 5, path=f"/{value[:2]}", ip="192.0.2.3", source=src)
    _legacy_cookie(store, mega, "search_pref", "late+films")
    f.preference(store, mega, "late films", source="cookie")
    # An account that claimed a stranger's browser because it presented the same preference value.
    portal.verified_user(portal.client(), "acc@example.com")
    account = f.account_subject(store, "acc@example.com")
    _legacy_cookie(store, account, "site_id", "acc-site-id")
    _records(store, account, {"site_id": "acc-site-id"}, 2, path="/account", ip="192.0.2.4", source=src)
    claimed = f.subject(store, "browser")
    _legacy_cookie(store, account, "site_id", "w-site-id")  # moved to the account by the merge
    _legacy_cookie(store, account, "search_pref", "weather")
    _records(store, account, {"site_id": "w-site-id", "search_pref": "weather"}, 6, path="/stranger", ip="192.0.2.5", source=src)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE subject SET merged_into_id = :a WHERE id = :c"), {"a": account, "c": claimed})
        conn.execute(insert(SubjectLink.__table__), {"subject_id": account, "merged_id": claimed,  # type: ignore[attr-defined]
                     "reason": "search_pref cookie presented while logged in", "at": store.clock.now()})  # fmt: skip
    return Faulty(person, mega, account, claimed)


def _by_path(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT path, subject_id FROM log_record")).all()
    out: dict[str, set[Any]] = {}
    for path, subject in rows:
        out.setdefault(path.rsplit("/", 1)[0], set()).add(subject)
    return {k: v.pop() if len(v) == 1 else v for k, v in out.items()}


def _run(store: Store) -> relink.Relinked:
    with store.ctx() as ctx:
        return relink.relink(ctx, catalog.load(ctx))


def test_relinking_splits_what_a_shared_value_joined_and_keeps_what_identifiers_say(portal: Portal) -> None:
    store = portal.store
    faulty = faulty_store(portal)
    result = _run(store)
    assert result.identifiers_removed == 3  # the three preference values
    assert store.scalar("SELECT count(*) FROM identifier WHERE name = 'search_pref'") == 0
    linked = _by_path(store)
    assert linked["/person"] == faulty.person  # the person's own identifying cookie
    assert linked["/visitor"] is None  # only a shared value: nobody's
    b1, b2 = linked["/b1"], linked["/b2"]
    assert None not in (b1, b2) and b1 != b2 and faulty.mega in (b1, b2)
    # The account claimed a stranger through a shared value: that stranger's records are not its own.
    assert linked["/stranger"] not in (None, faulty.account)
    assert linked["/account"] != linked["/stranger"]
    # Search preferences follow the records: the visitor's search is nobody's now.
    with store.engine.connect() as conn:
        prefs = {(r[0], r[1]) for r in conn.execute(text("SELECT subject_id, term FROM search_preference"))}
    assert prefs == {(faulty.person, "cheap flights"), (b1, "late films"), (b2, "late films")}
    audit = store.scalar("SELECT count(*) FROM audit_entry WHERE action = 'subject.link'")
    assert audit == 0


def test_records_that_carry_no_cookie_are_tied_to_nobody_and_leave_their_subjects_count(portal: Portal) -> None:
    store = portal.store
    faulty = faulty_store(portal)
    f.log_records(store, faulty.person, 2, source_id=f.source(store, "/var/log/site/b.log"), path="/bare/{i}")
    _run(store)
    assert _by_path(store)["/bare"] is None
    with store.engine.connect() as conn:
        assert tally.mismatches(conn) == []  # the person's tally lost them with everything else relink moved


def test_relinking_twice_changes_nothing(portal: Portal) -> None:
    faulty_store(portal)
    first = _run(portal.store)
    before = _by_path(portal.store)
    second = _run(portal.store)
    assert first.records_relinked > 0 and first.subjects_created > 0
    counts = second.counts()
    assert counts.pop("records_read") == first.records_read
    assert set(counts.values()) == {0}, counts
    assert _by_path(portal.store) == before


def test_after_relinking_nobody_sees_anyone_elses_records(portal: Portal) -> None:
    store = portal.store
    faulty = faulty_store(portal)
    _run(store)
    # The account holder sees only their own records; the stranger's browser sees only its own.
    acc = portal.client()
    assert acc.submit("/login", {"email": "acc@example.com", "password": "violet-tractor-harbour-77"}).status_code == 303
    mine = acc.get("/my/logs").text
    assert "/stranger/" not in mine and "192.0.2.5" not in mine
    assert "weather" not in acc.get("/my/search").text
    stranger = portal.client()
    stranger.cookies.set("site_id", "w-site-id")
    theirs = stranger.get("/browser/logs").text
    assert len(re.findall(r"/stranger/\d", theirs)) == 6 and "/account/" not in theirs
    # A shared preference value shows its terms and nobody's records.
    visitor = portal.client()
    visitor.cookies.set("search_pref", "cheap+flights")
    page = visitor.get("/browser").text
    assert "cheap flights" in page and "/visitor/" not in page and "/person/" not in page
    # The account gets its own browser back by presenting its identifying cookie while logged in.
    acc.cookies.set("site_id", "acc-site-id")
    assert "We linked this browser" in acc.get("/my").text
    mine = acc.get("/my/logs").text
    assert len(re.findall(r"/account/\d", mine)) == 2 and "/stranger/" not in mine
    with store.ctx() as ctx:
        assert identity.root(ctx, faulty.account) == faulty.account


def test_a_split_off_browser_keeps_the_refusals_of_the_subject_it_left(portal: Portal) -> None:
    store = portal.store
    faulty = faulty_store(portal)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO consent (subject_id, personalization, marketing, email, updated_at)"
                          " VALUES (:s, :f, :t, :t, :at)"), {"s": faulty.mega, "f": False, "t": True, "at": store.clock.now()})  # fmt: skip
    _run(store)
    linked = _by_path(store)
    other = next(s for s in (linked["/b1"], linked["/b2"]) if s != faulty.mega)
    assert store.scalar("SELECT personalization FROM consent WHERE subject_id = :s", s=other) in (False, 0)
    assert store.scalar("SELECT count(*) FROM search_preference WHERE subject_id IN (:a, :b)", a=other, b=faulty.mega) == 0


def test_changing_whether_a_cookie_identifies_a_browser_relinks_at_once(portal: Portal) -> None:
    store = portal.store
    src = f.source(store)
    with store.ctx() as ctx:
        catalog.save(ctx, catalog.CookieForm("session_id", ("essential",), "The site's session.", "", False, ""))
    _records(store, None, {"session_id": "s-1", "search_pref": "x"}, 3, path="/s1", ip="192.0.2.9", source=src)
    _records(store, None, {"session_id": "s-2"}, 2, path="/s2", ip="192.0.2.9", source=src)
    entry = store.scalar("SELECT id FROM cookie_catalog WHERE name = 'session_id'")
    on = catalog.CookieForm("session_id", ("essential",), "The site's session.", "", True, "")
    with store.ctx() as ctx:
        relink.save_catalog_entry(ctx, on, entry)  # type: ignore[arg-type]
    linked = _by_path(store)
    assert None not in (linked["/s1"], linked["/s2"]) and linked["/s1"] != linked["/s2"]
    assert store.scalar("SELECT count(*) FROM identifier WHERE name = 'session_id' AND tied_by = 'seen'") == 2
    details = json.loads(str(store.scalar(
        "SELECT d.details FROM audit_detail d JOIN audit_entry e ON e.seq = d.seq WHERE e.action = 'catalog.update'"
        " ORDER BY e.seq DESC LIMIT 1"
    )))  # fmt: skip
    assert details["relinked"]["identifiers_created"] == 2 and details["relinked"]["records_relinked"] == 5
    with store.ctx() as ctx:
        relink.save_catalog_entry(ctx, catalog.CookieForm("session_id", ("essential",), "The site's session.", "", False, ""), entry)  # type: ignore[arg-type]
    assert _by_path(store) == {"/s1": None, "/s2": None}
    assert store.scalar("SELECT count(*) FROM identifier") == 0


def test_the_command_relinks_and_audits_its_counts(cli_env: Store) -> None:
    store = cli_env
    src = f.source(store)
    browser = f.subject(store, "browser")
    _records(store, browser, {"search_pref": "shared"}, 3, path="/v", ip="192.0.2.7", source=src)
    done = subprocess.run([sys.executable, "-m", "portal", "relink"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "records relinked: 3" in done.stdout and "records unlinked: 3" in done.stdout
    details = json.loads(str(store.scalar(
        "SELECT d.details FROM audit_detail d JOIN audit_entry e ON e.seq = d.seq WHERE e.action = 'subject.relink'"
    )))  # fmt: skip
    assert details["records_relinked"] == 3 and details["records_read"] == 3
    assert store.scalar("SELECT count(*) FROM log_record WHERE subject_id IS NOT NULL") == 0


def test_new_identifiers_record_what_tied_them(store: Store, tmp_path: Path) -> None:
    """A site event naming the user ties for good; a value only seen in log lines is re-derived."""
    events = lf.write(tmp_path / "e.jsonl", [lf.event("login", site_user_id="u-1", cookie_value="by-login", time="2026-11-01T12:00:00Z")])
    Ingest(store.factory, store.settings, store.clock, fmt="events").run([str(events)])
    log = lf.write(tmp_path / "a.log", [lf.line(cookies="site_id=by-login"), lf.line(cookies="site_id=only-seen; search_pref=x")])
    Ingest(store.factory, store.settings, store.clock).run([str(log)])
    with store.engine.connect() as conn:
        ties = {value: tie for value, tie in conn.execute(text("SELECT value, tied_by FROM identifier"))}
    assert ties == {"u-1": "event", "by-login": "event", "only-seen": "seen"}

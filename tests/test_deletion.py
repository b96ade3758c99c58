"""A deletion deletes every copy: search terms and cookie values leave no trace in any table, in the
export, or (SQLite, secure_delete on, WAL checkpointed) in the database file's bytes — and another
person with the same search terms keeps theirs."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import LargeBinary, String, Text, select, text

from portal.models import Identifier, LogRecord, metadata
from portal.models.sitedata import log_record_id
from portal.subjects import deletion, identity
from tests import sitedata_factory as f
from tests.conftest import Client, Portal
from tests.erasure_util import database_bytes
from tests.export_seed import download_link

KUNG, LATE, RIVERS = "kung fu classics", "late night films", "documentaries about rivers"
ANN_ID = "ann-site-identifier-7731"


def _forms(term: str) -> list[str]:
    """How a term can be written in stored text (compared in lower case)."""
    return [term, term.replace(" ", "+"), term.replace(" ", "%20")]


def _person(portal: Portal, email: str, site_id: str, ip: str, *, legacy: bool = True) -> tuple[Client, int]:
    """A verified person whose records carry the same search terms as anyone else's in these tests."""
    client = portal.client()
    portal.verified_user(client, email)
    subject = f.account_subject(portal.store, email)
    store = portal.store
    f.cookie(store, subject, "site_id", site_id)
    if legacy:  # a row the linking before 0006 wrote for the preference cookie: its value is the terms
        f.cookie(store, subject, "search_pref", "kung+fu+classics|late+night+films")
    for term, source in ((KUNG, "cookie"), (LATE, "cookie"), (KUNG, "referrer"), (RIVERS, "referrer")):
        f.preference(store, subject, term, source=source, engine="Google" if source == "referrer" else "")
    src = f.source(store, f"/logs/{email}")
    cookies = json.dumps({"site_id": site_id, "search_pref": "kung+fu+classics|late+night+films"}, separators=(",", ":"))
    lines = [
        ("/watch/1", "https://www.google.co.uk/search?q=kung+fu+classics&as_q=kung+fu+classics&hl=en"),
        ("/watch/2", "https://www.bing.com/search?q=documentaries+about+rivers&form=QBLH"),
        ("/search?q=Late+Night+Films&page=2", "https://site.example/"),
        ("/demo-site/watch?from_search=kung%20fu%20classics", "https://duckduckgo.com/?q=late+night+films#q=kung+fu+classics"),
        ("/plain", None),
    ]
    now = store.clock.now()
    rows = [
        {"id": log_record_id(src, n), "source_id": src, "line_no": n, "subject_id": subject, "at": now - timedelta(minutes=n),
         "ip": ip, "method": "GET", "path": path, "protocol": "HTTP/1.1", "status": 200, "bytes": 1, "referrer": ref,
         "referrer_domain": None, "user_agent": f.FIREFOX, "site": "", "cookies": cookies}
        for n, (path, ref) in enumerate(lines * 3, 1)
    ]  # fmt: skip
    with store.engine.begin() as conn:
        f.insert_records(conn, rows)
    return client, subject


def _distinct(portal: Portal, sql: str) -> set[str]:
    with portal.store.engine.connect() as conn:
        return {str(r[0]) for r in conn.execute(text(sql))}


def _text_cells(portal: Portal) -> list[tuple[str, str, dict[str, Any]]]:
    """(table, column, row) for every text or binary cell of every table."""
    found = []
    with portal.store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, String | Text | LargeBinary)]
            for row in conn.execute(select(table)):
                mapping = dict(row._mapping)
                for c in cols:
                    value = mapping[c.name]
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if value:
                        found.append((table.name, c.name, {**mapping, "_text": str(value).lower()}))
    return found


def _hits(portal: Portal, needles: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    lowered = [n.lower() for n in needles]
    return [(t, c, row) for t, c, row in _text_cells(portal) if any(n in row["_text"] for n in lowered)]


def _zip_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(name).decode("utf-8", "replace") for name in zf.namelist()).lower()


def _export(client: Client) -> str:
    r = client.get(download_link(client))
    assert r.status_code == 200
    return _zip_text(r.content)


@pytest.mark.parametrize("how", ["delete all", "personalisation off"])
def test_deleting_all_search_terms_leaves_no_copy_anywhere(portal: Portal, how: str) -> None:
    ann, me = _person(portal, "ann@example.com", ANN_ID, "192.0.2.10")
    assert _hits(portal, _forms(KUNG)) and _export(ann).count("kung+fu+classics") > 3
    prepared = download_link(ann)  # a prepared archive holds copies too
    if how == "delete all":
        assert ann.submit("/my/search/delete").status_code == 303
        assert "4 search terms deleted." in ann.get("/my/search").text
    else:
        assert ann.submit("/my/consent/personalization-off").status_code == 303
        assert "4 recorded search preferences deleted" in ann.get("/my/consent").text

    for term in (KUNG, LATE, RIVERS):
        assert _hits(portal, _forms(term)) == [], term
    # The records stay, with the copies marked as removed; the identifying cookie stays too.
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=me) == 15
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE cookies LIKE '%REDACTED%'") == 15
    assert portal.store.scalar("SELECT count(*) FROM identifier WHERE subject_id = :s", s=me) == 1
    paths = _distinct(portal, "SELECT DISTINCT path FROM log_record")
    assert "/plain" in paths and "/search?q=REDACTED&page=2" in paths
    # The prepared archive was withdrawn; a new one has none of it.
    assert ann.get(prepared).status_code == 410
    assert not list(portal.store.settings.exports_dir.glob("*.zip"))
    exported = _export(ann)
    assert ANN_ID in exported and "redacted" in exported
    for term in (KUNG, LATE, RIVERS):
        assert not any(form.lower() in exported for form in _forms(term)), term
    if portal.store.kind == "sqlite":
        raw = database_bytes(portal.store).lower()
        for term in (KUNG, LATE, RIVERS):
            for form in _forms(term):
                assert form.encode() not in raw, form
    action = "search_preference.delete_all" if how == "delete all" else "consent.personalization.off"
    details = json.loads(
        str(portal.store.scalar(
            "SELECT d.details FROM audit_detail d JOIN audit_entry e ON e.seq = d.seq WHERE e.action = :a", a=action
        ))
    )
    if how == "delete all":
        assert details == {"count": 4, "preferences": 4, "identifiers": 1, "records": 15, "exports": 1}
    else:
        assert details == {"via": "portal", "search_preferences_deleted": 4, "copies_redacted": 15, "exports_withdrawn": 1}


@pytest.mark.parametrize("values", ["few", "many"])
def test_deleting_one_term_removes_its_copies_and_keeps_the_others(
    portal: Portal, values: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if values == "many":  # more changes than one statement makes: row by row, same result
        monkeypatch.setattr(deletion, "MAX_CASE", 1)
    ann, me = _person(portal, "ann@example.com", ANN_ID, "192.0.2.10")
    kung = portal.store.scalar("SELECT min(id) FROM search_preference WHERE term = :t", t=KUNG)
    assert ann.submit(f"/my/search/{kung}/delete").status_code == 303
    assert _hits(portal, _forms(KUNG)) == []
    terms = _distinct(portal, "SELECT term FROM search_preference")
    assert terms == {LATE, RIVERS}  # both sources of the term went, the other terms stay
    cookies = _distinct(portal, "SELECT DISTINCT cookies FROM log_record")
    assert cookies == {json.dumps({"site_id": ANN_ID, "search_pref": "REDACTED|late+night+films"}, separators=(",", ":"))}
    refs = _distinct(portal, "SELECT DISTINCT referrer FROM log_record")
    assert "https://www.google.co.uk/search?q=REDACTED&as_q=REDACTED&hl=en" in refs
    assert "https://duckduckgo.com/?q=REDACTED#q=REDACTED" in refs  # every parameter of that engine
    assert "https://www.bing.com/search?q=documentaries+about+rivers&form=QBLH" in refs
    if portal.store.kind == "sqlite":
        raw = database_bytes(portal.store).lower()
        assert not any(form.encode() in raw for form in _forms(KUNG))
        assert b"documentaries+about+rivers" in raw


def test_another_person_with_the_same_terms_keeps_theirs(portal: Portal) -> None:
    ann, me = _person(portal, "ann@example.com", ANN_ID, "192.0.2.10")
    _bob, bob = _person(portal, "bob@example.com", "bob-site-identifier-0042", "192.0.2.10", legacy=False)

    def bobs() -> tuple[Any, ...]:
        with portal.store.engine.connect() as conn:
            return tuple(
                sorted(tuple(map(str, r)) for r in conn.execute(select(t).where(t.c.subject_id == bob)))
                for t in (LogRecord.__table__, Identifier.__table__, metadata.tables["search_preference"])  # type: ignore[attr-defined]
            )

    before = bobs()
    assert ann.submit("/my/search/delete").status_code == 303
    assert ann.submit("/my/cookies/delete").status_code == 303
    assert bobs() == before
    for term in (KUNG, LATE, RIVERS):
        hits = _hits(portal, _forms(term))
        assert hits and all(row.get("subject_id") == bob for _t, _c, row in hits), term
    assert _hits(portal, [ANN_ID]) == []


@pytest.mark.parametrize("which", ["one", "all"])
def test_deleting_cookie_records_removes_their_values_from_the_records(portal: Portal, which: str) -> None:
    ann, me = _person(portal, "ann@example.com", ANN_ID, "192.0.2.10")
    site_id = portal.store.scalar("SELECT id FROM identifier WHERE value = :v", v=ANN_ID)
    path = f"/my/cookies/{site_id}/delete" if which == "one" else "/my/cookies/delete"
    assert ann.submit(path).status_code == 303
    assert _hits(portal, [ANN_ID]) == []
    redacted = portal.store.scalar("SELECT count(*) FROM log_record WHERE cookies LIKE :p", p='%"site_id":"REDACTED"%')
    assert redacted == 15
    # Deleting the one record leaves the other cookie's values; deleting all takes those too.
    left = portal.store.scalar("SELECT count(*) FROM log_record WHERE cookies LIKE '%kung+fu+classics%'")
    assert left == (15 if which == "one" else 0)
    # The records remain the person's: a removed value still says an identifying cookie was there.
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=me) == 15
    with portal.store.ctx() as ctx:
        assert identity.find(ctx, "cookie", "site_id", ANN_ID) is None


def test_a_repeated_delete_from_a_second_tab_says_it_is_already_deleted(portal: Portal) -> None:
    ann, _me = _person(portal, "ann@example.com", ANN_ID, "192.0.2.10")
    kung = portal.store.scalar("SELECT min(id) FROM search_preference WHERE term = :t", t=KUNG)
    site_id = portal.store.scalar("SELECT id FROM identifier WHERE value = :v", v=ANN_ID)
    for path, listing, words in (
        (f"/my/search/{kung}/delete", "/my/search", "That search term was already deleted."),
        (f"/my/cookies/{site_id}/delete", "/my/cookies", "That cookie record was already deleted."),
    ):
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', ann.get(path).text).group(1)  # type: ignore[union-attr]
        first = ann.post(path, data={"csrf_token": token}, follow_redirects=False)
        second = ann.post(path, data={"csrf_token": token}, follow_redirects=False)  # the other tab
        assert first.status_code == second.status_code == 303
        assert second.headers["location"] == listing
        page = ann.get(listing).text
        assert words in page and "Page not found" not in page

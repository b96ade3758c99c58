"""Finding a person and looking at their data: every lookup and every view is an audit entry naming
the staff member and the reason they typed; an IP address only ever lists candidate records."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text

from portal.models import SiteAccount
from portal.subjects import identity
from tests import sitedata_factory as f
from tests.conftest import Client, Portal, Store
from tests.request_util import account_subject, request_in
from tests.staff_util import staff

A = "alice@example.org"
WHY = "Phone call from the person, ticket 4711"


def _audit(store: Store, action: str) -> list[tuple[str, str | None, dict]]:
    """(actor, subject pseudonym, details) of every entry of `action`."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.actor, e.subject_ref, d.details FROM audit_entry e JOIN audit_detail d ON d.seq = e.seq "
                "WHERE e.action = :a ORDER BY e.seq"
            ),
            {"a": action},
        ).all()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def _ref(store: Store, subject_id: int) -> str:
    from portal import audit

    return audit.subject_ref(store.settings.secret_key, subject_id)  # type: ignore[return-value]


def _look(client: Client, by: str, value: str, reason: str = WHY) -> object:
    return client.submit("/staff/subjects", {"by": by, "value": value, "reason": reason})


def test_lookups_by_each_identifier_find_the_person_and_are_audited_with_the_reason(portal: Portal) -> None:
    agent, me = staff(portal, "agent@example.org")
    alice = account_subject(portal.store, A)
    site = f.subject(portal.store, "site")
    with portal.store.engine.begin() as conn:
        now = portal.store.clock.now()
        digest = identity.email_hash(portal.store.settings.secret_key, "carol@example.org")
        conn.execute(SiteAccount.__table__.insert().values(  # type: ignore[attr-defined]
            site_user_id="u-991", email_hash=digest, subject_id=site, created_at=now, updated_at=now))  # fmt: skip
    with portal.store.ctx() as ctx:
        identity.attach(ctx, "site_user", "", "u-991", site, at=now, reason="test", tied_by="event")
    f.cookie(portal.store, alice, portal.store.settings.id_cookie, "c0ffee-1234")
    request_id = request_in(portal.store, alice, "access", "received")

    cases = [
        ("email", "  Alice@Example.org ", alice), ("email", "carol@example.org", site),
        ("site_user", "u-991", site), ("cookie", "c0ffee-1234", alice), ("request", str(request_id), alice),
    ]  # fmt: skip
    for by, value, subject in cases:
        r = _look(agent, by, value)
        assert r.status_code == 200 and f'href="/staff/subjects/{subject}"' in r.text, (by, value)  # type: ignore[attr-defined]
        if by != "request":  # the value looked up is not echoed back into the page
            assert value.strip() not in r.text  # type: ignore[attr-defined]
    nobody = _look(agent, "email", "nobody@example.org")
    assert "Nobody found" in nobody.text  # type: ignore[attr-defined]

    entries = _audit(portal.store, "staff.lookup")
    assert len(entries) == len(cases) + 1
    assert all(actor == f"account:{me}" and d["reason"] == WHY for actor, _ref_, d in entries)
    assert [d["by"] for *_, d in entries] == [by for by, *_ in cases] + ["email"]
    assert [ref for _a, ref, _d in entries] == [_ref(portal.store, s) for *_, s in cases] + [None]
    dumped = json.dumps([d for *_, d in entries])
    assert "carol@example.org" not in dumped and "c0ffee" not in dumped and "nobody@" not in dumped


def test_a_lookup_needs_a_reason(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    account_subject(portal.store, A)
    r = _look(agent, "email", A, reason="  ")
    assert r.status_code == 400 and "Say why" in r.text  # type: ignore[attr-defined]
    assert _audit(portal.store, "staff.lookup") == []


def test_an_ip_address_lists_only_candidate_records_of_one_day_and_names_nobody(portal: Portal) -> None:
    agent, me = staff(portal, "agent@example.org")
    alice = account_subject(portal.store, A)
    source = f.source(portal.store)
    now = portal.store.clock.now()
    f.log_records(portal.store, alice, 3, source_id=source, ip="203.0.113.9", newest=now - timedelta(minutes=5),
                  path="/alice/{i}")  # fmt: skip
    f.log_records(portal.store, None, 2, source_id=source, ip="203.0.113.9", newest=now - timedelta(minutes=1),
                  path="/stranger/{i}")  # fmt: skip
    f.log_records(portal.store, None, 1, source_id=source, ip="203.0.113.9", newest=now - timedelta(days=3),
                  path="/old/{i}")  # fmt: skip
    day = (now - timedelta(minutes=5)).date().isoformat()
    r = agent.submit("/staff/subjects/ip", {"ip": "203.0.113.9", "day": day, "reason": WHY})
    assert r.status_code == 200
    assert "never proves who someone is" in r.text and "cannot be attached to a person" in r.text
    assert r.text.count("/alice/") == 3 and r.text.count("/stranger/") == 2 and "/old/" not in r.text
    assert "/staff/subjects/" + str(alice) not in r.text and "Subject no." not in r.text
    assert "attach" not in r.text.lower().replace("cannot be attached", "")
    [(actor, ref, details)] = _audit(portal.store, "staff.lookup.ip")
    assert actor == f"account:{me}" and ref is None and details["reason"] == WHY and details["found"] == 5
    assert "203.0.113.9" not in json.dumps(details)
    bad = agent.submit("/staff/subjects/ip", {"ip": "my neighbour", "day": day, "reason": WHY})
    assert bad.status_code == 400 and "IPv4 or IPv6" in bad.text


def test_a_persons_data_shows_counts_and_rows_only_after_a_reason(portal: Portal) -> None:
    agent, me = staff(portal, "agent@example.org")
    alice = account_subject(portal.store, A)
    f.log_records(portal.store, alice, 4, source_id=f.source(portal.store), path="/secret-show/{i}")
    f.preference(portal.store, alice, "night trains")
    page = agent.get(f"/staff/subjects/{alice}")
    assert page.status_code == 200 and "night trains" not in page.text and "/secret-show/" not in page.text
    assert '<th scope="row">Access-log records</th><td class="num">4</td>' in page.text
    path = f"/staff/subjects/{alice}/show"
    r = agent.submit(path, {"category": "log_records", "reason": ""}, form_page=f"/staff/subjects/{alice}")
    assert r.status_code == 400 and "/secret-show/" not in r.text
    r = agent.submit(path, {"category": "log_records", "reason": WHY}, form_page=f"/staff/subjects/{alice}")
    assert r.status_code == 200 and r.text.count("/secret-show/") == 4
    r = agent.submit(path, {"category": "account", "reason": WHY}, form_page=f"/staff/subjects/{alice}")
    assert A in r.text and "argon2" not in r.text and "password_hash" not in r.text
    entries = _audit(portal.store, "staff.view.data")
    assert [(a, ref, d["category"], d["reason"]) for a, ref, d in entries] == [
        (f"account:{me}", _ref(portal.store, alice), "log_records", WHY),
        (f"account:{me}", _ref(portal.store, alice), "account", WHY),
    ]
    assert agent.get("/staff/subjects/987654").status_code == 404

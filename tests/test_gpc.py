"""Global Privacy Control: `Sec-GPC: 1` from a logged-in user turns marketing use off, once."""

from __future__ import annotations

import json

from tests.conftest import Portal
from tests.consent_util import audit_rows, consent_row, user

GPC = {"Sec-GPC": "1"}
NOTE = "Global Privacy Control detected and honoured"


def test_signal_is_honoured_once_recorded_and_shown(portal: Portal) -> None:
    client, subject = user(portal, "gail@example.com")
    assert NOTE not in client.get("/my/consent").text
    assert consent_row(portal, subject) is None

    page = client.get("/my/consent", headers=GPC)
    assert page.status_code == 200 and NOTE in page.text
    assert consent_row(portal, subject) == (True, False, True)
    [(seq, action, actor, details)] = audit_rows(portal, "consent.marketing")
    assert action == "consent.marketing.off" and json.loads(details) == {"via": "gpc"}
    assert actor.startswith("account:")
    assert f'href="/my/receipts/{seq}"' in page.text  # the receipt of what this very request did
    assert "Global Privacy Control signal" in page.text  # in the history: how it changed

    # Every later request carries the signal too: nothing more is written.
    for path in ("/my/consent", "/account", "/my/receipts", "/my/consent"):
        assert client.get(path, headers=GPC).status_code == 200
    assert len(audit_rows(portal, "consent.")) == 1
    assert portal.store.scalar("SELECT count(*) FROM consent_event WHERE subject_id = :s", s=subject) == 1
    assert NOTE in client.get("/my/consent", headers=GPC).text


def test_signal_from_anyone_not_logged_in_changes_nothing(portal: Portal) -> None:
    anon = portal.client()
    assert anon.get("/", headers=GPC).status_code == 200
    assert anon.get("/my/consent", headers=GPC, follow_redirects=False).status_code == 303
    assert portal.store.scalar("SELECT count(*) FROM consent") == 0
    assert audit_rows(portal, "consent.") == []


def test_other_values_are_not_the_signal(portal: Portal) -> None:
    client, subject = user(portal, "hugo@example.com")
    for value in ("0", "", "yes"):
        assert NOTE not in client.get("/my/consent", headers={"Sec-GPC": value}).text
    assert consent_row(portal, subject) is None


def test_an_explicit_opt_in_after_the_signal_is_respected(portal: Portal) -> None:
    client, subject = user(portal, "iris@example.com")
    client.get("/account", headers=GPC)
    assert consent_row(portal, subject) == (True, False, True)
    token = client.csrf("/my/consent")
    r = client.post("/my/consent", data={"csrf_token": token, "field": "marketing", "value": "on"},
                    headers=GPC, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    for _ in range(2):
        client.get("/my/consent", headers=GPC)
    assert consent_row(portal, subject) == (True, True, True)
    assert [a[1] for a in audit_rows(portal, "consent.")] == ["consent.marketing.off", "consent.marketing.on"]

"""Merging subjects keeps every refusal, moves the consent history, honours old links and exports
everything recorded about the merged-away subjects (each test fails on a bug a mutation run planted)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal.audit import subject_ref
from portal.subjects import consent, identity
from tests import sitedata_factory as f
from tests.conftest import Portal, Store
from tests.consent_util import user
from tests.export_oracle import owned_rows
from tests.export_seed import export_zip

FIELDS = ("personalization", "marketing", "email")


def _state(store: Store, subject: int) -> tuple[Any, ...]:
    with store.ctx() as ctx:
        row = consent.state(ctx, subject)
        return tuple(bool(getattr(row, name)) for name in FIELDS)


@pytest.mark.parametrize("refused_by", ["survivor", "merged-away"])
@pytest.mark.parametrize("field", FIELDS)
def test_a_refusal_on_either_side_survives_the_merge(store: Store, field: str, refused_by: str) -> None:
    account, browser = f.subject(store, "account"), f.subject(store, "browser")
    with store.ctx() as ctx:
        consent.set_choice(ctx, account if refused_by == "survivor" else browser, field, False, via="portal")
        # The other side made explicit choices too, all of them "yes".
        for name in FIELDS:
            consent.set_choice(ctx, browser if refused_by == "survivor" else account, name, True, via="portal")
    with store.ctx() as ctx:
        assert identity.merge(ctx, account, browser, "test") == account
    expected = tuple(name != field for name in FIELDS)
    assert _state(store, account) == expected
    assert store.scalar("SELECT count(*) FROM consent WHERE subject_id = :s", s=browser) == 0


def test_the_consent_history_moves_to_the_survivor_and_a_gpc_opt_out_still_holds(store: Store) -> None:
    account, browser = f.subject(store, "account"), f.subject(store, "browser")
    with store.ctx() as ctx:
        consent.set_choice(ctx, account, "marketing", True, via="portal")
        consent.set_choice(ctx, account, "email", False, via="portal")
    store.clock.advance(minutes=5)
    with store.ctx() as ctx:
        assert consent.honour_gpc(ctx, browser).changed  # that browser sent Sec-GPC: 1
    store.clock.advance(minutes=5)
    with store.ctx() as ctx:
        identity.merge(ctx, account, browser, "test")
    with store.ctx() as ctx:
        history = [(e.subject_id, e.field, e.value, e.via) for e in consent.history(ctx, account)]
        assert ("marketing", False, "gpc") in [h[1:] for h in history]
        assert {h[0] for h in history} == {account}
        assert consent.history(ctx, browser) == []
    assert _state(store, account) == (True, False, False)
    entries = store.scalar("SELECT count(*) FROM audit_entry")
    with store.ctx() as ctx:  # the signal again, on the merged subject: still off, nothing new written
        assert not consent.honour_gpc(ctx, account).changed
    assert store.scalar("SELECT count(*) FROM audit_entry") == entries
    assert _state(store, account) == (True, False, False)


def test_one_click_unsubscribe_with_a_merged_away_subjects_token_acts_on_the_survivor(portal: Portal) -> None:
    _client, account = user(portal, "una@example.com")
    browser = f.subject(portal.store, "browser")
    token = consent.unsubscribe_token(portal.store.settings, browser)  # mailed before the merge
    with portal.store.ctx() as ctx:
        identity.merge(ctx, account, browser, "test")
    stranger = portal.client()
    assert "Unsubscribe from promotional email?" in stranger.get(f"/unsubscribe/{token}").text
    assert stranger.post(f"/unsubscribe/{token}", follow_redirects=False).status_code == 303
    assert _state(portal.store, account) == (True, True, False)
    for table in ("consent", "consent_event"):
        assert portal.store.scalar(f"SELECT count(*) FROM {table} WHERE subject_id = :s", s=browser) == 0, table
    assert portal.store.scalar("SELECT count(*) FROM consent_event WHERE subject_id = :s", s=account) == 1


def test_the_export_of_a_merged_subject_holds_the_audit_entries_about_the_merged_away_ones(portal: Portal) -> None:
    client, account = user(portal, "max@example.com")
    store = portal.store
    first, second = f.subject(store, "browser"), f.subject(store, "browser")
    with store.ctx() as ctx:  # things recorded about each browser while it was on its own
        consent.set_choice(ctx, first, "marketing", False, via="portal")
        consent.set_choice(ctx, second, "email", False, via="portal")
        identity.merge(ctx, second, first, "cookies seen together in one request")  # first joins second …
    with store.ctx() as ctx:
        identity.merge(ctx, account, second, "site_id cookie presented while logged in")  # … then the account
    data = json.loads(export_zip(portal, client).read("data.json"))
    rows = data["observed"]["audit_entries"]["rows"]
    # The oracle walks subject.merged_into_id itself: every entry about a subject that ends in the account.
    expected = [r["seq"] for r in owned_rows(store, "audit_entry", account) if r["action"] != "export.download"]
    assert sorted(r["seq"] for r in rows) == sorted(expected)
    exported_refs = {r["seq"]: r for r in owned_rows(store, "audit_entry", account)}
    for browser in (first, second):  # one of them joined the account only through the other
        ref = subject_ref(store.settings.secret_key, browser)
        assert any(exported_refs[r["seq"]]["subject_ref"] == ref for r in rows), browser
    assert {"consent.marketing.off", "consent.email.off", "subject.link", "login.ok"} <= {r["action"] for r in rows}
    # And both links that explain it.
    assert sorted(r["merged_id"] for r in data["observed"]["subject_links"]["rows"]) == sorted([first, second])

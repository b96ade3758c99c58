"""The unhandled 500s the attack run found, each now a clean 4xx (the property walk in
test_no_server_errors.py closes the class; these pin the cases that were seen)."""

from __future__ import annotations

import base64
import json
import re

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal import audit
from portal.accounts import accounts
from portal.audit.receipts import build_receipt
from portal.models import MAX_BIGINT, MAX_INTEGER
from portal.web import BigIdConvertor, IdConvertor
from tests.conftest import STRONG_PASSWORD, Client, Portal

USER = "ursula@example.com"


def _admin(portal: Portal) -> Client:
    with portal.store.ctx() as ctx:
        accounts.add_staff(ctx, "admin@example.com", "admin", STRONG_PASSWORD)
    c = portal.client()
    assert c.submit("/login", {"email": "admin@example.com", "password": STRONG_PASSWORD}).status_code == 303
    secret = c.get("/login/mfa").text.split('id="totp-secret">')[1].split("<")[0]
    code = pyotp.TOTP(secret).at(portal.store.clock.now())
    assert c.submit("/login/mfa", {"code": code}).status_code == 200  # enrolled: recovery codes shown
    return c


def test_log_filters_and_cursors_past_every_limit_are_refused_or_ignored(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, USER)
    for path in ("/my/logs", "/my/logs/activity"):
        for query in ({"to": "9999-12-31"}, {"from": "9999-12-31"}, {"from": "0001-01-01", "to": "0001-01-01"},
                      {"after": "0.9223372036854775808"}, {"after": "99999999999999999999.1"},
                      {"after": "-9223372036854775809.-1"}):  # fmt: skip
            r = c.get(path, params=query)
            assert r.status_code in (200, 400), (path, query, r.status_code)
            assert "Something went wrong" not in r.text
    r = c.get("/my/logs", params={"to": "9999-12-31"})
    assert r.status_code == 200 and "Enter a date between" in r.text  # said next to the field


def test_ids_too_large_for_the_store_are_404(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, USER)
    for path in ("/my/cookies/99999999999999999999999/delete", "/my/search/99999999999999999999999/delete",
                 "/my/cookies/2147483648/delete", "/my/search/2147483648/delete",  # past PostgreSQL's INTEGER
                 "/my/receipts/99999999999999999999999", "/my/receipts/9223372036854775808.json"):  # fmt: skip
        assert c.get(path).status_code == 404, path
    assert c.submit("/my/cookies/99999999999999999999999/delete", form_page="/my/cookies").status_code == 404
    admin = _admin(portal)
    assert admin.get("/staff/cookies/catalog/99999999999999999999999").status_code == 404
    assert admin.get("/staff/cookies/catalog/2147483648").status_code == 404
    assert admin.submit("/staff/cookies/catalog/2147483647", {"description": "x"}, form_page="/staff").status_code == 404


def test_a_huge_quarantine_cursor_is_a_first_page(portal: Portal) -> None:
    admin = _admin(portal)
    for before in ("999999999999999999", "9007199254740993", "2147483648", "-1", "1e9", "\u00b2", "\uff11"):
        r = admin.get("/staff/ingest/quarantine", params={"before": before})
        assert r.status_code == 200, before
        assert admin.get("/staff/ingest/runs", params={"before": before}).status_code == 200


def test_unsubscribe_links_with_non_ascii_are_invalid_links(portal: Portal) -> None:
    for path in ("/unsubscribe/1.%C3%A9", "/unsubscribe/%C3%A9.x", "/unsubscribe/1.%00", "/unsubscribe/%EF%BC%91.x"):
        for method in ("GET", "POST"):
            r = portal.client().request(method, path, data={"List-Unsubscribe": "One-Click"})
            assert r.status_code == 400 and "not valid" in r.text, (method, path)


def test_the_receipt_checker_refuses_hostile_json_cleanly(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, USER)
    with portal.store.ctx() as ctx:
        receipt = build_receipt(ctx, 2)
    deep = "[" * 20000 + "]" * 20000
    hostile = [
        "[" * 30000,
        json.dumps(receipt).replace(f'"seq": {receipt["seq"]}', '"seq": Infinity'),
        json.dumps(receipt | {"seq": 1e308, "leaf_index": float("nan")}),
        json.dumps(receipt | {"tree_size": 10**400}),
        json.dumps(receipt | {"canonical": base64.b64encode(deep.encode()).decode()}),
        json.dumps(receipt | {"inclusion_proof": ["zz"] * 3}),
        json.dumps(receipt | {"checkpoint": {"body": "x\n" * 3, "signature": "", "key_id": "1"}}),
        json.dumps(receipt | {"checkpoint": receipt["checkpoint"] | {"body": "o\n" + "9" * 5000 + "\nAA==\nt\n"}}),
        json.dumps([receipt]),
    ]
    for text in hostile:
        r = c.submit("/receipts/verify", {"receipt": text})
        assert r.status_code == 200 and ("not valid" in r.text or "not a receipt" in r.text), text[:80]
    token = c.csrf("/receipts/verify")
    upload = c.post("/receipts/verify", data={"csrf_token": token},
                    files={"receipt_file": ("r.json", b"[" * 30000, "application/json")})  # fmt: skip
    assert upload.status_code == 200 and "not a receipt" in upload.text
    # The real receipt still checks out.
    ok = c.submit("/receipts/verify", {"receipt": json.dumps(receipt)})
    assert "The receipt is valid" in ok.text
    assert audit  # the entries above were written by the real flow


@given(st.integers(min_value=0, max_value=10**25))
def test_int_path_parameters_match_only_what_the_store_holds(n: int) -> None:
    for convertor, bound in ((IdConvertor, MAX_INTEGER), (BigIdConvertor, MAX_BIGINT)):
        matched = re.fullmatch(f"(?:{convertor.regex})", str(n)) is not None
        assert matched == (n <= bound), (convertor.__name__, n)


@pytest.mark.parametrize("path", ["/login", "/register", "/password/forgot"])
def test_a_nul_character_in_a_form_is_a_clear_refusal_not_a_server_error(portal: Portal, path: str) -> None:
    """PostgreSQL refuses NUL in any string: it used to surface as a 500 from the login query."""
    c = portal.client()
    r = c.submit(path, {"email": "nul\x00@example.com", "password": "x\x00" + STRONG_PASSWORD})
    assert r.status_code in (200, 303, 400), r.status_code
    assert "Internal Server Error" not in r.text

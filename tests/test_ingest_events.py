"""Site events as JSON lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from portal.ingest.events import AccountEvent, CookieSetEvent, EmailSentEvent, LoginEvent
from portal.ingest.formats import event_parser, parse_one
from portal.ingest.rejections import Rejection

parse = event_parser()


def ev(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_each_event_type() -> None:
    assert parse(ev(type="account", site_user_id=42, email="a@example.org", adult_verified=True)) == (
        AccountEvent("42", "a@example.org", True)
    )
    assert parse(
        ev(
            type="cookie_set",
            name="search_pref",
            value="cheap+flights",
            site_user_id="u1",
            time="2024-05-01T10:00:00Z",
            expires="2024-11-01T10:00:00+02:00",
        )
    ) == CookieSetEvent(
        "search_pref",
        "cheap+flights",
        datetime(2024, 5, 1, 10, tzinfo=UTC),
        datetime(2024, 11, 1, 8, tzinfo=UTC),
        "u1",
    )
    assert parse(ev(type="login", site_user_id="u1", cookie_value="abc", time=1714557600)) == LoginEvent(
        "u1", "abc", datetime(2024, 5, 1, 10, tzinfo=UTC)
    )
    assert parse(
        ev(type="email_sent", email="a@example.org", list="news", campaign="may", time="2024-05-01T10:00:00Z")
    ) == EmailSentEvent("a@example.org", "news", "may", datetime(2024, 5, 1, 10, tzinfo=UTC))


def test_cookie_set_without_user_or_expiry() -> None:
    e = parse(ev(type="cookie_set", name="site_id", value="v", time="2024-05-01T10:00:00Z"))
    assert isinstance(e, CookieSetEvent) and e.site_user_id is None and e.expires_at is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"type": "party"}, "bad_event"),
        ({"site_user_id": "u1"}, "missing_field"),
        ({"type": "account", "email": "a@example.org", "adult_verified": True}, "missing_field"),
        ({"type": "account", "site_user_id": "u", "email": "nobody", "adult_verified": True}, "bad_field"),
        (
            {"type": "account", "site_user_id": "u", "email": "a@example.org", "adult_verified": "maybe"},
            "bad_field",
        ),
        ({"type": "account", "site_user_id": "u", "email": "a@example.org"}, "missing_field"),
        ({"type": "cookie_set", "name": "x", "value": "v"}, "missing_field"),
        ({"type": "cookie_set", "name": "x", "value": "v", "time": "2024-05-01"}, "bad_time"),
        ({"type": "login", "site_user_id": "u", "cookie_value": "a\u0000b"}, "binary"),
        ({"type": "login", "site_user_id": {"id": 1}, "cookie_value": "v"}, "bad_field"),
        ({"type": "login", "site_user_id": "u", "cookie_value": "v" * 9000}, "field_too_long"),
    ],
)
def test_event_rejections(fields: dict[str, object], reason: str) -> None:
    result = parse_one(parse, ev(**fields))
    assert isinstance(result, Rejection) and result.reason == reason, result


def test_non_json_event_line() -> None:
    result = parse_one(parse, b"account u1 a@example.org")
    assert isinstance(result, Rejection) and result.reason == "bad_json"

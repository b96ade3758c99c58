"""Site events as JSON lines: who has an account, which cookie was set, who logged in, what was mailed.

{"type": "account", "site_user_id": "u42", "email": "a@example.org", "adult_verified": true}
{"type": "cookie_set", "name": "search_pref", "value": "…", "site_user_id": "u42",
 "time": "2024-05-01T10:00:00Z", "expires": "2024-11-01T10:00:00Z"}
{"type": "login", "site_user_id": "u42", "cookie_value": "…", "time": "…"}
{"type": "email_sent", "email": "a@example.org", "list": "news", "campaign": "may", "time": "…"}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.ingest.jsonaccess import load_object, text_or_none
from portal.ingest.rejections import DEFAULT_LIMITS, Limits, LineRejected
from portal.ingest.times import any_time
from portal.models.sitedata import Identifier, PromoEmail, SiteAccount, column_chars


@dataclass(frozen=True, slots=True)
class AccountEvent:
    site_user_id: str
    email: str
    adult_verified: bool
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class CookieSetEvent:
    name: str
    value: str
    set_at: datetime
    expires_at: datetime | None = None
    site_user_id: str | None = None


@dataclass(frozen=True, slots=True)
class LoginEvent:
    site_user_id: str
    cookie_value: str
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class EmailSentEvent:
    email: str
    list: str
    campaign: str
    time: datetime


Event = AccountEvent | CookieSetEvent | LoginEvent | EmailSentEvent
# The sizes of the columns these are stored in.
USER_ID_CHARS = column_chars(SiteAccount, "site_user_id")
COOKIE_NAME_CHARS = column_chars(Identifier, "name")
LIST_CHARS, CAMPAIGN_CHARS = column_chars(PromoEmail, "list"), column_chars(PromoEmail, "campaign")
EVENT_TYPES = ("account", "cookie_set", "login", "email_sent")


class _Fields:
    """Typed access to one event object's keys, each failure a rejection naming the key."""

    def __init__(self, obj: dict[str, Any], max_chars: int) -> None:
        self.obj, self.max_chars = obj, max_chars

    def _raw(self, keys: tuple[str, ...]) -> Any:
        return next((self.obj[k] for k in keys if self.obj.get(k) is not None), None)

    def text(self, *keys: str, required: bool = True, limit: int | None = None) -> str | None:
        """A string; `limit` is the size of the column it is stored in, if smaller than any field's."""
        value = text_or_none(self._raw(keys), keys[0])
        if value is None and required:
            raise LineRejected("missing_field", f"no {keys[0]}")
        most = min(self.max_chars, limit or self.max_chars)
        if value is not None and len(value) > most:
            raise LineRejected("field_too_long", f"{keys[0]} has {len(value)} characters (limit {most})")
        return value

    def need(self, *keys: str, limit: int | None = None) -> str:
        value = self.text(*keys, limit=limit)
        if value is None:  # unreachable: text() raised; keeps the type exact
            raise LineRejected("missing_field", f"no {keys[0]}")
        return value

    def email(self, *keys: str) -> str:
        value = self.need(*keys).strip()
        local, at, domain = value.rpartition("@")
        if not at or not local or "." not in domain or any(c.isspace() for c in value):
            raise LineRejected("bad_field", f"{keys[0]} is not an email address")
        return value

    def time(self, *keys: str, required: bool = True) -> datetime | None:
        value = self._raw(keys)
        if value is None:
            if required:
                raise LineRejected("missing_field", f"no {keys[0]}")
            return None
        return any_time(value)

    def need_time(self, *keys: str) -> datetime:
        value = self._raw(keys)
        if value is None:
            raise LineRejected("missing_field", f"no {keys[0]}")
        return any_time(value)

    def flag(self, *keys: str) -> bool:
        value = self._raw(keys)
        if value in (True, 1, "true", "1", "yes"):
            return True
        if value in (False, 0, "false", "0", "no"):
            return False
        raise LineRejected("missing_field" if value is None else "bad_field", f"{keys[0]} is not true/false")


def make_parser(limits: Limits = DEFAULT_LIMITS) -> Callable[[bytes], Event]:
    def parse(raw: bytes) -> Event:
        obj = load_object(raw, limits)
        kind = obj.get("type", obj.get("event"))
        if kind is None:
            raise LineRejected("missing_field", "no type")
        f = _Fields(obj, limits.max_field_chars)
        if kind == "account":
            return AccountEvent(
                f.need("site_user_id", "user_id", limit=USER_ID_CHARS),
                f.email("email"),
                f.flag("adult_verified", "verified_adult"),
                f.time("time", "timestamp", required=False),
            )
        if kind == "cookie_set":
            return CookieSetEvent(
                f.need("name", "cookie", "cookie_name", limit=COOKIE_NAME_CHARS),
                f.need("value", "cookie_value"),
                f.need_time("time", "set_at", "timestamp"),
                f.time("expires", "expires_at", "expiry", required=False),
                f.text("site_user_id", "user_id", required=False, limit=USER_ID_CHARS),
            )
        if kind == "login":
            return LoginEvent(
                f.need("site_user_id", "user_id", limit=USER_ID_CHARS),
                f.need("cookie_value", "id_cookie", "value"),
                f.time("time", "timestamp", required=False),
            )
        if kind == "email_sent":
            sent = f.need_time("time", "sent_at", "timestamp")
            return EmailSentEvent(
                f.email("email"),
                f.need("list", limit=LIST_CHARS),
                f.need("campaign", limit=CAMPAIGN_CHARS),
                sent,
            )
        raise LineRejected("bad_event", f"unknown event type {str(kind)[:40]!r}")

    return parse

"""Finding the subject a person is, from what they tell support: their email address (exact, through
the accounts and the keyed hashes of site accounts), their site user id, the value of an identifying
cookie, or a request number. Every lookup is an audit entry naming the staff member and their reason
(one per subject found, so each person's log shows it; one without a subject when none is found).
The value looked up is not recorded: a miss would otherwise keep it forever.

An IP address is never an identifier (DESIGN.md §2): a search by address only lists candidate log
records of one day, shared by everyone behind that address, and never names or links a subject.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from portal import audit
from portal.accounts import accounts
from portal.backoffice.dossier import reason_of
from portal.core.context import Ctx
from portal.core.errors import ValidationError
from portal.models import Account, LogRecord, SiteAccount
from portal.models.requests import DataRequest
from portal.subjects import catalog, identity
from portal.subjects.useragents import describe_user_agent

KINDS = {
    "email": "Email address",
    "site_user": "Site user id",
    "cookie": "Identification cookie value",
    "request": "Request number",
}
MAX_VALUE = 512
IP_ROWS = 100


@dataclass(frozen=True)
class Found:
    subject_id: int
    how: str  # what matched, in words


def _by_email(ctx: Ctx, raw: str) -> list[Found]:
    try:
        email = accounts.normalize_email(raw)
    except ValidationError as exc:
        raise ValidationError(str(exc), "value") from None
    out = []
    account = accounts.by_email(ctx, email)
    if account is not None:
        out.append(Found(account.subject_id, "portal account with this email address"))
    digest = identity.email_hash(ctx.settings.secret_key, email)
    for subject_id in ctx.session.scalars(
        select(col(SiteAccount.subject_id)).where(col(SiteAccount.email_hash) == digest)
    ):
        out.append(Found(subject_id, "site account with this email address"))
    return out


def _by_site_user(ctx: Ctx, value: str) -> list[Found]:
    found = identity.find(ctx, "site_user", "", value)
    return [Found(found.subject_id, "site user id")] if found else []


def _by_cookie(ctx: Ctx, value: str) -> list[Found]:
    names = {c.name for c in catalog.load(ctx).cookies if c.identifies_browser} | {ctx.settings.id_cookie}
    out = []
    for name in sorted(names):
        found = identity.find(ctx, "cookie", name, value)
        if found is not None:
            out.append(Found(found.subject_id, f"value of the {name} cookie"))
    return out


def _by_request(ctx: Ctx, value: str) -> list[Found]:
    number = value.lstrip("#").removeprefix("no.").strip()
    if not (number.isdigit() and 0 < int(number) < 2**31):
        raise ValidationError("A request number is a whole number, like 1234.", "value")
    stmt = select(col(DataRequest.subject_id)).where(col(DataRequest.id) == int(number))
    subject_id = ctx.session.scalar(stmt)
    return [Found(subject_id, f"request no. {int(number)}")] if subject_id is not None else []


_FINDERS = {"email": _by_email, "site_user": _by_site_user, "cookie": _by_cookie, "request": _by_request}


def lookup(ctx: Ctx, by: str, raw_value: str, raw_reason: str) -> list[Found]:
    """The subjects `raw_value` identifies (merged subjects as the one they joined), audited."""
    if by not in _FINDERS:
        raise ValidationError("Choose what to look up by.", "by")
    value = raw_value.strip()
    if not value or len(value) > MAX_VALUE:
        raise ValidationError("Enter what to look up.", "value")
    reason = reason_of(raw_reason)
    found: dict[int, Found] = {}
    for hit in _FINDERS[by](ctx, value):
        root = identity.root(ctx, hit.subject_id)
        found.setdefault(root, Found(root, hit.how))
    results = list(found.values())
    details = {"by": by, "reason": reason, "found": len(results)}
    subjects: list[int | None] = [hit.subject_id for hit in results]
    for subject_id in subjects or [None]:
        audit.record(ctx, "staff.lookup", subject_id=subject_id, details=details)
    return results


@dataclass(frozen=True)
class Candidate:
    """A log record an address appears in: no subject, no cookies, nothing that ties it to anyone."""

    at: datetime
    method: str | None
    path: str | None
    status: int
    referrer_domain: str | None
    browser: str


def ip_candidates(ctx: Ctx, raw_ip: str, raw_day: str, raw_reason: str) -> tuple[list[Candidate], bool]:
    """Log records of one day (in the request time zone) from one address, audited; (rows, more)."""
    try:
        address = str(ipaddress.ip_address(raw_ip.strip()))
    except ValueError:
        raise ValidationError("Enter an IPv4 or IPv6 address, like 203.0.113.7.", "ip") from None
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise ValidationError("Choose the day of the visit.", "day") from None
    reason = reason_of(raw_reason)
    tz = ZoneInfo(ctx.settings.request_time_zone)
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    rows = ctx.session.execute(
        select(
            col(LogRecord.at), col(LogRecord.method), col(LogRecord.path), col(LogRecord.status),
            col(LogRecord.referrer_domain), col(LogRecord.user_agent),
        )
        .where(col(LogRecord.at) >= start, col(LogRecord.at) < start + timedelta(days=1))
        .where(col(LogRecord.ip) == address)
        .order_by(col(LogRecord.at), col(LogRecord.id))
        .limit(IP_ROWS + 1)
    ).all()  # fmt: skip
    found = [Candidate(r[0], r[1], r[2], r[3], r[4], describe_user_agent(r[5])) for r in rows[:IP_ROWS]]
    details = {"by": "ip", "day": day.isoformat(), "reason": reason, "found": len(found)}
    audit.record(ctx, "staff.lookup.ip", details=details)
    return found, len(rows) > IP_ROWS


def account_of(ctx: Ctx, subject_id: int) -> Account | None:
    return ctx.session.scalar(select(Account).where(col(Account.subject_id) == subject_id))

"""index.html of the download reads like a report: human column names, times in the person's time zone,
user agents as browser and system, audit actions in words, and where each kind of data came from.

Only the page changes: data.json and the CSV files keep the raw column names and values (ISO 8601
UTC times, whole user-agent strings, action codes), which programs and tests/export_oracle.py read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from portal.audit.actions import words as action_words
from portal.subjects.useragents import describe_user_agent

# A table longer than this is folded behind its count (<details>): the page stays a page to read.
OPEN_ROWS = 10
UTC = ZoneInfo("UTC")

# Where each kind of data came from, in a sentence (what it is: the registry's description).
SOURCES = {
    "account": "You gave it when you registered on this portal and when you changed your settings.",
    "consent": "You set these choices on this portal, on the site, by an email link or through your "
    "browser's Global Privacy Control signal.",
    "consent_history": "This portal wrote a line each time one of your choices changed, and by what means.",
    "requests": "You (or someone acting for you) filed these requests on this portal.",
    "identifiers": "From the cookies your browser sent to the site and the site's own account events, read "
    "from its logs by this portal.",
    "site_accounts": "From the site's account events, read by this portal.",
    "log_records": "From the site's web server access logs: one line for each page your browser asked for.",
    "search_preferences": "From the site's search-preference cookie and from the search engine addresses "
    "that sent you to the site.",
    "promo_emails": "From the site's mailing records.",
    "subject_links": "This portal wrote a line each time it joined records that turned out to be yours.",
    "exports": "This portal recorded each download of your data that you prepared.",
    "request_timeline": "This portal and its staff wrote these lines as your requests moved on.",
    "mail": "This portal's outgoing mail queue.",
    "audit_entries": "This portal's tamper-evident audit log: one entry for each action about you.",
}
_ORIGIN = {
    "provided": "You gave it to us.",
    "observed": "The site or this portal recorded it while you used them.",
}

# Column names as a person reads them; the CSV files and data.json keep the stored names.
LABELS = {
    "id": "No.",
    "seq": "Entry no.",
    "email": "Email address",
    "former_emails": "Former email addresses",
    "role": "Role",
    "created_at": "Created",
    "email_verified_at": "Email address confirmed",
    "password_changed_at": "Password changed",
    "time_zone": "Time zone",
    "totp_enabled_at": "Two-step login set up",
    "disabled_at": "Disabled",
    "subject_id": "Your subject no.",
    "personalization": "Personalised content",
    "marketing": "Marketing use",
    "field": "Choice",
    "value": "Value",
    "via": "Made through",
    "actor": "By",
    "at": "When",
    "audit_seq": "Audit entry no.",
    "kind": "Kind",
    "scope": "Scope",
    "status": "Status",
    "paused_from": "Paused from",
    "regime": "Law",
    "received_at": "Received",
    "due_on": "Due on",
    "extension_months": "Extended by (months)",
    "extension_days": "Extended by (days)",
    "extended_at": "Extended",
    "details": "Details",
    "channel": "Filed through",
    "contact_addr": "Contact address",
    "contact_confirmed_at": "Contact confirmed",
    "acknowledged_at": "Acknowledged",
    "wait_until": "Waits until",
    "updated_at": "Last changed",
    "closed_at": "Closed",
    "name": "Name",
    "first_seen": "First seen",
    "last_seen": "Last seen",
    "set_at": "Set",
    "expires_at": "Expires",
    "last_user_agent": "Last browser",
    "tied_by": "Tied to you by",
    "site_user_id": "Site user id",
    "adult_verified": "Verified adult",
    "ip": "IP address",
    "method": "Method",
    "path": "Page",
    "protocol": "Protocol",
    "bytes": "Size (bytes)",
    "referrer": "Came from",
    "referrer_domain": "Came from (site)",
    "user_agent": "Browser",
    "site": "Site",
    "cookies": "Cookies sent",
    "term": "Search term",
    "source": "Where it came from",
    "engine": "Search engine",
    "times": "Times seen",
    "list": "Mailing list",
    "campaign": "Campaign",
    "merged_id": "Joined record no.",
    "reason": "Why",
    "ready_at": "Ready",
    "used_at": "Downloaded",
    "size": "Size (bytes)",
    "request_id": "Request no.",
    "author": "Written by",
    "action": "What happened",
    "from_status": "From status",
    "to_status": "To status",
    "message": "Message",
    "to_addr": "To",
    "subject": "Subject",
    "sent_at": "Sent",
    "attempts": "Attempts",
    "erase_when_sent": "Erased once sent",
    "entry_hash": "Entry hash",
    "details_erased_at": "Details erased",
    # Stored but left out of the download (the registry says why): named in the same words.
    "assignee_id": "Staff member assigned",
    "body": "Text",
    "canonical": "Exact bytes hashed",
    "deadline_basis": "How the deadline was reached",
    "details_sha256": "Details' hash",
    "email_hash": "Email address (hashed)",
    "file_name": "File name",
    "last_error": "Last error",
    "line_no": "Line no.",
    "password_hash": "Password (hashed)",
    "prev_hash": "Previous entry's hash",
    "reminded_for": "Reminder sent for",
    "source_id": "Log file no.",
    "subject_ref": "Your pseudonym in the audit log",
    "token_hash": "Link token (hashed)",
    "totp_last_step": "Last login code used",
    "totp_secret": "Two-step login secret",
    "value_hash": "Value (hashed)",
}
_USER_AGENTS = frozenset({"user_agent", "last_user_agent"})
# Columns holding an audit action code (the timeline's own `action` is a word such as "status").
_AUDIT_ACTIONS = {("audit_entries", "action")}


def label(name: str) -> str:
    """A column's name for people: from LABELS, else the stored name in words ("sent_at" → "Sent at")."""
    return LABELS.get(name) or name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Cell:
    """One table cell: the text shown, and for a user agent the whole string, behind a disclosure."""

    text: str
    raw: str | None = None
    time: str | None = None  # the exact instant (ISO 8601) for <time datetime>


class Report:
    """Formats the preview rows of index.html for one person (their time zone)."""

    def __init__(self, time_zone: str | None) -> None:
        try:
            self.tz: tzinfo = ZoneInfo(time_zone or "UTC")
        except (ValueError, KeyError):  # an unknown zone name must not stop the download
            self.tz = UTC
        self.tz_name = getattr(self.tz, "key", "UTC")

    def when(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime("%d %b %Y, %H:%M:%S")

    def source(self, key: str, origin: str) -> str:
        return SOURCES.get(key) or _ORIGIN.get(origin, "")

    def row(self, key: str, names: Sequence[str], types: Sequence[type], values: Sequence[Any]) -> list[Cell]:
        cells = zip(names, types, values, strict=True)
        return [self.cell(key, name, kind, value) for name, kind, value in cells]

    def cell(self, key: str, name: str, kind: type, value: Any) -> Cell:
        if value is None or value == "":
            return Cell("—")
        if kind is datetime:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            return Cell(self.when(moment), time=moment.isoformat())
        if kind is date and isinstance(value, date):
            return Cell(value.strftime("%d %b %Y"))
        if kind is bool or isinstance(value, bool):
            return Cell("yes" if value else "no")
        if name in _USER_AGENTS:
            return Cell(describe_user_agent(str(value)), raw=str(value))
        if (key, name) in _AUDIT_ACTIONS:
            return Cell(action_words(str(value)))
        return Cell(str(value))

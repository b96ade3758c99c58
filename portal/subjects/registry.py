"""Every table that holds a subject's data, described once (DESIGN.md §4 rule 10).

Export reads this list and erasure will too, so the two can never drift apart; the overview page
may show the same descriptions. A test fails when a table with a `subject_id` column (or a
foreign key to `subject` or `account`) is neither a category here nor named in NOT_EXPORTED, and
when a category's table gains a column that is neither exported nor listed in `omitted`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Column, Connection, Select, Table, TypeDecorator, select

from portal.audit import subject_ref
from portal.core.settings import Settings
from portal.models import metadata

Origin = Literal["provided", "observed"]

# Why a column of an exported table is left out. The subject's own id heads data.json instead.
_SUBJECT = {"subject_id": "your subject id; it is given once at the top of data.json"}


@dataclass(frozen=True)
class Category:
    """One kind of data about a subject: where it lives, where it came from, why and for how long."""

    key: str
    table: str
    title: str
    origin: Origin  # "provided": the person gave it to us; "observed": recorded about them
    description: str
    purpose: str
    legal_basis: str
    # May name settings in braces, e.g. "{log_retention_days} days"; see retention_text().
    retention: str
    omitted: Mapping[str, str] = field(default_factory=dict)
    order_by: tuple[str, ...] = ("id",)

    @property
    def sa_table(self) -> Table:
        return metadata.tables[self.table]

    def retention_text(self, settings: Settings) -> str:
        return self.retention.format(log_retention_days=settings.log_retention_days)

    def columns(self) -> list[tuple[str, Column[object]]]:
        """(name, column) of every exported column, in table order."""
        cols = [(c.name, c) for c in self.sa_table.columns if c.name not in self.omitted]
        if self.key == AUDIT_KEY:
            detail = metadata.tables["audit_detail"]
            cols += [("details", detail.c.details), ("details_erased_at", detail.c.erased_at)]
        return cols


AUDIT_KEY = "audit_entries"

CATEGORIES: tuple[Category, ...] = (
    Category(
        key="account",
        table="account",
        title="Your portal account",
        origin="provided",
        description="The email address, role and settings of the account you log in to this portal with.",
        purpose="To let you log in, reach you about your requests and show you your data.",
        legal_basis="Contract (GDPR Art. 6(1)(b)) and legal obligation to answer your requests "
        "(Art. 6(1)(c)).",
        retention="Until you delete your account.",
        omitted={
            **_SUBJECT,
            "password_hash": "a one-way hash of your password, kept secret so it cannot be attacked offline",
            "totp_secret": "the secret of a second login factor; it would let anyone make codes for you",
            "totp_last_step": "a technical counter that stops a login code being used twice",
        },
    ),
    Category(
        key="consent",
        table="consent",
        title="Your current choices",
        origin="provided",
        description="Whether personalised content, marketing use of your data and promotional email are on.",
        purpose="To respect your choices everywhere the site uses your data.",
        legal_basis="Consent (GDPR Art. 6(1)(a)) and the duty to be able to demonstrate it (Art. 7(1)).",
        retention="As long as the site holds data about you.",
        order_by=("subject_id",),
    ),
    Category(
        key="consent_history",
        table="consent_event",
        title="History of your choices",
        origin="provided",
        description="Every change of those choices: what, when, how (portal, GPC signal, email link, staff).",
        purpose="To prove which choice was in force at any moment.",
        legal_basis="Legal obligation to demonstrate consent (GDPR Art. 7(1)).",
        retention="As long as the site holds data about you.",
        omitted=_SUBJECT,
    ),
    Category(
        key="identifiers",
        table="identifier",
        title="Cookies and ids tied to you",
        origin="observed",
        description="Values of the site's catalogued cookies and site user ids that link records to you.",
        purpose="To recognise your browser and site account, tailor content if you allow it, and show you "
        "this data.",
        legal_basis="Consent for personalisation cookies (GDPR Art. 6(1)(a)); legitimate interests "
        "(Art. 6(1)(f)) for the identification cookie of verified adults.",
        retention="Until the cookie expires or you delete it.",
        omitted={**_SUBJECT, "value_hash": "a keyed hash of the value, used only to look it up"},
    ),
    Category(
        key="site_accounts",
        table="site_account",
        title="Your account on the site",
        origin="observed",
        description="The site account the site reported; its email address is kept only as a keyed hash.",
        purpose="To join your site account to this portal account when the verified email matches.",
        legal_basis="Contract with the site (GDPR Art. 6(1)(b)).",
        retention="Until the site account is deleted.",
        omitted={**_SUBJECT, "email_hash": "a keyed hash of your email address, meaningless elsewhere"},
    ),
    Category(
        key="log_records",
        table="log_record",
        title="Access-log records",
        origin="observed",
        description="Each page request the site logged: time, IP address, page, referrer, browser and the "
        "catalogued cookies it carried.",
        purpose="To run and secure the site and, with your consent, to tailor content and marketing.",
        legal_basis="Legitimate interests (GDPR Art. 6(1)(f)): operating and securing the site.",
        retention="{log_retention_days} days after the visit.",
        omitted={
            **_SUBJECT,
            "source_id": "internal reference to the log file the record was read from",
            "line_no": "internal reference to the line of that log file",
        },
        order_by=("at", "id"),
    ),
    Category(
        key="search_preferences",
        table="search_preference",
        title="Search preferences",
        origin="observed",
        description="Search terms recorded about you, from the preference cookie or a search engine's "
        "referrer.",
        purpose="To tailor content and, if you allow it, marketing.",
        legal_basis="Consent (GDPR Art. 6(1)(a)).",
        retention="Until you revoke personalisation or delete them.",
        omitted=_SUBJECT,
    ),
    Category(
        key="promo_emails",
        table="promo_email",
        title="Promotional emails sent to you",
        origin="observed",
        description="Promotional emails the site reports having sent you: list, campaign and time.",
        purpose="To prove that unsubscribing works and to honour your choice.",
        legal_basis="Consent (GDPR Art. 6(1)(a)).",
        retention="As long as the site holds data about you.",
        omitted=_SUBJECT,
    ),
    Category(
        key="subject_links",
        table="subject_link",
        title="How your records were joined",
        origin="observed",
        description="When and why records first known separately (e.g. a browser's cookies) were "
        "joined to you.",
        purpose="To explain why each record is shown as yours.",
        legal_basis="Legal obligation to answer your access request correctly (GDPR Art. 15).",
        retention="As long as the site holds data about you.",
        omitted=_SUBJECT,
    ),
    Category(
        key="exports",
        table="data_export",
        title="Your data downloads",
        origin="observed",
        description="When you asked for a copy of your data and when it was downloaded.",
        purpose="To give each download link once and to prove the request was answered.",
        legal_basis="Legal obligation (GDPR Art. 15 and Art. 5(2)).",
        retention="30 days after the download link expires.",
        omitted={
            **_SUBJECT,
            "token_hash": "a hash of the secret download link",
            "file_name": "the temporary file's name on the server",
        },
    ),
    Category(
        key=AUDIT_KEY,
        table="audit_entry",
        title="Audit entries about you",
        origin="observed",
        description="Every recorded change and sign-in concerning you, from the tamper-evident audit log.",
        purpose="To prove what was done with your data and when.",
        legal_basis="Legal obligation of accountability (GDPR Art. 5(2)).",
        retention="Kept for the life of the audit log; details are blanked when your data is erased.",
        omitted={
            "subject_ref": "the pseudonym the audit log uses for you",
            "details_sha256": "a salted hash of the details, for verification",
            "prev_hash": "the previous entry's hash, for verification",
            "canonical": "the exact bytes that were hashed, for verification",
        },
        order_by=("seq",),
    ),
    Category(
        key="requests",
        table="data_request",
        title="Your requests",
        origin="provided",
        description="Each request you made (a copy, erasure, objection …): its kind, status, deadline "
        "and what you wrote.",
        purpose="To carry out your requests on time and to prove they were answered.",
        legal_basis="Legal obligation (GDPR Art. 12 and Art. 5(2)).",
        retention="As long as the site holds data about you; kind, dates and outcome for as long as the "
        "audit log.",
        omitted={
            **_SUBJECT,
            "deadline_basis": "the calendar settings the deadline was computed with",
            "assignee_id": "which staff member works on it: their data, not yours",
            "reminded_for": "when staff were last reminded of the deadline",
        },
        order_by=("received_at", "id"),
    ),
    Category(
        key="request_timeline",
        table="request_event",
        title="Timeline of your requests",
        origin="observed",
        description="Every step of your requests: when, what changed, who acted (you, staff or the portal) "
        "and the message you were shown.",
        purpose="To show you where each request stands and to prove every step.",
        legal_basis="Legal obligation (GDPR Art. 12 and Art. 5(2)).",
        retention="As long as the requests themselves.",
        omitted={**_SUBJECT, "actor": "which staff member acted: their data, not yours"},
    ),
)

# Tables tied to a subject or account that are deliberately not exported, and why.
NOT_EXPORTED: Mapping[str, str] = {
    "subject": "the subject itself: its id and kind head data.json",
    "web_session": "login sessions: hashes of session cookies, gone after 12 hours at most",
    "link_token": "hashes of emailed confirmation and reset links, valid 24 hours at most",
    "request_note": "staff's internal working notes on your requests",
}


def value_type(column: Column[object]) -> type:
    """The Python type of a column's values (int, bool, str, datetime …), seen through decorated types."""
    sa_type = column.type
    if isinstance(sa_type, TypeDecorator):
        sa_type = sa_type.impl_instance
    try:
        return sa_type.python_type
    except NotImplementedError:
        return object


def by_key(key: str) -> Category:
    return next(c for c in CATEGORIES if c.key == key)


def ordered() -> list[Category]:
    """Provided data first, then observed data: the order of data.json, the CSV files and index.html."""
    return sorted(CATEGORIES, key=lambda c: c.origin != "provided")  # stable: keeps the list's order


def audit_refs(conn: Connection, secret: bytes, subject_id: int) -> list[str]:
    """Audit pseudonyms of the subject and of every subject merged into it (entries keep the old one)."""
    links = metadata.tables["subject_link"]
    merged = conn.execute(select(links.c.merged_id).where(links.c.subject_id == subject_id)).scalars()
    ids = [subject_id, *merged]
    return [ref for ref in (subject_ref(secret, i) for i in ids) if ref is not None]


def statement(category: Category, subject_id: int, refs: Sequence[str] = ()) -> Select[*tuple[Any, ...]]:
    """The rows of one category for one subject, in a stable order."""
    table = category.sa_table
    cols = [col.label(name) for name, col in category.columns()]
    order = [table.c[name] for name in category.order_by]
    if category.key == AUDIT_KEY:
        detail = metadata.tables["audit_detail"]
        return (
            select(*cols)
            .select_from(table.outerjoin(detail, detail.c.seq == table.c.seq))
            .where(table.c.subject_ref.in_(list(refs)))
            .order_by(*order)
        )
    return select(*cols).where(table.c.subject_id == subject_id).order_by(*order)

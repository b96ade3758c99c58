"""The personal-data registry's contents: every table of the store, described once.

Each table that can hold a subject's personal data is a `Category`: what it is and why it is kept
(for the person: overview, export, index.html), how a subject's rows are found (`found_by`), which
columns hold personal data (`personal`), which text columns can carry *copies* of cookie values or
search terms (`copies`, so a deletion can remove every copy) and what erasing a whole subject does
with its rows (`erasure`). Every other table is in OTHER_TABLES (no personal data) or UNLINKED
(personal data that no subject reference ties to anyone). portal/subjects/registry.py is the API;
tests/test_subjectdata.py fails when a table or a personal-looking column is missing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Column, Table

from portal.core.settings import Settings
from portal.models import metadata

Origin = Literal["provided", "observed"]
# How a subject's rows are found (see registry.where):
#   subject       subject_id = the subject (rows move to the survivor when subjects merge)
#   tree          subject_id in the subject and every subject merged into it (rows that stay put)
#   self          id in that tree (the subject rows themselves)
#   account       account_id = the subject's portal account
#   email         to_addr = the subject's portal account email
#   audit         subject_ref in the audit pseudonyms of the tree
#   audit_detail  seq of an audit entry found by `audit`
Finder = Literal["subject", "tree", "self", "account", "email", "audit", "audit_detail"]
# What erasing a whole subject does with its rows: delete them, blank the `personal` columns (the
# row must stay, e.g. for the audit chain to verify), or keep them as they are (no personal data).
Erasure = Literal["delete", "blank", "keep"]
# What copies a text column may carry, and so how a deletion redacts them (portal/subjects/redaction.py):
#   cookie_values  JSON {cookie name: value} of the catalogued cookies a request carried
#   url            a URL whose query or fragment may carry search terms (and, redacted at ingest,
#                  identifying cookie values)
Copy = Literal["cookie_values", "url"]

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
    found_by: Finder = "subject"
    personal: tuple[str, ...] = ()
    copies: Mapping[str, Copy] = field(default_factory=dict)
    erasure: Erasure = "delete"
    # Why the category is not a section of the export ("" when it is one).
    not_exported: str = ""
    omitted: Mapping[str, str] = field(default_factory=dict)
    order_by: tuple[str, ...] = ("id",)

    @property
    def exported(self) -> bool:
        return not self.not_exported

    @property
    def sa_table(self) -> Table:
        return metadata.tables[self.table]

    def retention_text(self, settings: Settings) -> str:
        return self.retention.format(log_retention_days=settings.log_retention_days)

    def columns(self) -> list[tuple[str, Column[Any]]]:
        """(name, column) of every exported column, in table order."""
        cols = [(c.name, c) for c in self.sa_table.columns if c.name not in self.omitted]
        if self.key == AUDIT_KEY:
            detail = metadata.tables["audit_detail"]
            cols += [("details", detail.c.details), ("details_erased_at", detail.c.erased_at)]
        return cols


@dataclass(frozen=True)
class OtherTable:
    """A table with no personal data of any subject; `columns` explains names that sound personal."""

    reason: str
    columns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Unlinked:
    """A table holding personal data that no subject reference ties to anyone."""

    reason: str
    personal: tuple[str, ...]


AUDIT_KEY = "audit_entries"
LOG_KEY = "log_records"
TERMS_KEY = "search_preferences"
IDENTIFIERS_KEY = "identifiers"
_KEEP = "As long as the site holds data about you."

CATEGORIES: tuple[Category, ...] = (
    Category(
        key="account",
        table="account",
        title="Your portal account",
        origin="provided",
        description="The email address (and those it had before), role and settings of the account you "
        "log in to this portal with.",
        purpose="To let you log in, reach you about your requests and show you your data.",
        legal_basis="Contract (GDPR Art. 6(1)(b)) and legal obligation to answer your requests "
        "(Art. 6(1)(c)).",
        retention="Until you delete your account.",
        personal=("email", "password_hash", "totp_secret", "time_zone", "former_emails"),
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
        retention=_KEEP,
        personal=("personalization", "marketing", "email"),
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
        retention=_KEEP,
        personal=("field", "value", "via", "actor"),
        omitted=_SUBJECT,
    ),
    Category(
        key=IDENTIFIERS_KEY,
        table="identifier",
        title="Cookies and ids tied to you",
        origin="observed",
        description="Values of the site's cookies that identify a browser, and site user ids, that link "
        "records to you.",
        purpose="To recognise your browser and site account and show you this data.",
        legal_basis="Legitimate interests (GDPR Art. 6(1)(f)) for the identification cookie of verified "
        "adults.",
        retention="Until the cookie expires or you delete it.",
        personal=("value", "value_hash", "last_user_agent"),
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
        personal=("site_user_id", "email_hash"),
        omitted={**_SUBJECT, "email_hash": "a keyed hash of your email address, meaningless elsewhere"},
    ),
    Category(
        key=LOG_KEY,
        table="log_record",
        title="Access-log records",
        origin="observed",
        description="Each page request the site logged: time, IP address, page, referrer, browser and the "
        "catalogued cookies it carried. REDACTED marks a value removed: an identifying cookie value in a "
        "page address, or a search term or cookie value you deleted.",
        purpose="To run and secure the site and, with your consent, to tailor content and marketing.",
        legal_basis="Legitimate interests (GDPR Art. 6(1)(f)): operating and securing the site.",
        retention="{log_retention_days} days after the visit.",
        personal=("ip", "path", "referrer", "referrer_domain", "user_agent", "cookies"),
        copies={"cookies": "cookie_values", "referrer": "url", "path": "url"},
        omitted={
            **_SUBJECT,
            "source_id": "internal reference to the log file the record was read from",
            "line_no": "internal reference to the line of that log file",
        },
        order_by=("at", "id"),
    ),
    Category(
        key=TERMS_KEY,
        table="search_preference",
        title="Search preferences",
        origin="observed",
        description="Search terms recorded about you, from the preference cookie or a search engine's "
        "referrer.",
        purpose="To tailor content and, if you allow it, marketing.",
        legal_basis="Consent (GDPR Art. 6(1)(a)).",
        retention="Until you revoke personalisation or delete them.",
        personal=("term",),
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
        retention=_KEEP,
        personal=("list", "campaign"),
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
        retention=_KEEP,
        found_by="tree",
        personal=("reason",),
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
        # The file itself (VAR_DIR/exports/<file_name>) holds a copy of everything: deletions and
        # erasure withdraw it (portal.export.exports.withdraw).
        personal=("file_name",),
        omitted={
            **_SUBJECT,
            "token_hash": "a hash of the secret download link",
            "file_name": "the temporary file's name on the server",
        },
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
        found_by="tree",
        # The request stays as the record that it was answered; what the person wrote goes.
        personal=("details", "contact_addr"),
        erasure="blank",
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
        found_by="tree",
        personal=("message",),
        erasure="blank",
        omitted={**_SUBJECT, "actor": "which staff member acted: their data, not yours"},
    ),
    Category(
        key="request_notes",
        table="request_note",
        title="Staff notes on your requests",
        origin="observed",
        description="Staff's internal working notes on your requests.",
        purpose="To let staff hand a request over to a colleague.",
        legal_basis="Legal obligation to answer your requests (GDPR Art. 12).",
        retention="As long as the requests themselves.",
        found_by="tree",
        personal=("body",),
        not_exported="staff's internal working notes on your requests",
    ),
    Category(
        key="mail",
        table="outbox_mail",
        title="Email this portal sent you",
        origin="observed",
        description="Messages the portal sent to your address: confirmations, password resets, answers "
        "to your requests.",
        purpose="To reach you and to prove that we did.",
        legal_basis="Contract and legal obligation to answer your requests (GDPR Art. 6(1)(b), (c)).",
        retention=_KEEP,
        found_by="email",
        personal=("to_addr", "subject", "body"),
        omitted={
            "body": "the message text: it held single-use links, and is blanked once delivered",
            "last_error": "the mail server's answer to a failed delivery attempt",
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
        found_by="audit",
        erasure="keep",  # the chain must verify; an entry names its subject by pseudonym only
        omitted={
            "subject_ref": "the pseudonym the audit log uses for you",
            "details_sha256": "a salted hash of the details, for verification",
            "prev_hash": "the previous entry's hash, for verification",
            "canonical": "the exact bytes that were hashed, for verification",
        },
        order_by=("seq",),
    ),
    Category(
        key="audit_details",
        table="audit_detail",
        title="Details of the audit entries about you",
        origin="observed",
        description="What each audit entry about you recorded in detail (counts, reasons, ids).",
        purpose="To prove what was done with your data and when.",
        legal_basis="Legal obligation of accountability (GDPR Art. 5(2)).",
        retention="Until your data is erased; then blanked (the entry's salted hash still verifies).",
        found_by="audit_detail",
        personal=("details",),
        erasure="blank",
        not_exported="exported with the audit entries they belong to",
        order_by=("seq",),
    ),
    Category(
        key="subject",
        table="subject",
        title="You as a subject",
        origin="observed",
        description="The record that stands for you (and for each browser or site account joined to you).",
        purpose="To hold your data together.",
        legal_basis="As for the data it holds together.",
        retention=_KEEP,
        found_by="self",
        not_exported="its id, kind and creation time head data.json",
    ),
    Category(
        key="sessions",
        table="web_session",
        title="Login sessions",
        origin="observed",
        description="Your logins to this portal: hashes of session cookies, and messages waiting for "
        "the next page.",
        purpose="To keep you logged in safely.",
        legal_basis="Contract (GDPR Art. 6(1)(b)).",
        retention="12 hours at most.",
        found_by="account",
        personal=("flash",),
        not_exported="hashes of session cookies, gone after 12 hours at most",
        order_by=("id_hash",),
    ),
    Category(
        key="link_tokens",
        table="link_token",
        title="Emailed links",
        origin="observed",
        description="Hashes of the confirmation and password-reset links mailed to you (and, for staff, "
        "of invitation links and second-factor recovery codes), and the new address an email change "
        "waits to confirm.",
        purpose="To make each link work once.",
        legal_basis="Contract (GDPR Art. 6(1)(b)).",
        retention="Valid 24 hours at most (staff invitations 3 days), deleted a week after they expire; "
        "recovery codes until used or replaced.",
        found_by="account",
        personal=("new_email",),
        not_exported="hashes of emailed confirmation and reset links, valid 24 hours at most",
    ),
)

# Tables holding no personal data of any subject, and why.
OTHER_TABLES: Mapping[str, OtherTable] = {
    "cookie_catalog": OtherTable("the site's list of cookie names and purposes"),
    "unclassified_cookie": OtherTable("names of cookies the catalog lacks, counted; never their values"),
    "ingest_source": OtherTable(
        "which log file was read how far", {"path": "the log file's path on the server"}
    ),
    "ingest_run": OtherTable("counts of each ingest run"),
    "audit_checkpoint": OtherTable(
        "signed sizes and root hashes of the audit log", {"body": "the signed statement: size, root, time"}
    ),
    "throttle": OtherTable("failure counters under keyed hashes of emails and addresses, 15 minutes"),
    "request_confirmation": OtherTable(
        "hashes of the links that confirm a request filed on someone's behalf (the request holds the address)"
    ),
    "request_copy": OtherTable("which staff member prepared and which released a copy of someone's data"),
    "audit_verify_run": OtherTable("progress and outcome of audit verifications staff started"),
    "erasure_run": OtherTable("how far each erasure got: rows per category, counts only"),
}

# Personal data that no subject reference ties to anyone (each entry says how long it is kept).
UNLINKED: Mapping[str, Unlinked] = {
    "mail_request": Unlinked(
        "registration, reset and email-change forms waiting for the background sender (seconds): an "
        "address as typed, which may belong to nobody; deleted once the mail is written",
        ("email", "password_hash"),
    ),
    "quarantined_line": Unlinked(
        "access-log lines ingest could not read (their first 4 KiB), for admins to see why; linked to "
        "nobody, deleted by retention",
        ("raw", "path"),
    ),
    # What outlives an erasure (portal/subjects/suppression.py), tied to no subject and kept for good.
    "suppression": Unlinked(
        "keyed hashes of the email addresses of erased people, so the site never mails them promotions "
        "again, not even after they register anew; they cannot be read back into addresses",
        ("email_hash",),
    ),
    "erased_identifier": Unlinked(
        "keyed hashes of the identification-cookie values and site user ids of erased people, so that "
        "the site's later logs and events are never tied to anyone through them again",
        ("value_hash",),
    ),
}

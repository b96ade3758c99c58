"""The deletion certificate: what an erasure deleted per category with counts, what it kept and on
which legal basis, when it completed, signed with the audit key and carrying the receipt of the
audit entry that completed it (portal/audit/certificates.py). It is mailed to the person, whose
account is gone by then; the mail is erased from the outbox once delivered.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import rfc8785

from portal import audit
from portal.core import mail
from portal.core.context import Ctx
from portal.core.crypto import sha256_hex
from portal.core.links import absolute
from portal.models.requests import DataRequest
from portal.requests import preview
from portal.subjects import registry

BEGIN, END = "-----BEGIN DELETION CERTIFICATE-----", "-----END DELETION CERTIFICATE-----"

# What survives an erasure beyond the registry's own categories, and why (the preview shows the same).
SUPPRESSION_KEPT = (
    preview.SUPPRESSION[0],
    "GDPR Art. 21(3) and Art. 6(1)(c): your objection to direct marketing is honoured for good, even "
    "if you register anew; the hash cannot be turned back into your address.",
)
IDENTIFIERS_KEPT = (
    preview.IDENTIFIERS[0],
    "GDPR Art. 17 with Art. 6(1)(f): so that the site's later logs and events are never tied to you "
    "again; the hashes cannot be turned back into the values.",
)
KEPT_BASIS = {
    registry.AUDIT_KEY: "GDPR Art. 5(2) and Art. 17(3)(b): the tamper-evident log must stay complete to "
    "prove what was done; its entries name you by a pseudonym only and their details are erased.",
    "requests": "GDPR Art. 5(2) and Art. 12: the kind, dates and outcome of each request, without "
    "anything you wrote, prove it was answered on time.",
    "request_timeline": "GDPR Art. 5(2) and Art. 12: the dates and status changes of your requests, "
    "without their messages.",
}


def statement(
    ctx: Ctx,
    row: DataRequest,
    subject_ref: str | None,
    started_at: datetime,
    done: dict[str, int],
    kept: dict[str, int],
    suppressed: int,
    identifiers: int,
) -> dict[str, Any]:
    """What the certificate states (no personal data: category names and counts, dates, the
    pseudonym the audit log uses for the person)."""
    deleted = [
        {"category": c.key, "title": c.title, "rows": done.get(c.key, 0)}
        for c in registry.CATEGORIES
        if c.erasure == "delete"
    ]
    blanked = [
        {"category": c.key, "title": c.title, "rows": done.get(c.key, 0), "blanked": list(c.personal)}
        for c in registry.CATEGORIES
        if c.erasure == "blank"
    ]
    kept_rows = [
        {"what": registry.by_key(key).title, "rows": kept.get(key, 0), "legal_basis": basis}
        for key, basis in KEPT_BASIS.items()
    ]
    kept_rows += [
        {"what": SUPPRESSION_KEPT[0], "rows": suppressed, "legal_basis": SUPPRESSION_KEPT[1]},
        {"what": IDENTIFIERS_KEPT[0], "rows": identifiers, "legal_basis": IDENTIFIERS_KEPT[1]},
    ]
    return {
        "request": row.id,
        "kind": row.kind,
        "regime": row.regime,
        "subject": subject_ref,
        "received_at": audit.format_time(row.received_at),
        "started_at": audit.format_time(started_at),
        "completed_at": audit.format_time(ctx.now),
        "deleted": deleted,
        "blanked": blanked,
        "kept": kept_rows,
    }


def digest(stated: dict[str, Any]) -> str:
    """What the completion's audit entry records of the statement."""
    return sha256_hex(rfc8785.dumps(stated))


def send(ctx: Ctx, to: str, row: DataRequest, certificate: dict[str, Any]) -> None:
    stated = certificate["statement"]
    zone = ZoneInfo(ctx.settings.request_time_zone)
    when = ctx.now.astimezone(zone).strftime("%d %B %Y, %H:%M")
    lines = [
        f"We erased your data on {when} ({ctx.settings.request_time_zone}), as you asked in request "
        f"no. {row.id}.",
        "",
        "Your portal account is deleted and you are signed out everywhere. What was deleted:",
    ]
    lines += [f"  {d['title']}: {d['rows']:,}" for d in stated["deleted"] if d["rows"]]
    blanked = [b for b in stated["blanked"] if b["rows"]]
    if blanked:
        lines += ["", "Kept without anything personal (free text, addresses and details removed):"]
        lines += [f"  {b['title']}: {b['rows']:,}" for b in blanked]
    lines += ["", "What is kept, and why:"]
    lines += [f"  - {k['what']} ({k['rows']:,}): {k['legal_basis']}" for k in stated["kept"]]
    lines += [
        "",
        "Below is your deletion certificate. It is signed with the portal's audit key and carries the "
        "receipt of the audit entry that completed the erasure. To check it, copy everything between "
        f"the two marker lines into the form at {absolute(ctx.settings, 'receipts.verify')} (or save it "
        "as a file and run `portal audit verify-receipt FILE`).",
        "",
        BEGIN,
        json.dumps(certificate, indent=1, ensure_ascii=False),
        END,
        "",
    ]
    mail.queue(
        ctx,
        to,
        f"Your request no. {row.id}: your data is erased (deletion certificate)",
        "\n".join(lines),
        erase_when_sent=True,
    )

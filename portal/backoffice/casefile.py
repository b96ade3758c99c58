"""One request as staff work it: its deadline, timeline, internal notes, the subject's data in counts,
and the actions its status allows.

What the person wrote (the request's free text, their timeline messages, the contact address of a
request made on their behalf) is personal data: it is held back until the staff member asks to see it
with a reason, which `reveal` records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from portal import audit
from portal.accounts import staffing
from portal.audit.actions import words as action_words
from portal.backoffice import dossier
from portal.backoffice.worklist import KIND_WORDS, Urgency, urgency
from portal.core.context import Ctx
from portal.core.errors import NotFound
from portal.models import Account, RequestConfirmation
from portal.models.requests import DataRequest, RequestNote
from portal.requests import copies, deadlines, erasure, foureyes, onbehalf, queue, statuses, timeline
from portal.requests.deadlines import Deadline
from portal.requests.statuses import LABELS, PAUSED


@dataclass(frozen=True)
class Line:
    at: datetime
    by: str  # "The person", "Support staff (a@example.org)", "The portal"
    heading: str
    message: str | None  # None: written by the person and not revealed
    held_back: bool
    receipt: int | None


@dataclass(frozen=True)
class Note:
    at: datetime
    author: str
    body: str


@dataclass
class Case:
    row: DataRequest
    kind_words: str
    status_words: str
    deadline: Deadline
    days_left: int
    urgency: Urgency
    assignee: str | None
    lines: list[Line]
    notes: list[Note]
    summary: dossier.Summary | None
    actions: set[str]
    staff: dict[int, str]
    revealed: bool
    complaint: str
    awaiting_person_until: datetime | None = None
    approver: str | None = None  # erasure: the staff actor who approved it (four-eyes)
    approver_words: str = ""
    copy: dict[str, Any] = field(default_factory=dict)  # access: the prepared copy, if any
    four_eyes: bool = True
    me: str = ""
    erasing: erasure.Progress | None = None  # erasure: how far the engine got, once it started

    @property
    def has_personal_text(self) -> bool:
        """Is anything the person wrote held back (or shown after a reason) on this page?"""
        return bool(self.row.details or self.row.contact_addr or any(line.held_back for line in self.lines))


def _who(actor: str, staff: dict[int, str]) -> str:
    prefix, _, rest = actor.partition(":")
    return staff.get(int(rest), actor) if prefix == "account" and rest.isdigit() else actor


def _everyone(ctx: Ctx) -> dict[int, str]:
    rows = ctx.session.execute(select(col(Account.id), col(Account.email)).where(col(Account.role) != "user"))
    return {int(i or 0): e for i, e in rows}


def _lines(ctx: Ctx, request_id: int, staff: dict[int, str], revealed: bool) -> list[Line]:
    out = []
    for e in timeline.events(ctx, request_id):
        # The person's own words: their messages and the text a request was opened with.
        personal = e.author == "you" or (e.action == "status" and e.to_status == "received")
        heading = LABELS.get(e.to_status or "", action_words(f"request.{e.action}"))
        if e.action == "joined":
            heading = "Asked again (joined this request)"
        by = {"you": "The person", "portal": "The portal"}.get(e.author) or f"Staff ({_who(e.actor, staff)})"
        held = personal and bool(e.message) and not revealed
        out.append(Line(e.at, by, heading, None if held else e.message, held, e.audit_seq))
    return out


def _actions(ctx: Ctx, row: DataRequest) -> set[str]:
    if statuses.is_closed(row.status):
        return {"note"}
    out = {"note", "assign"}
    allowed = set(statuses.targets(row.status, row.paused_from))
    if "denied" in allowed:
        out.add("deny")
    if onbehalf.needs_confirmation(row):
        return out  # nothing that carries it out before the person confirms
    if "on_hold" in allowed:
        out.add("hold")
    if row.status in PAUSED:
        out.add("resume")
    if "extended" in allowed and row.extended_at is None:
        out.add("extend")
    if row.status == "identity_pending":
        out.add("verify")
    if row.status == "in_review":
        out.add("approve")
    if row.status == "approved":
        out.add({"erasure": "confirm_erasure", "access": "prepare_copy"}.get(row.kind, "start"))
    if row.status == "in_progress":
        out.add({"erasure": "run_erasure", "access": "release_copy"}.get(row.kind, "complete"))
    return out


def load(ctx: Ctx, request_id: int, *, revealed: bool = False) -> Case:
    row = ctx.session.get(DataRequest, request_id) if 0 < request_id < 2**31 else None
    if row is None:
        raise NotFound(f"There is no request no. {request_id}.")
    queue.refresh(ctx)
    staff = _everyone(ctx)
    found = deadlines.of_request(ctx.settings, row)
    left = queue.days_left(ctx, found.due)
    notes = ctx.session.scalars(
        select(RequestNote).where(col(RequestNote.request_id) == request_id).order_by(col(RequestNote.id))
    )
    case = Case(
        row=row, kind_words=KIND_WORDS[row.kind], status_words=LABELS[row.status], deadline=found,
        days_left=left, urgency=urgency(left, row.closed_at is not None),
        assignee=staff.get(row.assignee_id) if row.assignee_id else None,
        lines=_lines(ctx, request_id, staff, revealed),
        notes=[Note(n.at, staff.get(n.author_id or 0, "a former member of staff"), n.body) for n in notes],
        summary=dossier.summary(ctx, row.subject_id) if row.subject_id else None,
        actions=_actions(ctx, row), staff=staffing.active_ids(ctx), revealed=revealed,
        complaint=timeline.COMPLAINT[row.regime], four_eyes=foureyes.required(ctx), me=ctx.actor,
    )  # fmt: skip
    if onbehalf.needs_confirmation(row):
        pending = ctx.session.get(RequestConfirmation, request_id)
        case.awaiting_person_until = pending.expires_at if pending else None
    if row.kind == "erasure":
        case.approver = foureyes.approver(ctx, request_id)
        case.approver_words = _who(case.approver, staff) if case.approver else ""
        case.erasing = erasure.progress(ctx.session, request_id)
    prepared = copies.prepared(ctx, request_id) if row.kind == "access" else None
    if prepared is not None:
        copy, export = prepared
        case.copy = {
            "prepared_by": copy.prepared_by, "prepared_by_words": _who(copy.prepared_by, staff),
            "prepared_at": copy.prepared_at, "released_at": copy.released_at,
            "ready": export is not None and export.ready_at is not None and export.file_name is not None,
        }  # fmt: skip
    return case


def reveal(ctx: Ctx, request_id: int, raw_reason: str) -> Case:
    """The request with what the person wrote shown, after a reason; one audit entry records it."""
    reason = dossier.reason_of(raw_reason)
    case = load(ctx, request_id, revealed=True)
    details = {"request": request_id, "reason": reason}
    audit.record(ctx, "staff.view.request_text", subject_id=case.row.subject_id, details=details)
    return case

"""Carrying out requests with the services that already do the work: objection and unsubscribe with
the consent choices (so they take effect everywhere at once), access with the export."""

from __future__ import annotations

from portal.core.context import Ctx
from portal.core.errors import ValidationError
from portal.core.words import count
from portal.export import exports
from portal.models.requests import DataRequest
from portal.requests import timeline
from portal.requests.queue import own
from portal.subjects import consent

OPT_OUTS = ("objection", "unsubscribe")


def opt_out(ctx: Ctx, row: DataRequest, *, via: str) -> int:
    """Apply an in-progress objection or unsubscribe request and complete it; the receipt."""
    if row.kind not in OPT_OUTS or row.subject_id is None:
        raise ValidationError("Only an objection or an unsubscribe request is carried out this way.", "kind")
    done: list[str] = []
    if row.kind == "unsubscribe":
        change = consent.set_choice(ctx, row.subject_id, "email", False, via=via)
        done.append(
            _said(change.changed, "Promotional email is now off", "Promotional email was already off")
        )
    if "marketing" in row.scope.split():
        change = consent.set_choice(ctx, row.subject_id, "marketing", False, via=via)
        done.append(
            _said(
                change.changed,
                "The site no longer uses your data for marketing",
                "Marketing use was already off",
            )
        )
    if "profiling" in row.scope.split():
        change, deleted = consent.revoke_personalization(ctx, row.subject_id, via=via)
        words = f"{count(deleted, 'recorded search preference')} deleted"
        done.append(
            _said(change.changed, "Personalised content is now off", "Personalised content was already off")
            + f"; {words}"
        )
    message = ". ".join(done) + ". Your choices page shows this change with its own receipt."
    return timeline.transition(ctx, row, "completed", by="portal", message=message).audit_seq or 0


def _said(changed: bool, now: str, already: str) -> str:
    return now if changed else already


def complete_access(ctx: Ctx, subject_id: int, request_id: int, export_id: int) -> int | None:
    """The copy for an in-progress access request is ready: complete the request; the receipt."""
    row = own(ctx, subject_id, request_id, lock=True)
    if row is None or row.kind != "access" or row.status != "in_progress":
        return None
    hours = int(exports.LINK_TTL.total_seconds() // 3600)
    message = (
        f"Your copy is ready (download no. {export_id}). Its link works once, for {hours} hours; you can "
        "prepare a new copy at any time under Download."
    )
    return timeline.transition(ctx, row, "completed", by="portal", message=message).audit_seq

"""Staff are mailed before a deadline: once per request and deadline, PORTAL_REQUEST_REMINDER_DAYS
ahead (an extension sets a new deadline, and so a new reminder). The assignee is told; a request
nobody is assigned to goes to every staff member. Each staff member gets one mail per round
listing their requests, with no personal data in it: numbers, kinds and dates only."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import or_, select, update

from portal import audit
from portal.accounts import staffing
from portal.core import mail
from portal.core.context import Ctx
from portal.core.links import absolute
from portal.core.words import count
from portal.models.requests import DataRequest
from portal.requests import queue
from portal.requests.statuses import LABELS

BATCH = 1000


def send_due(ctx: Ctx) -> int:
    """Mail reminders for requests coming due; how many requests were reminded of."""
    today = queue.today(ctx)
    horizon = today + timedelta(days=ctx.settings.request_reminder_days)
    table = DataRequest.__table__  # type: ignore[attr-defined]
    rows = ctx.session.execute(
        select(
            table.c.id, table.c.kind, table.c.status, table.c.due_on, table.c.assignee_id, table.c.subject_id
        )
        .where(
            table.c.closed_at.is_(None),
            table.c.due_on <= horizon,
            or_(table.c.reminded_for.is_(None), table.c.reminded_for != table.c.due_on),
        )
        .order_by(table.c.due_on, table.c.id)
        .limit(BATCH)
        # Every server process runs this: one of them reminds of each request.
        .with_for_update(skip_locked=True)
    ).all()
    staff = staffing.active_ids(ctx)  # disabled staff and pending invitations are told nothing
    if not rows or not staff:
        return 0  # nobody to tell yet: these stay due for a reminder
    lists: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        assigned = staff.get(row.assignee_id)
        days = (row.due_on - today).days
        when = "overdue" if days < 0 else "due today" if days == 0 else f"{count(days, 'day')} left"
        line = (
            f"- no. {row.id}: {row.kind}, {LABELS[row.status].lower()}, due {row.due_on} ({when}), "
            f"{'assigned to you' if assigned else 'assigned to nobody'}"
        )
        for email in [assigned] if assigned else staff.values():
            lists[email].append(line)
        ctx.session.execute(update(table).where(table.c.id == row.id).values(reminded_for=row.due_on))
        to = "assignee" if assigned else "all staff"
        details = {"request": row.id, "due_on": row.due_on.isoformat(), "to": to}
        audit.record(ctx, "request.reminder", subject_id=row.subject_id, details=details)
    for email, lines in lists.items():
        mail.queue(
            ctx, email, f"Requests coming due: {len(lines)}",
            "These requests must be answered soon:\n\n" + "\n".join(lines)
            + f"\n\nWork them in the back-office ({absolute(ctx.settings, 'staff.home')}) or see one with "
            "`portal requests show NUMBER`.\n",
        )  # fmt: skip
    return len(rows)

"""`portal requests`: deadlines as operators and auditors can check them, the queue, one request, and
the run of due erasures for cron (the server runs it by itself every minute)."""

from __future__ import annotations

import os
import sys
from datetime import date
from typing import Any

import click

from portal.cli.common import cli_ctx, friendly_errors, open_store
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.settings import SETTINGS, holiday_country
from portal.core.store import transaction
from portal.core.words import count
from portal.models import Account
from portal.models.requests import REGIMES, REQUEST_KINDS, REQUEST_STATUSES
from portal.requests import actions, deadlines, erasure, onbehalf, queue, timeline, waiting
from portal.requests.statuses import LABELS


@click.group("requests", help="Data-subject requests: deadlines, the queue, one request, due erasures.")
def requests_group() -> None:
    pass


def _setting(name: str) -> str:
    return os.environ.get(name) or next(s.default for s in SETTINGS if s.env == name)


def _date(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2027-01-31") from None


@requests_group.command(
    "deadline",
    help="Print the deadline of a request received on RECEIVED_DATE (YYYY-MM-DD) alone on the first "
    "line, then the rule and every step that reached it.",
)
@click.argument("received", metavar="RECEIVED_DATE", callback=_date)
@click.option("--regime", type=click.Choice(REGIMES), help="Default: PORTAL_REQUEST_REGIME.")
@click.option("--country", help="Holiday calendar, e.g. DE or DE-BY; default: PORTAL_HOLIDAY_COUNTRY.")
@click.option("--kind", type=click.Choice(REQUEST_KINDS), default="access", show_default=True)
@click.option("--extended", is_flag=True, help="With the longest extension the regime allows.")
@friendly_errors
def deadline_cmd(received: date, regime: str | None, country: str | None, kind: str, extended: bool) -> None:
    regime = regime or _setting("PORTAL_REQUEST_REGIME")
    country = holiday_country(_setting("PORTAL_HOLIDAY_COUNTRY") if country is None else country)
    months, days = deadlines.max_extension(regime) if extended else (0, 0)
    if extended and regime == "ccpa" and kind in deadlines.CCPA_OPT_OUT_KINDS:
        raise click.UsageError("under the CCPA an opt-out cannot be extended")
    cal = deadlines.Calendar(country)
    found = deadlines.due(received, regime, cal, kind=kind, extension_months=months, extension_days=days)
    click.echo(found.due.isoformat())
    calendar_words = f"public holidays of {country}" if country else "no public holidays (weekends only)"
    click.echo(f"{found.rule}; {calendar_words}")
    click.echo(found.explain())
    ack = deadlines.acknowledgement_due(received, regime, cal)
    if ack is not None:
        click.echo(f"receipt to be confirmed by {ack} ({deadlines.CCPA_ACK_BUSINESS_DAYS} business days)")


@requests_group.command("list", help="Requests by deadline, earliest first (open ones unless --status).")
@click.option("--status", type=click.Choice(REQUEST_STATUSES), help="Only this status (closed ones too).")
@click.option("--kind", type=click.Choice(REQUEST_KINDS))
@click.option("--overdue", is_flag=True, help="Only open requests past their deadline.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@friendly_errors
def list_cmd(status: str | None, kind: str | None, overdue: bool, limit: int) -> None:
    with cli_ctx() as ctx:
        where = queue.Filter(status=status, kind=kind, overdue=overdue)
        rows: list[Any] = []
        after = None
        while len(rows) < limit:
            found = queue.page(ctx, where, after=after, limit=min(500, limit - len(rows)))
            rows += found.rows
            after = found.next_key
            if after is None:
                break
        if not rows:
            click.echo("no requests match")
            return
        click.echo(_LIST_ROW.format("no.", "kind", "status", "received", "due", "left", "assignee"))
        for r in rows:
            left = queue.days_left(ctx, r.due_on) if r.closed_at is None else ""
            received = deadlines.local_date(ctx.settings, r.received_at)
            cells = (r.id, r.kind, r.status, str(received), str(r.due_on), left, r.assignee_id or "-")
            click.echo(_LIST_ROW.format(*cells))
        if after is not None:
            click.echo(f"(the first {limit}; --limit shows more)")


_LIST_ROW = "{:>7}  {:<14}{:<18}{:<12}{:<12}{:>4}  {}"


@requests_group.command("show", help="One request: deadline and how it was reached, status, timeline.")
@click.argument("request_id", type=int)
@friendly_errors
def show_cmd(request_id: int) -> None:
    with cli_ctx() as ctx:
        row = actions.get(ctx, request_id, lock=False)
        found = deadlines.of_request(ctx.settings, row)
        assignee = ctx.session.get(Account, row.assignee_id) if row.assignee_id else None
        scope = f" ({row.scope})" if row.scope else ""
        channel = row.channel.replace("_", "-")
        click.echo(f"request {row.id}: {row.kind}{scope}, {channel}, regime {row.regime}")
        click.echo(f"status:    {row.status} ({LABELS[row.status]})")
        click.echo(f"received:  {row.received_at:%Y-%m-%d %H:%M} UTC")
        left = f", {queue.days_left(ctx, found.due)} days left" if row.closed_at is None else ""
        click.echo(f"due:       {found.due}{left}\n           {found.explain()}")
        ack = deadlines.acknowledgement_of(ctx.settings, row)
        if ack is not None:
            done = f"{row.acknowledged_at:%Y-%m-%d}" if row.acknowledged_at else "not yet"
            click.echo(f"receipt to be confirmed by {ack}; confirmed: {done}")
        if row.extended_at:
            months, days = row.extension_months, row.extension_days
            by = count(months, "month") if months else count(days, "day")
            click.echo(f"extended:  on {row.extended_at:%Y-%m-%d}, by {by}")
        if row.wait_until and row.closed_at is None:
            review = ctx.settings.erasure_review
            click.echo(f"waits:     until {row.wait_until:%Y-%m-%d %H:%M} UTC (review: {review})")
        click.echo(f"assignee:  {assignee.email if assignee else 'nobody'}")
        run = erasure.progress(ctx.session, request_id) if row.kind == "erasure" else None
        if run is not None:
            state = "finished" if run.finished else f"{run.percent}%"
            click.echo(f"erasure:   {run.done:,} of {run.planned:,} rows, {state}, {run.batches} batches")
            for title, n, planned in run.per_category:
                click.echo(f"           {title}: {n:,} of {planned:,}")
        click.echo("timeline (its messages and anything the person wrote are shown in the portal only):")
        for event in timeline.events(ctx, request_id):
            what = event.action
            if event.action == "status":
                what = f"{event.from_status or '-'} → {event.to_status}"
            click.echo(f"  {event.at:%Y-%m-%d %H:%M}  {event.author:<7}{what:<36}receipt {event.audit_seq}")


@requests_group.command(
    "run-due",
    help="Approve erasures whose waiting period is over (unless PORTAL_ERASURE_REVIEW=always), start "
    "approved ones and run the erasure engine on every started one; remind people to confirm requests "
    "filed on their behalf and close those unconfirmed after 7 days. For cron; `portal serve` does "
    "the same every minute. Exit 1 if any erasure could not run.",
)
@friendly_errors
def run_due_cmd() -> None:
    settings, engine, factory = open_store()
    try:
        result = waiting.run_due(factory, settings, Clock())
        with transaction(factory) as session:
            swept = onbehalf.sweep(Ctx(session=session, settings=settings, now=Clock().now()))
    finally:
        engine.dispose()
    for label, ids in (
        ("approved after the wait", result.approved),
        ("waiting for staff review", result.awaiting_review),
        ("started", result.started),
        ("completed", result.completed),
        ("stopped (put on hold or extended while it ran)", result.stopped),
        ("running in another process", result.busy),
        ("on behalf: reminded to confirm", swept.reminded),
        ("on behalf: closed unconfirmed", swept.closed),
    ):
        click.echo(f"{label}: {', '.join(map(str, ids)) or 'none'}")
    if result.refreshed:
        click.echo(f"deadlines recomputed for new calendar settings: {result.refreshed}")
    for request_id, message in result.failed:
        click.echo(f"error: request {request_id}: {message}", err=True)
    if result.failed:
        sys.exit(1)

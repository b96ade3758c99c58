"""`portal suppressions`: the suppression list as the site uses it before sending promotional mail.

The list holds keyed hashes of addresses only (portal/subjects/suppression.py), which no one can
turn back into addresses, so the site asks: `filter` takes its mailing list on stdin and passes on
the addresses that may be mailed; `check` answers for a few; `export` prints the list itself (hash,
reason, date) for backup and audit.
"""

from __future__ import annotations

import sys

import click

from portal.cli.common import friendly_errors, open_store
from portal.subjects import suppression

_CHUNK = 10_000


@click.group("suppressions", help="The suppression list: addresses never to be mailed promotions again.")
def suppressions_group() -> None:
    pass


@suppressions_group.command("check", help="Say for each EMAIL whether it is on the suppression list.")
@click.argument("emails", nargs=-1, required=True)
@friendly_errors
def check_cmd(emails: tuple[str, ...]) -> None:
    settings, engine, factory = open_store()
    try:
        with factory() as session:
            allowed = set(suppression.mailable(session, settings.secret_key, list(emails)))
    finally:
        engine.dispose()
    for email in emails:
        click.echo(f"{email}\t{'may be mailed' if email in allowed else 'suppressed'}")


@suppressions_group.command(
    "filter",
    help="Read addresses from stdin, one a line, and print those that may receive promotional mail "
    "(suppressed ones are left out; blank lines too). Their number goes to stderr.",
)
@friendly_errors
def filter_cmd() -> None:
    settings, engine, factory = open_store()
    dropped = 0
    try:
        with factory() as session:
            batch: list[str] = []
            for line in [*sys.stdin, None]:
                if line is not None and line.strip():
                    batch.append(line.strip())
                if batch and (line is None or len(batch) >= _CHUNK):
                    allowed = suppression.mailable(session, settings.secret_key, batch)
                    dropped += len(batch) - len(allowed)
                    for email in allowed:
                        click.echo(email)
                    batch = []
    finally:
        engine.dispose()
    click.echo(f"{dropped} suppressed address(es) left out", err=True)


@suppressions_group.command(
    "export", help="Print the list as CSV: the address's keyed hash, why it is there, since when."
)
@friendly_errors
def export_cmd() -> None:
    _, engine, factory = open_store()
    try:
        with factory() as session:
            click.echo("email_hash,reason,created_at")
            for row in suppression.listing(session):
                click.echo(f"{row.email_hash},{row.reason},{row.created_at.isoformat()}")
    finally:
        engine.dispose()

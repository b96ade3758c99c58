"""`portal retention run`: apply the retention settings now (the server also does it hourly)."""

from __future__ import annotations

import click

from portal.cli.common import cli_ctx, friendly_errors
from portal.core.words import count
from portal.subjects import retention


@click.group(
    "retention", help="Delete and mask old site data as PORTAL_LOG_RETENTION_DAYS and PORTAL_IP_MASK_DAYS say"
)
def retention_group() -> None:
    pass


@retention_group.command(
    "run",
    help="Delete log records older than the retention window, mask IPs of unlinked records, expire "
    "stale quarantine lines, search preferences and identifiers. Each transaction is audited; "
    "a large backlog is worked through in several.",
)
@friendly_errors
def run_cmd() -> None:
    totals: dict[str, int] = {}
    runs = 0
    while True:
        # One transaction (and one audit entry) per capped run, so a backlog never holds the
        # store's write lock for long and every entry says exactly what its transaction did.
        with cli_ctx() as ctx:
            result = retention.run(ctx)
        runs += 1
        for key, value in result.counts().items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
        if result.complete:
            break
    click.echo(
        f"retention: cutoff {result.counts()['cutoff']}, IP mask cutoff "
        f"{result.counts()['mask_cutoff'] or 'never'} ({count(runs, 'audited run')})"
    )
    for key, value in totals.items():
        click.echo(f"  {key.replace('_', ' ')}: {value}")


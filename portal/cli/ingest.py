"""`portal ingest`: bring the site's access logs and events into the store."""

from __future__ import annotations

import os
import sys
import time

import click

from portal.cli.common import friendly_errors, open_store
from portal.core.priority import BACKGROUND_NICENESS, run_below_web
from portal.ingest.batches import BATCH_LINES
from portal.ingest.formats import FORMATS, Format


class _Progress:
    """Lines/s and, for files of known size, percent and ETA — on a terminal only."""

    def __init__(self, total_bytes: int | None) -> None:
        self.total, self.start, self.shown = total_bytes, time.monotonic(), 0.0

    def __call__(self, lines: int, offset: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.5:
            return
        self.shown = now
        rate = lines / max(now - self.start, 1e-6)
        text = f"\r{lines:,} lines, {rate:,.0f} lines/s"
        if self.total:
            done = min(offset / self.total, 1.0)
            eta = (now - self.start) * (1 - done) / done if done > 0 else 0
            text += f", {done:.0%}, ETA {eta:,.0f} s"
        click.echo(text.ljust(60), nl=False, err=True)

    def close(self) -> None:
        click.echo("", err=True)


@click.command(help="Read access logs or site events (files, .gz files, or - for stdin) into the store.")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None, help="Input format; detected when omitted."
)
@click.option("--site", default="", help="Name of the site the logs come from.")
@click.option("--strict", is_flag=True, help="Stop at the first rejected line (exit status 1).")
@click.option(
    "--batch-lines",
    default=BATCH_LINES,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Lines per transaction (each commit also records how far the file was read).",
)
@click.option(
    "--niceness",
    default=BACKGROUND_NICENESS,
    show_default=True,
    type=click.IntRange(0, 19),
    help="How far below the web workers' CPU priority to run (nice); 0 runs at the same priority.",
)
@friendly_errors
def ingest(
    paths: tuple[str, ...], fmt: Format | None, site: str, strict: bool, batch_lines: int, niceness: int
) -> None:
    from portal.ingest.pipeline import Ingest

    # An import keeps a core busy for as long as it reads; the people using the portal meanwhile
    # should not wait for it.
    run_below_web(niceness)
    settings, engine, factory = open_store()
    total = None
    if all(p != "-" and not p.endswith(".gz") for p in paths):
        total = sum(os.path.getsize(p) for p in paths if os.path.exists(p))
    progress = _Progress(total) if sys.stderr.isatty() else None
    try:
        run = Ingest(
            factory, settings, fmt=fmt, site=site, strict=strict, batch_lines=batch_lines, progress=progress
        )
        summary = run.run(list(paths), stdin=sys.stdin.buffer)
    finally:
        if progress:
            progress.close()
        engine.dispose()
    click.echo(summary.line())
    if summary.rejected:
        click.echo("Rejected lines are kept in quarantine (back-office: Ingest → Quarantine).", err=True)
        sys.exit(1)

"""`portal relink`: re-derive every link from identifying identifiers only (portal/ingest/relink.py)."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Any

import click

from portal.cli.common import cli_ctx, friendly_errors


class _Bars:
    """One progress bar per step of the relink, on a terminal only."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack, self.step, self.shown = stack, "", 0
        self.bar: Any = None
        self.enabled = sys.stderr.isatty()

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if step != self.step:
            if self.bar is not None:
                self.bar.render_finish()
            bar: Any = click.progressbar(length=max(total, 1), label=step.ljust(20), file=sys.stderr)
            self.bar, self.step, self.shown = self.stack.enter_context(bar), step, 0
        self.bar.update(done - self.shown)
        self.shown = done


@click.command(
    help="Re-derive every log record's subject from cookies that identify a browser (and site user "
    "ids) only: subjects joined through values strangers share (the search-preference cookie) are "
    "split, identifier rows of cookies that identify no one are deleted, search preferences follow "
    "the records. Safe to run again (it then changes nothing); audited with its counts."
)
@friendly_errors
def relink() -> None:
    from portal import audit
    from portal.ingest.relink import relink as run
    from portal.subjects import catalog

    with ExitStack() as stack, cli_ctx() as ctx:
        result = run(ctx, catalog.load(ctx), _Bars(stack))
        audit.record(ctx, "subject.relink", details=result.counts())
    for key, value in result.counts().items():
        click.echo(f"{key.replace('_', ' ')}: {value:,}")

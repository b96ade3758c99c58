"""The `portal` command."""

from __future__ import annotations

import sys

import click

from portal import __version__
from portal.cli.audit import audit
from portal.cli.common import cli_ctx, friendly_errors, open_store, private_paths
from portal.cli.ingest import ingest
from portal.cli.relink import relink
from portal.cli.requests import requests_group
from portal.cli.retention import retention_group
from portal.cli.serve import serve
from portal.cli.suppressions import suppressions_group
from portal.core.errors import ConfigError
from portal.core.files import loose_modes
from portal.core.settings import describe


@click.group(
    help="The privacy portal. Settings come from PORTAL_* environment variables "
    "(`portal settings` lists them)."
)
@click.version_option(__version__, prog_name="portal")
def main() -> None:
    pass


@main.command(help="List every setting, its default and what it does.")
def settings() -> None:
    click.echo(describe())


@main.group(help="Create and check the store's schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every migration up to the newest.")
@friendly_errors
def db_upgrade() -> None:
    from portal.core import migrations
    from portal.core.store import redacted

    settings, engine, _ = open_store()
    migrations.upgrade(engine)
    click.echo(f"store {redacted(settings.database_url)} is at migration {migrations.current(engine)}")
    engine.dispose()


@db.command(
    "check",
    help="Fail unless the store is migrated, the models match the migrations, no log record "
    "names a missing subject or ingest source (log_record has no foreign keys) and each subject's "
    "tally of log records is right; warn when the var directory, the store, the secret or the "
    "audit key can be read by others.",
)
@friendly_errors
def db_check() -> None:
    from portal.core import migrations
    from portal.ingest import integrity
    from portal.subjects import tally

    settings, engine, _ = open_store()
    for warning in loose_modes(private_paths(settings)):
        click.echo(f"warning: {warning}", err=True)
    try:
        heads = migrations.heads()
        if len(heads) != 1:
            raise ConfigError(f"migrations have {len(heads)} heads: {', '.join(heads)}")
        current = migrations.current(engine)
        if current != heads[0]:
            raise ConfigError(f"store is at {current}, newest migration is {heads[0]}")
        diff = migrations.differences(engine)
        if diff:
            for item in diff:
                click.echo(f"  {item}", err=True)
            raise ConfigError(f"models and migrations differ in {len(diff)} places")
        with engine.connect() as conn:
            orphans = integrity.orphans(conn)
            if orphans.total:
                raise ConfigError(f"orphaned log records: {orphans.describe()}")
            wrong = tally.mismatches(conn)
        if wrong:
            shown = ", ".join(f"subject {s}: {kept} counted, {n} held" for s, kept, n in wrong[:5])
            raise ConfigError(
                f"{len(wrong)} subjects' tallies of log records are wrong ({shown}); "
                "`portal db recount` sets them from the records"
            )
    finally:
        engine.dispose()
    click.echo(f"OK: store at {heads[0]}, models match migrations, no orphaned log records, tallies right")


@db.command(
    "recount",
    help="Set each subject's tally of log records (what \"My data\" shows) from the records "
    "themselves, e.g. after log_record was edited by hand.",
)
@friendly_errors
def db_recount() -> None:
    from portal.subjects import tally

    _, engine, _ = open_store()
    try:
        with engine.begin() as conn:
            wrong = tally.recount(conn)
    finally:
        engine.dispose()
    click.echo(f"{wrong} subjects' tallies of log records set from their records")


@main.group(help="Manage staff accounts.")
def staff() -> None:
    pass


@staff.command("add", help="Create a staff account (or change an account's role and password).")
@click.argument("email")
@click.option("--role", type=click.Choice(["agent", "admin"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@friendly_errors
def staff_add(email: str, role: str, password_stdin: bool) -> None:
    from portal.accounts import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with cli_ctx() as ctx:
        account = accounts.add_staff(ctx, email, role, password)
        click.echo(f"{account.email} is now {role}; they set up a second factor at first login")


@main.command(help="Load demo data (idempotent) and print the demo logins.")
@friendly_errors
def demo() -> None:
    from portal.demo import seed as demo_data

    settings, engine, factory = open_store()
    try:
        logins = demo_data.load(factory, settings)
    finally:
        engine.dispose()
    click.echo("Demo logins (demo data only, never use these passwords elsewhere):")
    for login in logins:
        click.echo(f"  {login.role:<6} {login.email:<28} {login.password}  {login.note}")


main.add_command(audit)
main.add_command(ingest)
main.add_command(relink)
main.add_command(retention_group)
main.add_command(requests_group)
main.add_command(serve)
main.add_command(suppressions_group)

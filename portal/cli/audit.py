"""`portal audit …`: verify the log, sign and export checkpoints, show entries, proofs and receipts."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
from sqlalchemy import text

from portal.audit import checkpoints, format_time, witness
from portal.audit.receipts import build_receipt, load_json, verify_receipt
from portal.audit.verifier import verify as verify_log
from portal.cli.common import cli_ctx, friendly_errors, open_store
from portal.core.errors import NotFound


@click.group(help="Check and prove the tamper-evident audit log.")
def audit() -> None:
    pass


@audit.command(
    help="Recompute every link, field, detail row and root; check every checkpoint, the newest one in "
    "the witness file (PORTAL_AUDIT_WITNESS_PATH) included. Exit 1 on any fault."
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint kept elsewhere: an exported file, a saved /.well-known/portal-audit-checkpoint "
    "or any receipt (catches truncation and rewrites below it).",
)
@click.option(
    "--from",
    "from_seq",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Check fields and links from this entry on (earlier entries count by stored hash).",
)
@friendly_errors
def verify(checkpoint_file: Path | None, from_seq: int) -> None:
    settings, engine, _ = open_store()
    try:
        public = checkpoints.load_or_create_key(settings.audit_key_path).public_key()
        external = checkpoints.import_file(checkpoint_file) if checkpoint_file else None
        try:
            witnessed = witness.newest(settings.witness_path)
        except checkpoints.CheckpointError as exc:
            click.echo(f"FAIL: {exc}")
            sys.exit(1)
        if witnessed is None:
            click.echo(
                f"warning: no witness file at {settings.witness_path}: removed or rewritten entries "
                "below the store's own checkpoints cannot be told from a log that never had them",
                err=True,
            )
        check = functools.partial(
            verify_log, engine, public, from_seq=from_seq, external=external, witnessed=witnessed
        )
        if sys.stderr.isatty():
            with click.progressbar(length=1, label="verifying", file=sys.stderr) as bar:

                def progress(done: int, total: int) -> None:
                    bar.length = max(total, 1)
                    bar.update(done - bar.pos)

                result = check(progress=progress)
        else:
            result = check()
    finally:
        engine.dispose()
    click.echo(result.summary())
    sys.exit(0 if result.ok else 1)


@audit.command(
    help="Sign a checkpoint of the log as it stands now (refused when the log does not extend the newest "
    "witnessed checkpoint) and append it to the witness file; optionally export it to a file."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the checkpoint here (keep it outside the database and its backups).",
)
@friendly_errors
def checkpoint(out: Path | None) -> None:
    with cli_ctx() as ctx:
        row = checkpoints.create_checkpoint(ctx)
        public = checkpoints.load_or_create_key(ctx.settings.audit_key_path).public_key()
    if out:
        checkpoints.export_file(row, public, out)
    click.echo(
        f"checkpoint {row.tree_size}@{format_time(row.created_at)} root {row.root_hash} "
        f"key {row.key_id}" + (f" written to {out}" if out else "")
    )


@audit.command(help="Print one entry: its stored fields, canonical bytes and (unless erased) details.")
@click.argument("seq", type=click.IntRange(min=1))
@friendly_errors
def show(seq: int) -> None:
    _, engine, _ = open_store()
    try:
        with engine.connect() as conn:
            row = (
                conn.execute(text("SELECT * FROM audit_entry WHERE seq = :s"), {"s": seq}).mappings().first()
            )
            detail = (
                conn.execute(text("SELECT details, erased_at FROM audit_detail WHERE seq = :s"), {"s": seq})
                .mappings()
                .first()
            )
    finally:
        engine.dispose()
    if row is None:
        raise NotFound(f"audit entry {seq} does not exist")
    out = {
        k: (v.decode() if isinstance(v, bytes) else str(v) if v is not None else None) for k, v in row.items()
    }
    out["details"] = json.loads(detail["details"]) if detail and detail["details"] is not None else None
    out["details_erased_at"] = str(detail["erased_at"]) if detail and detail["erased_at"] else None
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))


@audit.command(help="Print entry SEQ's inclusion proof against the newest checkpoint (a receipt), as JSON.")
@click.argument("seq", type=click.IntRange(min=1))
@friendly_errors
def proof(seq: int) -> None:
    with cli_ctx() as ctx:
        receipt = build_receipt(ctx, seq)
    click.echo(json.dumps(receipt, indent=2))


@audit.command("verify-receipt", help="Check a receipt file against this portal's public key.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file of the public key (default: this portal's own key).",
)
@friendly_errors
def verify_receipt_cmd(file: Path, public_key: Path | None) -> None:
    try:
        receipt = load_json(file.read_text())
    except ValueError as exc:
        click.echo(f"FAIL: not JSON: {exc}")
        sys.exit(1)
    if public_key is not None:
        key = checkpoints.load_public_key(public_key.read_bytes())
    else:
        settings, engine, _ = open_store()
        engine.dispose()
        key = checkpoints.load_or_create_key(settings.audit_key_path).public_key()
    ok, reason = verify_receipt(receipt, key)
    click.echo(("OK: " if ok else "FAIL: ") + reason)
    sys.exit(0 if ok else 1)

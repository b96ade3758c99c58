"""What outlives an erasure keeps the person erased: their address stays on the suppression list,
even after they register anew, and the site's later logs and events tie nothing to them again."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from portal.cli import main
from portal.core import mail
from portal.ingest.pipeline import Ingest
from portal.requests import waiting
from portal.subjects import suppression
from portal.subjects.cookies import REDACTED
from tests import logfactory as lf
from tests.conftest import Portal, Store
from tests.erasure_util import ask_erasure, hits, person, scalar
from tests.request_util import portal_with

ANN, BOB = "ann.erasure@example.org", "bob.stays@example.org"


def _erase(portal: Portal, email: str, marker: str, ip: str):  # type: ignore[no-untyped-def]
    ann = person(portal, email, marker, ip)
    request_id = ask_erasure(ann.client)
    assert waiting.run_due(portal.store.factory, portal.store.settings, portal.store.clock).completed == [
        request_id
    ]
    with portal.store.ctx() as ctx:
        mail.deliver_pending(ctx)  # the certificate: the last row that held her address
    return ann


def _suppressed(store: Store, email: str) -> bool:
    with store.factory() as session:
        return suppression.is_suppressed(session, store.settings.secret_key, email)


def test_the_address_stays_suppressed_after_erasure_and_registering_anew(cli_env: Store) -> None:
    with portal_with(cli_env, erasure_wait_days=0) as portal:
        assert not _suppressed(cli_env, ANN)
        _erase(portal, ANN, "annzq", "203.0.113.71")
        assert _suppressed(cli_env, ANN) and _suppressed(cli_env, "  Ann.Erasure@Example.ORG ")
        assert scalar(cli_env, "SELECT count(*) FROM suppression") == 1
        assert hits(cli_env, [ANN]) == []  # a keyed hash, never the address

        again = portal.client()
        portal.verified_user(again, ANN)  # she comes back: a new account, none of the old data
        assert again.get("/my").status_code == 200
        assert _suppressed(cli_env, ANN)
        with cli_env.factory() as session:
            assert suppression.mailable(session, cli_env.settings.secret_key, [BOB, ANN, "new@example.org"]) == [
                BOB, "new@example.org",
            ]  # fmt: skip

        runner = CliRunner()
        checked = runner.invoke(main, ["suppressions", "check", ANN, BOB])
        assert checked.exit_code == 0, checked.output
        assert f"{ANN}\tsuppressed" in checked.output and f"{BOB}\tmay be mailed" in checked.output
        filtered = runner.invoke(
            main, ["suppressions", "filter"], input=f"{BOB}\n{ANN.upper()}\n\nnew@example.org\n"
        )
        assert filtered.exit_code == 0
        assert filtered.stdout.splitlines() == [BOB, "new@example.org"]
        exported = runner.invoke(main, ["suppressions", "export"])
        assert exported.exit_code == 0
        lines = exported.output.splitlines()
        assert (
            lines[0] == "email_hash,reason,created_at"
            and len(lines) == 2
            and lines[1].split(",")[1] == "erasure"
        )
        assert ANN not in exported.output


def test_later_logs_and_events_tie_nothing_to_an_erased_person(store: Store, tmp_path: Path) -> None:
    with portal_with(store, erasure_wait_days=0) as portal:
        bob = person(portal, BOB, "bobzq", "203.0.113.72")
        ann = _erase(portal, ANN, "annzq", "203.0.113.71")
        subjects = scalar(store, "SELECT count(*) FROM subject")
        log = lf.write(tmp_path / "access.log", [
            lf.line(ip="192.0.2.9", cookies=f"site_id={ann.site_cookie}; search_pref=kung+fu"),
            lf.line(ip="192.0.2.9", cookies=f"site_id={ann.site_cookie}"),
            lf.line(ip="192.0.2.10", cookies=f"site_id={bob.site_cookie}"),
        ])  # fmt: skip
        Ingest(store.factory, store.settings, store.clock, fmt="combined_cookie").run([str(log)])  # type: ignore[arg-type]
        with store.engine.connect() as conn:
            got = conn.execute(
                text("SELECT ip, subject_id, cookies FROM log_record WHERE ip LIKE '192.0.2.%' ORDER BY id")
            ).all()
        # Her lines are kept for the site's own purposes, linked to nobody and without her cookie's value.
        assert [(ip, subject) for ip, subject, _ in got] == [
            ("192.0.2.9", None), ("192.0.2.9", None), ("192.0.2.10", bob.subject),
        ]  # fmt: skip
        assert all(REDACTED in cookies and ann.site_cookie not in cookies for _, _, cookies in got[:2])
        assert scalar(store, "SELECT count(*) FROM subject") == subjects  # no new subject for her cookie
        assert hits(store, [ann.site_cookie]) == []

        events = lf.write(tmp_path / "events.jsonl", [
            lf.event("login", site_user_id=ann.site_user, cookie_value="brand-new-cookie", time="2026-11-01T12:00:00Z"),
            lf.event("cookie_set", name="site_id", value=ann.site_cookie, time="2026-11-01T12:00:00Z"),
            lf.event("account", site_user_id=ann.site_user, email=ANN, adult_verified=True),
        ])  # fmt: skip
        Ingest(store.factory, store.settings, store.clock, fmt="events").run([str(events)])  # type: ignore[arg-type]
        assert hits(store, [ann.site_user, ann.site_cookie, "brand-new-cookie"]) == []
        assert scalar(store, "SELECT count(*) FROM subject") == subjects

"""The erasure engine erases every copy the registry names, and nothing of anyone else's: checked by
the registry's own queries, over every text cell of every table, in the SQLite file's bytes (secure
delete on, WAL checkpointed) and in the var directory. The audit log still verifies; the person
gets a signed deletion certificate that the receipt checkers accept, and a tampered one they refuse.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.engine import make_url

from portal.audit import verifier
from portal.audit.checkpoints import load_or_create_key
from portal.audit.receipts import verify_receipt
from portal.cli import main
from portal.core import mail
from portal.requests import waiting
from portal.subjects import registry
from tests.conftest import STRONG_PASSWORD, Portal, Store
from tests.erasure_util import ask_erasure, database_bytes, files_holding, hits, owned, person, rows, scalar
from tests.request_util import portal_with, status_of

ANN, BOB = "ann.erasure@example.org", "bob.stays@example.org"


def _certificate(body: str) -> dict:  # type: ignore[type-arg]
    start = body.index("-----BEGIN DELETION CERTIFICATE-----") + len("-----BEGIN DELETION CERTIFICATE-----")
    return json.loads(body[start : body.index("-----END DELETION CERTIFICATE-----")])  # type: ignore[no-any-return]


def _run(portal: Portal) -> waiting.RunDue:
    return waiting.run_due(portal.store.factory, portal.store.settings, portal.store.clock)


def test_erasure_leaves_nothing_of_the_person_and_everything_of_others(store: Store) -> None:
    with portal_with(store, erasure_wait_days=0) as portal:
        ann = person(portal, ANN, "annzq", "203.0.113.71")
        bob = person(portal, BOB, "bobzq", "203.0.113.72")
        with store.engine.connect() as conn:
            found = registry.scope(conn, store.settings.secret_key, ann.subject)
        request_id = ask_erasure(ann.client)
        with store.ctx() as ctx:
            mail.deliver_pending(ctx)  # everyone's mail so far is sent: only hers may change now
        mine = owned(store, found)
        assert all(mine[c.table] for c in registry.CATEGORIES if c.key != "link_tokens"), mine
        before = rows(store)
        result = _run(portal)
        assert result.completed == [request_id], result
        assert status_of(store, request_id) == "completed"
        certificate = _certificate(portal.outbox(ANN)[-1][1])
        with store.ctx() as ctx:
            mail.deliver_pending(ctx)  # the certificate mail goes, and its row with it
        assert portal.outbox(ANN) == []

        # The registry finds nothing of her; her rows that stay (the record of her requests, the
        # audit chain) hold nothing personal any more.
        after = rows(store)
        with store.engine.connect() as conn:
            for category in registry.CATEGORIES:
                left = conn.execute(registry.keys(category, found)).all()
                assert left == [] or category.erasure != "delete", (category.key, left)
                kept = [after[category.table].get(key) for key in mine[category.table]]
                if category.erasure == "delete":
                    assert kept == [None] * len(kept), category.key
                elif category.erasure == "blank":
                    assert all(
                        row is not None and all(row[n] is None for n in category.personal) for row in kept
                    )
                else:
                    assert kept == [before[category.table][key] for key in mine[category.table]], category.key
        blanked = [row for row in after["audit_detail"].values() if row["details"] is None]
        assert len(blanked) >= 10
        assert all(row["salt"] is None and row["erased_at"] is not None for row in blanked)

        # Not a copy left: every text cell of every table, the file's bytes, the var directory.
        assert hits(store, ann.needles) == []
        db = Path(make_url(store.settings.database_url).database or "x")
        if store.kind == "sqlite":
            data = database_bytes(store).lower()
            assert [n for n in ann.needles if n.lower().encode() in data] == []
        assert files_holding(store.settings.var_dir, ann.needles, skip=db) == []

        # Everyone else's rows are byte for byte what they were.
        for table, was in before.items():
            for key, row in was.items():
                if key in mine.get(table, set()):
                    continue
                assert after[table].get(key) == row, (table, key)
        assert scalar(store, "SELECT count(*) FROM log_record WHERE ip = :ip", ip=bob.ip) == 12

        # The audit log still verifies, her entries' details erased the way the verifier expects.
        public = load_or_create_key(store.settings.audit_key_path).public_key()
        assert verifier.verify(store.engine, public).ok
        assert ANN not in json.dumps(certificate)
        deleted = {d["category"]: d["rows"] for d in certificate["statement"]["deleted"]}
        assert deleted["log_records"] == len(mine["log_record"]) == 42

        # She can no longer log in; he still can.
        gone = portal.client()
        r = gone.submit("/login", {"email": ANN, "password": STRONG_PASSWORD})
        assert r.status_code != 303
        assert ann.client.get("/my/requests", follow_redirects=False).status_code in (302, 303)
        assert bob.client.get("/my").status_code == 200


def _more_rows(cert: dict) -> None:  # type: ignore[type-arg]
    cert["statement"]["deleted"][0]["rows"] += 1


def _other_time(cert: dict) -> None:  # type: ignore[type-arg]
    cert["statement"]["completed_at"] = "2020-01-01T00:00:00.000000Z"


def _other_receipt(cert: dict) -> None:  # type: ignore[type-arg]
    cert["receipt"]["seq"] += 1


def test_the_certificate_checks_out_and_a_tampered_one_does_not(cli_env: Store, tmp_path: Path) -> None:
    with portal_with(cli_env, erasure_wait_days=0) as portal:
        ann = person(portal, ANN, "annzq", "203.0.113.71")
        request_id = ask_erasure(ann.client)
        assert _run(portal).completed == [request_id]
        subject, body = portal.outbox(ANN)[-1]
        assert "deletion certificate" in subject and "Access-log records: 42" in body
        assert "Art. 21(3)" in body  # the legal basis of what is kept
        certificate = _certificate(body)
        stated = certificate["statement"]
        assert stated["request"] == request_id and stated["completed_at"].startswith(
            str(cli_env.clock.now().date())
        )
        deleted = {d["category"]: d["rows"] for d in stated["deleted"]}
        assert deleted["account"] == 1 and deleted["identifiers"] == 3 and deleted["sessions"] >= 1
        assert deleted["search_preferences"] == 3 and deleted["exports"] == 1
        assert {k["what"] for k in stated["kept"]} >= {"Audit entries about you", "Your requests"}
        public = load_or_create_key(cli_env.settings.audit_key_path).public_key()
        ok, summary = verify_receipt(certificate, public)
        assert ok and f"deletion certificate of request {request_id}" in summary, summary
        for tamper in (_more_rows, _other_time, _other_receipt):
            bad = copy.deepcopy(certificate)
            tamper(bad)
            assert verify_receipt(bad, public)[0] is False, tamper.__name__

        good = tmp_path / "certificate.json"
        good.write_text(json.dumps(certificate))
        result = CliRunner().invoke(main, ["audit", "verify-receipt", str(good)])
        assert result.exit_code == 0 and "deletion certificate" in result.output, result.output
        bad = copy.deepcopy(certificate)
        _more_rows(bad)
        tampered = tmp_path / "tampered.json"
        tampered.write_text(json.dumps(bad))
        result = CliRunner().invoke(main, ["audit", "verify-receipt", str(tampered)])
        assert result.exit_code != 0 and "signature does not verify" in result.output
        client = portal.client()
        page = client.submit("/receipts/verify", {"receipt": json.dumps(certificate)})
        assert page.status_code == 200 and "deletion certificate of request" in page.text
        page = client.submit("/receipts/verify", {"receipt": json.dumps(bad)})
        assert "signature does not verify" in page.text

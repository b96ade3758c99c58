"""The audit viewer: filters, one entry with its proof checked, the whole log verified in the background
with its progress (htmx polls; without JavaScript the page refreshes), the newest checkpoint."""

from __future__ import annotations

import json
import re
import time

from sqlalchemy import text

from portal import audit
from portal.audit import checkpoints, receipts
from portal.models import AuditVerifyRun
from tests.conftest import Client, Portal
from tests.staff_util import staff


def _seqs(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<a href="/staff/audit/(\d+)">', page)]


def _record(portal: Portal, action: str, actor: str, subject_id: int | None = None) -> int:
    with portal.store.ctx(actor) as ctx:
        return audit.record(ctx, action, subject_id=subject_id, details={"n": 1}).seq


def test_entries_filter_by_actor_action_subject_and_time(portal: Portal) -> None:
    early = _record(portal, "request.approved", "account:77", subject_id=5)
    portal.store.clock.advance(days=3)
    late = _record(portal, "request.denied", "account:78", subject_id=6)
    other = _record(portal, "consent.email.off", "system", subject_id=5)
    admin, _ = staff(portal, "admin@example.org", "admin")  # signing in writes entries of its own
    page = admin.get("/staff/audit").text
    assert [s for s in _seqs(page) if s <= other][:3] == [other, late, early]  # newest first
    assert _seqs(admin.get("/staff/audit?actor=account:77").text) == [early]
    assert _seqs(admin.get("/staff/audit?action=request.").text) == [late, early]
    ref = audit.subject_ref(portal.store.settings.secret_key, 5)
    assert _seqs(admin.get(f"/staff/audit?subject={ref}").text) == [other, early]
    day = portal.store.clock.now().date().isoformat()
    assert set(_seqs(admin.get(f"/staff/audit?from={day}&to={day}").text)) >= {late, other}
    assert early not in _seqs(admin.get(f"/staff/audit?from={day}").text)
    bad = admin.get("/staff/audit?from=yesterday")
    assert bad.status_code == 400 and "Use a date like" in bad.text
    # Keyset pages of 50, newest first.
    for i in range(60):
        _record(portal, "bulk.test", "system")
    first = _seqs(admin.get("/staff/audit?action=bulk.").text)
    older = re.search(r'<a href="([^"]+)" rel="next">', admin.get("/staff/audit?action=bulk.").text).group(1)
    second = _seqs(admin.get(older.replace("&amp;", "&")).text)
    assert len(first) == 50 and len(second) == 10 and max(second) < min(first)


def test_an_entry_shows_its_checked_inclusion_proof_and_receipt(portal: Portal) -> None:
    admin, _ = staff(portal, "admin@example.org", "admin")
    seq = _record(portal, "request.completed", "account:9", subject_id=3)
    page = admin.get(f"/staff/audit/{seq}")
    assert page.status_code == 200 and '<span class="ok">Verified</span>' in page.text
    assert "request.completed" in page.text and "&#34;n&#34;: 1" in page.text
    receipt = json.loads(admin.get(f"/staff/audit/{seq}/receipt.json").text)
    public = checkpoints.load_or_create_key(portal.store.settings.audit_key_path).public_key()
    assert receipts.verify_receipt(receipt, public)[0]
    assert admin.get("/staff/audit/99999").status_code == 404

    r = admin.get("/staff/audit/checkpoint.json")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    signed = checkpoints.SignedCheckpoint.from_json(r.json())
    assert checkpoints.signature_ok(public, signed) and signed.parsed[1] >= seq


def _wait(client: Client, path: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = client.get(path, headers={"HX-Request": "true"})
        assert page.headers["vary"] == "HX-Request, Cookie" or "HX-Request" in page.headers["vary"]
        if "hx-trigger" not in page.text:
            return page.text
        time.sleep(0.05)
    raise AssertionError("the verification did not finish")


def test_verifying_the_whole_log_runs_in_the_background_and_reports_its_result(portal: Portal) -> None:
    admin, _ = staff(portal, "admin@example.org", "admin")
    for i in range(5):
        _record(portal, "x.test", "system")
    r = admin.submit("/staff/audit/verify", form_page="/staff/audit")
    assert r.status_code == 303
    run_path = r.headers["location"]
    fragment = _wait(admin, run_path)
    assert fragment.lstrip().startswith('<section id="verify-run"') and "<html" not in fragment
    assert "The log verifies" in fragment and "OK:" in fragment and 'value="100"' in fragment
    assert "The log verifies" in admin.get(run_path).text
    assert "passed" in admin.get("/staff/audit").text
    actions = portal.store.scalar("SELECT count(*) FROM audit_entry WHERE action LIKE 'audit.verify_%'")
    assert actions == 2

    with portal.store.engine.begin() as conn:  # tamper with an entry: the next run says so
        conn.execute(text("UPDATE audit_entry SET actor = 'account:666' WHERE seq = 2"))
    r = admin.submit("/staff/audit/verify", form_page="/staff/audit")
    fragment = _wait(admin, r.headers["location"])
    assert "The log does not verify" in fragment and "FAIL at seq 2" in fragment


def test_a_run_in_progress_is_polled_or_refreshed_and_a_dead_one_is_shown_stalled(portal: Portal) -> None:
    admin, _ = staff(portal, "admin@example.org", "admin")
    now = portal.store.clock.now()
    with portal.store.ctx() as ctx:
        row = AuditVerifyRun(actor="account:1", started_at=now, updated_at=now, checked=20000, total=80000)
        ctx.session.add(row)
        ctx.session.flush()
        run_id = row.id
    page = admin.get(f"/staff/audit/verify/{run_id}").text
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page  # no JavaScript: refresh
    assert 'hx-trigger="every 1s"' in page and 'value="25"' in page and "20,000 of 80,000" in page
    # A second start while it moves joins it instead of starting another.
    r = admin.submit("/staff/audit/verify", form_page="/staff/audit")
    assert r.headers["location"] == f"/staff/audit/verify/{run_id}"
    portal.store.clock.advance(minutes=3)
    admin, _ = staff(portal, "admin2@example.org", "admin")
    page = admin.get(f"/staff/audit/verify/{run_id}").text
    assert "Stalled" in page and "http-equiv" not in page and "hx-trigger" not in page
    r = admin.submit("/staff/audit/verify", form_page="/staff/audit")
    assert r.headers["location"] != f"/staff/audit/verify/{run_id}"
    _wait(admin, r.headers["location"])

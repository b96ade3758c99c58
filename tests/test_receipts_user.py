"""A user's own receipts through the ASGI app: listed, shown, downloaded, verified; nobody else's."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from portal.audit import checkpoints
from portal.audit.receipts import verify_receipt
from tests.conftest import Portal
from tests.consent_util import audit_rows, user

TOOL = Path(__file__).resolve().parent.parent / "tools" / "verify_receipt.py"


def _change(client, field: str = "marketing", value: str = "off") -> int:  # type: ignore[no-untyped-def]
    assert client.submit("/my/consent", {"field": field, "value": value}).status_code == 303
    match = re.search(r'href="/my/receipts/(\d+)"', client.get("/my/consent").text)
    assert match
    return int(match.group(1))


def test_receipt_page_download_and_offline_check(portal: Portal, tmp_path: Path) -> None:
    client, _subject = user(portal, "nia@example.com")
    seq = _change(client)

    listing = client.get("/my/receipts")
    assert listing.status_code == 200 and f'href="/my/receipts/{seq}"' in listing.text
    assert "Stopped marketing use of your data" in listing.text and "Created your account" in listing.text

    page = client.get(f"/my/receipts/{seq}")
    assert page.status_code == 200
    assert f"Receipt no. {seq}" in page.text and "Stopped marketing use of your data" in page.text
    assert "consent.marketing.off" not in page.text  # the code is in the JSON receipt, not on the page
    assert f'href="/my/receipts/{seq}.json"' in page.text

    r = client.get(f"/my/receipts/{seq}.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"] == f'attachment; filename="receipt-{seq}.json"'
    receipt = r.json()
    assert receipt["seq"] == seq and receipt["entry_hash"] in page.text
    public = checkpoints.load_or_create_key(portal.store.settings.audit_key_path).public_key()
    assert verify_receipt(receipt, public)[0]

    path = tmp_path / f"receipt-{seq}.json"
    path.write_bytes(r.content)
    key = tmp_path / "key.pem"
    key.write_text(client.get("/.well-known/portal-audit-key").text)
    done = subprocess.run([sys.executable, "-I", str(TOOL), str(path), str(key)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: entry {seq} (consent.marketing.off")


def test_another_users_receipt_is_a_404_identical_to_a_missing_one_and_audited(portal: Portal) -> None:
    owner, _ = user(portal, "ola@example.com")
    seq = _change(owner)
    intruder, _ = user(portal, "pat@example.com")
    intruder_id = portal.store.scalar("SELECT id FROM account WHERE email = 'pat@example.com'")
    missing = 10_000
    before = len(audit_rows(portal, "access.denied"))

    for suffix in ("", ".json"):
        theirs = intruder.get(f"/my/receipts/{seq}{suffix}")
        nothing = intruder.get(f"/my/receipts/{missing}{suffix}")
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.text == nothing.text and "Page not found" in theirs.text
        assert theirs.headers.get("content-type") == nothing.headers.get("content-type")
    # A sequence number past what the store's integers hold names no entry: like /my/receipts/abc it
    # matches no route (a plain 404, nothing to audit), never a crash.
    assert intruder.get(f"/my/receipts/{2**40}").status_code == 404
    assert intruder.get(f"/my/receipts/{2**31 - 1}").status_code == 404

    denied = audit_rows(portal, "access.denied")[before:]
    assert len(denied) == 5
    assert all(actor == f"account:{intruder_id}" for _s, _a, actor, _d in denied)
    assert {json.loads(d)["seq"] for *_x, d in denied} == {seq, missing, 2**31 - 1}
    # The owner still gets theirs; an anonymous visitor is sent to log in.
    assert owner.get(f"/my/receipts/{seq}.json").status_code == 200
    anon = portal.client().get(f"/my/receipts/{seq}.json", follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login")


def test_my_receipts_lists_only_my_entries(portal: Portal) -> None:
    a, _ = user(portal, "quin@example.com")
    b, _ = user(portal, "rae@example.com")
    seq_a = _change(a, "email", "off")
    seq_b = _change(b, "email", "off")
    page = a.get("/my/receipts").text
    assert f'href="/my/receipts/{seq_a}"' in page and f'href="/my/receipts/{seq_b}"' not in page

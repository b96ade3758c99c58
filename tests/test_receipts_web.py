"""The public receipt pages: the audit key and the receipt checker, as a browser would use them."""

from __future__ import annotations

import json

from portal import audit
from portal.audit import checkpoints
from portal.audit.receipts import build_receipt
from portal.web.my.verification import ROUTES
from tests.conftest import Portal


def _app_with_receipts(portal: Portal) -> None:
    # Until the app's route table includes these routes, add them to this test's app.
    names = {getattr(r, "name", None) for r in portal.app.router.routes}  # type: ignore[attr-defined]
    if "receipts.verify" not in names:
        portal.app.router.routes.extend(ROUTES)  # type: ignore[attr-defined]


def test_audit_key_is_published(portal: Portal) -> None:
    _app_with_receipts(portal)
    r = portal.client().get("/.well-known/portal-audit-key")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    public = checkpoints.load_or_create_key(portal.store.settings.audit_key_path).public_key()
    kid = checkpoints.key_id(public)
    assert r.headers["x-portal-audit-key-id"] == kid
    assert r.text.startswith("-----BEGIN PUBLIC KEY-----") and f"key-id: {kid}" in r.text
    assert checkpoints.key_id(checkpoints.load_public_key(r.text)) == kid


def test_receipt_checker_page(portal: Portal) -> None:
    _app_with_receipts(portal)
    store = portal.store
    for i in range(5):
        with store.ctx(actor="account:3") as ctx:
            audit.record(ctx, "request.created", subject_id=3, details={"i": i})
    with store.ctx() as ctx:
        receipt = build_receipt(ctx, 2)
    client = portal.client()
    page = client.get("/receipts/verify")
    assert (
        page.status_code == 200
        and 'name="receipt"' in page.text
        and 'enctype="multipart/form-data"' in page.text
    )

    r = client.submit("/receipts/verify", {"receipt": json.dumps(receipt)})
    assert r.status_code == 200 and "The receipt is valid" in r.text, r.text
    assert "entry 2 (“Recorded an event (request)” at" in r.text

    bad = receipt | {"entry_hash": "0" * 64}
    r = client.submit("/receipts/verify", {"receipt": json.dumps(bad)})
    assert "The receipt is not valid" in r.text and "entry hash is not the hash" in r.text

    r = client.submit("/receipts/verify", {"receipt": "{not json"})
    assert "it is not valid JSON" in r.text and 'aria-invalid="true"' in r.text

    token = client.csrf("/receipts/verify")
    r = client.post(
        "/receipts/verify",
        data={"csrf_token": token, "receipt": ""},
        files={"receipt_file": ("receipt.json", json.dumps(receipt).encode(), "application/json")},
    )
    assert r.status_code == 200 and "The receipt is valid" in r.text, r.text

    # Without the CSRF token the form is refused.
    assert client.post("/receipts/verify", data={"receipt": "{}"}).status_code == 403

"""Public pages for receipts: the audit key, and a form that checks a receipt."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from portal.audit import witness
from portal.audit.checkpoints import CheckpointError, key_id, load_or_create_key, public_pem, published
from portal.audit.receipts import load_json, verify_receipt
from portal.web.common import field, form, mailed, render

MAX_RECEIPT = 64 * 1024


async def audit_key(request: Request) -> Response:
    """The public key that signs checkpoints, as PEM; its id follows the block and is in a header."""
    public = load_or_create_key(request.app.state.settings.audit_key_path).public_key()
    kid = key_id(public)
    return PlainTextResponse(
        public_pem(public) + f"key-id: {kid}\n",
        headers={"X-Portal-Audit-Key-Id": kid, "Cache-Control": "public, max-age=3600"},
    )


async def witnessed_checkpoint(request: Request) -> Response:
    """The newest witnessed checkpoint, with the public key: save it, and later `portal audit verify
    --checkpoint FILE` proves the log still holds what it held then."""
    settings = request.app.state.settings
    try:
        newest = await run_in_threadpool(witness.newest, settings.witness_path)
    except CheckpointError:
        newest = None
    if newest is None:
        return JSONResponse({"error": "no checkpoint has been signed yet"}, status_code=404)
    public = load_or_create_key(settings.audit_key_path).public_key()
    return JSONResponse(published(newest, public), headers={"Cache-Control": "no-cache"})


async def verify_page(request: Request) -> Response:
    context: dict[str, Any] = {"receipt": "", "errors": {}, "result": None}
    if request.method == "POST":
        data = await form(request)
        text = field(data, "receipt", limit=MAX_RECEIPT)
        upload = data.get("receipt_file")
        if isinstance(upload, UploadFile) and upload.filename:
            text = (await upload.read(MAX_RECEIPT + 1)).decode("utf-8", "replace")
        context["receipt"] = text[:MAX_RECEIPT]
        context.update(_check(request, text))
    return render(request, "public/receipts_verify.html", context, status_code=200)


def _check(request: Request, text: str) -> dict[str, Any]:
    if not text.strip():
        return {"errors": {"receipt": "Paste a receipt or choose a receipt file."}}
    if len(text) > MAX_RECEIPT:
        return {"errors": {"receipt": "That is too large to be a receipt."}}
    try:
        receipt = load_json(text)
    except ValueError:
        return {"errors": {"receipt": "That is not a receipt: it is not valid JSON."}}
    public = load_or_create_key(request.app.state.settings.audit_key_path).public_key()
    ok, reason = verify_receipt(receipt, public)
    return {"result": {"ok": ok, "reason": reason, "key_id": key_id(public)}}


ROUTES = [
    Route("/.well-known/portal-audit-key", audit_key, name="receipts.key", methods=["GET"]),
    Route(
        "/.well-known/portal-audit-checkpoint",
        witnessed_checkpoint,
        name="receipts.checkpoint",
        methods=["GET"],
    ),
    # Mailed (with deletion certificates), so its path is fixed in portal/core/links.py.
    mailed("receipts.verify", verify_page, ["GET", "POST"]),
]

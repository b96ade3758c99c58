"""Signed statements about a completed request (the erasure's deletion certificate), checkable
offline like a receipt, which each one carries.

A certificate is
    {"format": FORMAT, "statement": {...}, "key_id", "signature", "receipt": <receipt>}
where `signature` is Ed25519, with the audit key that signs checkpoints, over the RFC 8785 bytes of
    {"format": FORMAT, "statement": <statement>, "entry_hash": <the receipt's entry hash>}
and the receipt proves that entry (the request's completion) is in the signed log. The statement's
`completed_at` and `subject` must be that entry's time and pseudonym, so neither half can be moved
onto the other half of another certificate. `verify_receipt` (so `/receipts/verify` and
`portal audit verify-receipt`) accepts certificates too.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from portal.audit import receipts
from portal.audit.checkpoints import key_id, load_or_create_key
from portal.core.context import Ctx

FORMAT = receipts.CERTIFICATE_FORMAT
COMPLETION = "request.completed"


def _signed_bytes(statement: dict[str, Any], entry_hash: str) -> bytes:
    return rfc8785.dumps({"format": FORMAT, "statement": statement, "entry_hash": entry_hash})


def issue(ctx: Ctx, statement: dict[str, Any], seq: int) -> dict[str, Any]:
    """The certificate for `statement`, with the receipt of audit entry `seq` (its completion)."""
    receipt = receipts.build_receipt(ctx, seq)
    key = load_or_create_key(ctx.settings.audit_key_path)
    signature = key.sign(_signed_bytes(statement, receipt["entry_hash"]))
    return {
        "format": FORMAT,
        "statement": statement,
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(signature).decode(),
        "receipt": receipt,
    }


def check(certificate: dict[str, Any], public: Ed25519PublicKey) -> str:
    """A summary if the certificate is intact and signed by `public`; ValueError (or KeyError,
    TypeError) naming what is wrong otherwise."""
    statement, receipt = certificate["statement"], certificate["receipt"]
    if not isinstance(statement, dict) or not isinstance(receipt, dict):
        raise ValueError("statement and receipt must be objects")
    kid = key_id(public)
    if certificate["key_id"] != kid:
        raise ValueError(f"certificate names key {certificate['key_id']}, expected {kid}")
    try:
        public.verify(
            base64.b64decode(certificate["signature"], validate=True),
            _signed_bytes(statement, str(receipt["entry_hash"])),
        )
    except InvalidSignature:
        raise ValueError(
            "the certificate's signature does not verify: it was altered or not signed by this key"
        ) from None
    proved = receipts.check_receipt(receipt, public)
    entry = json.loads(base64.b64decode(receipt["canonical"], validate=True))
    if entry.get("action") != COMPLETION:
        raise ValueError(f"its receipt is for a {entry.get('action')!r} entry, not a request's completion")
    if entry.get("at") != statement.get("completed_at") or entry.get("subject") != statement.get("subject"):
        raise ValueError("the statement's completion time or subject differs from its audit entry")
    return (
        f"deletion certificate of request {statement.get('request')}, completed at "
        f"{statement.get('completed_at')}, signed by key {kid}; {proved}"
    )

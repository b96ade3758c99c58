"""Small primitives every area shares: random tokens, digests and keyed pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def random_token(nbytes: int = 32) -> str:
    """URL-safe random token; 32 bytes = 256 bits."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def keyed_hash(secret: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` under the server secret, separated by purpose."""
    return hmac.new(secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())

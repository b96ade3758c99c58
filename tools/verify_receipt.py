#!/usr/bin/env python3
"""Check a privacy-portal audit receipt with nothing but the Python standard library.

    python3 verify_receipt.py RECEIPT.json [PUBLIC_KEY]

PUBLIC_KEY is the portal's key as published at /.well-known/portal-audit-key: a file holding
the PEM block (or 64 hex digits, or base64 of the 32 raw bytes), or that text itself. Without
it, the key inside the receipt is used, which only proves the receipt is self-consistent:
compare its key id with the published one. Exit status 0 means the receipt is valid.

What is checked: the checkpoint's Ed25519 signature (RFC 8032), that the entry's canonical bytes
hash to the entry hash (RFC 6962 leaf hash), and that the inclusion proof leads from that leaf
to the signed root (RFC 9162 section 2.1.3.2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
from pathlib import Path

# ---- Ed25519 verification, after the reference code in RFC 8032 section 6 -------------------

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]


def _add(a: Point, b: Point) -> Point:
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    d = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f, g * h, f * g, e * h)


def _mul(s: int, pt: Point) -> Point:
    acc: Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        s >>= 1
    return acc


def _equal(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(s: bytes) -> Point | None:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
assert _GX is not None
G: Point = (_GX, _GY, 1, _GX * _GY % P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % Q
    return _equal(_mul(s, G), _add(r, _mul(h, a)))


# ---- RFC 6962 / 9162 ---------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes | None:
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


# ---- the receipt -------------------------------------------------------------------------------

SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")


def parse_public_key(text: str) -> bytes:
    text = text.strip()
    if "-----BEGIN" in text:
        block = text[text.index("-----BEGIN") : text.index("-----END")]
        lines = [ln for ln in block.splitlines() if ln and not ln.startswith("-----")]
        der = base64.b64decode("".join(lines))
        if len(der) != 44 or not der.startswith(SPKI_ED25519_PREFIX):
            raise ValueError("PEM block is not an Ed25519 public key")
        return der[12:]
    if len(text) == 64:
        return bytes.fromhex(text)
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("public key must be 32 bytes")
    return raw


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def check(receipt: dict, public: bytes) -> str:
    """A one-line description of what the receipt proves; ValueError saying what is wrong."""
    kid = key_id(public)
    if receipt.get("key_id") != kid:
        raise ValueError(f"receipt names key {receipt.get('key_id')}, expected {kid}")
    cp = receipt["checkpoint"]
    body = cp["body"]
    if not ed25519_verify(public, body.encode(), base64.b64decode(cp["signature"], validate=True)):
        raise ValueError(f"checkpoint signature does not verify with key {kid}")
    lines = body.split("\n")
    if len(lines) != 5 or lines[4] or not lines[1].isdigit():
        raise ValueError("checkpoint body is malformed")
    origin, size, root, at = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True), lines[3]
    seq, index = int(receipt["seq"]), int(receipt["leaf_index"])
    if index != seq - 1 or int(receipt["tree_size"]) != size:
        raise ValueError("leaf index or tree size does not match the entry and checkpoint")
    canonical = base64.b64decode(receipt["canonical"], validate=True)
    entry = json.loads(canonical)
    if not isinstance(entry, dict) or entry.get("seq") != seq:
        raise ValueError("canonical bytes are not the entry with this sequence number")
    leaf = leaf_hash(canonical)
    if leaf.hex() != receipt["entry_hash"]:
        raise ValueError("entry hash is not the hash of the canonical bytes")
    proof = [bytes.fromhex(h) for h in receipt["inclusion_proof"]]
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ValueError("inclusion proof does not lead to the checkpoint's root")
    return (
        f"entry {seq} ({entry.get('action')} at {entry.get('at')}) is in the log of {origin}, "
        f"{size} entries, signed by key {kid} at {at}"
    )


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        receipt = json.loads(Path(argv[1]).read_text())
        if len(argv) == 3:
            source = Path(argv[2]).read_text() if Path(argv[2]).is_file() else argv[2]
            public = parse_public_key(source)
        else:
            public = base64.b64decode(receipt["public_key"], validate=True)
            print(
                f"note: using the key inside the receipt ({key_id(public)}); "
                "compare it with the portal's published key id",
                file=sys.stderr,
            )
        print("OK: " + check(receipt, public))
        return 0
    except (OSError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        print(f"FAIL: {reason}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

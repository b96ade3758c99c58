"""TOTP second factor for staff (RFC 6238 via pyotp), with replay protection."""

from __future__ import annotations

import pyotp
import segno

from portal.core.context import Ctx
from portal.models import Account

ISSUER = "Privacy portal"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(account: Account, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """Inline SVG markup (no scripts, no styles), so the page keeps a strict CSP."""
    return segno.make(uri, error="m").svg_inline(
        scale=4, dark="#111", light="#fff", title="QR code of the key for your authenticator app"
    )


def check_code(ctx: Ctx, account: Account, secret: str, code: str) -> bool:
    """Accept a code once: a step already used (or older) is refused."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(secret)
    now_ts = ctx.now.timestamp()
    for drift in (0, -1, 1):  # one step of clock drift either way
        step = totp.timecode(ctx.now) + drift
        if totp.verify(code, for_time=now_ts + drift * totp.interval, valid_window=0):
            if account.totp_last_step is not None and step <= account.totp_last_step:
                return False
            account.totp_last_step = step
            return True
    return False

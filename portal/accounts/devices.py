"""Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies").

A browser that signed in to an account before carries a token for that account's email: a random
nonce and an HMAC of email and nonce under the server secret. Guesses from such a browser count
against the token's own budget, not against the account's, so a stranger guessing the password
from elsewhere locks out the clients the account does not know, never its owner's browser. A token
says nothing by itself (no email, no id) and works only for the email it was made for.

One cookie holds the tokens of the last few accounts signed in from the browser.
"""

from __future__ import annotations

import hmac

from portal.core.context import Ctx
from portal.core.crypto import keyed_hash, random_token

MAX_TOKENS = 3
MAX_COOKIE = 400
_SEP = "~"


def _mac(ctx: Ctx, email: str, nonce: str) -> str:
    return keyed_hash(ctx.settings.secret_key, "device", f"{email}\x00{nonce}")[:40]


def _tokens(cookie: str | None) -> list[tuple[str, str]]:
    if not cookie or len(cookie) > MAX_COOKIE:
        return []
    pairs = [token.partition(".") for token in cookie.split(_SEP)[:MAX_TOKENS]]
    return [(nonce, mac) for nonce, dot, mac in pairs if dot and nonce and mac.isascii()]


def trusted_nonce(ctx: Ctx, cookie: str | None, email: str) -> str | None:
    """The nonce of this browser's token for `email`, when it carries a genuine one."""
    for nonce, mac in _tokens(cookie):
        if hmac.compare_digest(mac, _mac(ctx, email, nonce)):
            return nonce
    return None


def issue(ctx: Ctx, cookie: str | None, email: str) -> str:
    """The cookie after a successful sign-in: a fresh token for `email` first, the others kept."""
    nonce = random_token(16)
    others = [f"{n}.{m}" for n, m in _tokens(cookie) if not hmac.compare_digest(m, _mac(ctx, email, n))]
    return _SEP.join([f"{nonce}.{_mac(ctx, email, nonce)}", *others][:MAX_TOKENS])

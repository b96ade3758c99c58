"""Recovery codes: ten single-use codes a staff member can enter instead of a TOTP code.

They are shown once, when made, and stored only as keyed hashes (HMAC under the server secret, with
the account in the message), in `link_token` rows of purpose "recovery": like a mailed link they are
single-use secrets of one account, deleted with it. Each code carries 80 random bits, so a hash
cannot be turned back into a code, and guesses share the second factor's throttle.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlmodel import col

from portal import audit
from portal.accounts import throttle
from portal.accounts.sessions import Current
from portal.accounts.staffing import RECOVERY
from portal.core.context import Ctx
from portal.core.crypto import keyed_hash
from portal.models import Account, LinkToken, WebSession

COUNT = 10
# Recovery codes do not expire; the column wants a date.
_NEVER = timedelta(days=36500)


def _normalize(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _digest(ctx: Ctx, account_id: int, code: str) -> str:
    return keyed_hash(ctx.settings.secret_key, "recovery-code", f"{account_id}:{_normalize(code)}")


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode()  # 80 bits, 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def issue(ctx: Ctx, account_id: int) -> list[str]:
    """Make a fresh set of codes (the earlier ones stop working) and return them, the only time
    they are ever seen."""
    ctx.session.execute(
        delete(LinkToken).where(col(LinkToken.account_id) == account_id, col(LinkToken.purpose) == RECOVERY)
    )
    codes = [_new_code() for _ in range(COUNT)]
    for code in codes:
        ctx.session.add(
            LinkToken(
                account_id=account_id,
                purpose=RECOVERY,
                token_hash=_digest(ctx, account_id, code),
                created_at=ctx.now,
                expires_at=ctx.now + _NEVER,
            )
        )
    account = ctx.session.get(Account, account_id)
    assert account is not None
    audit.record(ctx, "staff.recovery_codes", subject_id=account.subject_id, details={"count": COUNT})
    return codes


def remaining(ctx: Ctx, account_id: int) -> int:
    return int(
        ctx.session.scalar(
            select(func.count())
            .select_from(LinkToken)
            .where(
                col(LinkToken.account_id) == account_id,
                col(LinkToken.purpose) == RECOVERY,
                col(LinkToken.used_at).is_(None),
            )
        )
        or 0
    )


def use(ctx: Ctx, cur: Current, code: str) -> bool:
    """Accept an unused recovery code as the second factor of this session (once per code)."""
    account = ctx.session.get(Account, cur.account.id) if cur.account else None
    row = ctx.session.get(WebSession, cur.id_hash)
    if account is None or row is None or account.totp_enabled_at is None:
        return False
    key = "mfa:" + str(account.id)  # the TOTP throttle: recovery codes are no way around it
    throttle.check(ctx, key)
    found = None
    if 0 < len(code) <= 64:
        found = ctx.session.scalar(
            select(LinkToken)
            .where(
                col(LinkToken.account_id) == account.id,
                col(LinkToken.purpose) == RECOVERY,
                col(LinkToken.token_hash) == _digest(ctx, account.id, code),  # type: ignore[arg-type]
                col(LinkToken.used_at).is_(None),
            )
            .with_for_update()
        )
    if found is None:
        throttle.fail(ctx, key, throttle.ACCOUNT_LIMIT, windowed=False)
        audit.record(ctx, "login.mfa_failed", subject_id=account.subject_id, details={"via": "recovery_code"})
        return False
    throttle.clear(ctx, key)
    found.used_at = ctx.now
    row.mfa_at = ctx.now
    left = remaining(ctx, account.id)  # type: ignore[arg-type]
    audit.record(ctx, "login.recovery_code", subject_id=account.subject_id, details={"left": left})
    return True

"""Staff accounts as admins manage them: the team, roles, disabling, resetting a second factor.

Each change is one audit entry and takes effect on the member's very next request: the role is read
from the account on every request, and disabling or resetting a second factor ends every session of
the account in the same transaction. The team always keeps one active admin: the last one cannot
demote or disable themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlmodel import col

from portal import audit
from portal.accounts import sessions
from portal.core.context import Ctx
from portal.core.errors import NotFound, PortalError, ValidationError
from portal.models import STAFF_ROLES, Account, LinkToken

# Link-token purposes that belong to a staff member's second factor (see recovery.py).
RECOVERY = "recovery"


class LastAdmin(PortalError):
    """The change would leave the team without an active admin."""


class NotAllowed(PortalError):
    """The acting account may not make this change."""


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    role: str
    state: str  # "active" | "invited" | "disabled"
    second_factor: bool
    recovery_left: int
    created_at: datetime


def actor_id(ctx: Ctx) -> int | None:
    """The account acting in `ctx` ("account:7" → 7)."""
    prefix, _, rest = ctx.actor.partition(":")
    return int(rest) if prefix == "account" and rest.isdigit() else None


def _active() -> list[object]:
    return [
        col(Account.role).in_(STAFF_ROLES),
        col(Account.disabled_at).is_(None),
        col(Account.email_verified_at).is_not(None),  # an invitation not yet accepted is not active
    ]


# Staff accounts that can sign in: a statement the dashboard asks together with its other figures.
ACTIVE_COUNT = select(func.count()).select_from(Account).where(*_active())  # type: ignore[arg-type]


def active_count(ctx: Ctx, role: str | None = None) -> int:
    """Staff accounts that can sign in (of one role, or both)."""
    stmt = ACTIVE_COUNT if role is None else ACTIVE_COUNT.where(col(Account.role) == role)
    return int(ctx.session.scalar(stmt) or 0)


def active_ids(ctx: Ctx) -> dict[int, str]:
    """Active staff: id → email, for assigning requests and mailing reminders."""
    rows = ctx.session.execute(
        select(col(Account.id), col(Account.email)).where(*_active()).order_by(col(Account.email))  # type: ignore[arg-type]
    ).all()
    return {int(i or 0): e for i, e in rows}


def members(ctx: Ctx) -> list[Member]:
    recovery = dict(
        ctx.session.execute(
            select(col(LinkToken.account_id), func.count())
            .where(col(LinkToken.purpose) == RECOVERY, col(LinkToken.used_at).is_(None))
            .group_by(col(LinkToken.account_id))
        ).all()
    )
    rows = ctx.session.scalars(
        select(Account).where(col(Account.role).in_(STAFF_ROLES)).order_by(col(Account.email))
    )
    return [
        Member(
            id=a.id,  # type: ignore[arg-type]
            email=a.email,
            role=a.role,
            state="disabled" if a.disabled_at else "invited" if a.email_verified_at is None else "active",
            second_factor=a.totp_enabled_at is not None,
            recovery_left=int(recovery.get(a.id or 0, 0)),
            created_at=a.created_at,
        )
        for a in rows
    ]


def require_admin(ctx: Ctx) -> int:
    me = actor_id(ctx)
    account = ctx.session.get(Account, me) if me is not None else None
    if account is None or account.role != "admin" or account.disabled_at is not None:
        raise NotAllowed("Only an admin can manage staff accounts.")
    return me  # type: ignore[return-value]


def _member(ctx: Ctx, account_id: int) -> Account:
    account = ctx.session.get(Account, account_id, with_for_update=True) if 0 < account_id < 2**31 else None
    if account is None or account.role not in STAFF_ROLES:
        raise NotFound("There is no such staff account.")
    return account


def _keeps_an_admin(ctx: Ctx, account: Account) -> None:
    if account.role == "admin" and account.disabled_at is None and active_count(ctx, "admin") <= 1:
        raise LastAdmin(
            f"{account.email} is the last active admin: make another member of staff an admin first."
        )


def change_role(ctx: Ctx, account_id: int, role: str) -> int:
    """Make a staff member an agent or an admin; the audit receipt."""
    require_admin(ctx)
    if role not in STAFF_ROLES:
        raise ValidationError("Choose agent or admin.", "role")
    account = _member(ctx, account_id)
    if account.role == role:
        raise ValidationError(f"{account.email} is already an {role}.", "role")
    if role != "admin":
        _keeps_an_admin(ctx, account)
    old, account.role = account.role, role
    details = {"account": account.id, "from": old, "to": role}
    return audit.record(ctx, "staff.role", subject_id=account.subject_id, details=details).seq


def disable(ctx: Ctx, account_id: int) -> int:
    """Lock a staff member out: no more logins, and every session ends now."""
    require_admin(ctx)
    account = _member(ctx, account_id)
    if account.disabled_at is not None:
        raise ValidationError(f"{account.email} is already disabled.")
    _keeps_an_admin(ctx, account)
    account.disabled_at = ctx.now
    ended = sessions.end_others(ctx, account.id)  # type: ignore[arg-type]
    details = {"account": account.id, "sessions_ended": ended}
    return audit.record(ctx, "staff.disable", subject_id=account.subject_id, details=details).seq


def enable(ctx: Ctx, account_id: int) -> int:
    require_admin(ctx)
    account = _member(ctx, account_id)
    if account.disabled_at is None:
        raise ValidationError(f"{account.email} is not disabled.")
    account.disabled_at = None
    details = {"account": account.id}
    return audit.record(ctx, "staff.enable", subject_id=account.subject_id, details=details).seq


def reset_second_factor(ctx: Ctx, account_id: int) -> int:
    """A colleague lost their authenticator: they enrol a new one at their next login.

    Their recovery codes go too, and their sessions end. Nobody resets their own: that would turn a
    stolen password and session into a new second factor."""
    me = require_admin(ctx)
    account = _member(ctx, account_id)
    if account.id == me:
        raise NotAllowed("Ask another admin to reset your own second factor.")
    account.totp_secret = None
    account.totp_enabled_at = None
    account.totp_last_step = None
    ctx.session.execute(
        delete(LinkToken).where(col(LinkToken.account_id) == account.id, col(LinkToken.purpose) == RECOVERY)
    )
    ended = sessions.end_others(ctx, account.id)  # type: ignore[arg-type]
    details = {"account": account.id, "sessions_ended": ended}
    return audit.record(ctx, "staff.mfa_reset", subject_id=account.subject_id, details=details).seq

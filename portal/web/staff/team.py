"""The team (admins): staff accounts, invitations, roles, disabling, resetting a second factor; and
every staff member's own recovery codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import invites, recovery, staffing
from portal.core.errors import NotFound, PortalError, ValidationError
from portal.core.words import count
from portal.models import STAFF_ROLES
from portal.web.common import admin_required, call, current, field, form, not_found, redirect, staff_required
from portal.web.flash import flash
from portal.web.staff.pages import page


async def _team(request: Request, status_code: int = 200, **extra: Any) -> Response:
    members = await call(request, staffing.members)
    context = {"members": members, "roles": STAFF_ROLES, "values": {}, "errors": {}, **extra}
    return page(request, "staff/team.html", context, status_code=status_code)


@admin_required
async def team(request: Request) -> Response:
    return await _team(request)


@admin_required
async def invite(request: Request) -> Response:
    data = await form(request)
    values = {"email": field(data, "email", 320), "role": field(data, "role", 16)}
    try:
        await call(request, invites.invite, values["email"], values["role"])
    except ValidationError as exc:
        return await _team(request, 400, values=values, errors={exc.field or "email": str(exc)})
    days = invites.INVITE_TTL.days
    sent = f"Invitation sent to {values['email'].strip().lower()}; its link works for {count(days, 'day')}."
    flash(request, sent, "success")
    return redirect(request, "staff.team")


CHANGES: dict[str, tuple[Callable[..., int], str]] = {
    "role": (staffing.change_role, "Role changed."),
    "disable": (staffing.disable, "Disabled: their sessions ended and they cannot log in."),
    "enable": (staffing.enable, "Enabled again."),
    "reset_mfa": (
        staffing.reset_second_factor,
        "Second factor reset: they set up a new one at their next login.",
    ),
}


@admin_required
async def change(request: Request) -> Response:
    account_id: int = request.path_params["id"]
    data = await form(request)
    what = field(data, "change", 16)
    if what not in CHANGES:
        raise not_found()
    fn, done = CHANGES[what]
    args = (account_id, field(data, "role", 16)) if what == "role" else (account_id,)
    try:
        seq = await call(request, fn, *args)
    except NotFound:
        raise not_found() from None
    except PortalError as exc:
        flash(request, str(exc), "error")
        return redirect(request, "staff.team")
    flash(request, f"{done} (audit entry no. {seq})", "success")
    return redirect(request, "staff.team")


@staff_required
async def recovery_codes(request: Request) -> Response:
    """How many codes are left; a POST makes a new set, shown in its response only."""
    me: int = current(request).account.id  # type: ignore[union-attr,assignment]
    if request.method == "POST":
        codes = await call(request, recovery.issue, me)
        return page(request, "account/recovery_codes.html", {"codes": codes, "first": False})
    left = await call(request, recovery.remaining, me)
    return page(request, "staff/recovery.html", {"left": left})


FORM = ["GET", "POST"]
ROUTES = [
    Route("/staff/team", team, name="staff.team", methods=["GET"]),
    Route("/staff/team/invite", invite, name="staff.team.invite", methods=["POST"]),
    Route("/staff/team/{id:int}", change, name="staff.team.change", methods=["POST"]),
    Route("/staff/account/recovery-codes", recovery_codes, name="staff.recovery", methods=FORM),
]

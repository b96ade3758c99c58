"""Signing in as staff beyond the password and TOTP code: accepting an invitation (a mailed link to
choose a password) and using a recovery code instead of the authenticator app."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import invites, recovery
from portal.core.errors import Throttled, TokenInvalid, ValidationError
from portal.web.common import call, current, field, form, mailed, redirect, render, set_session
from portal.web.flash import flash

PASSWORD_FIELD_LIMIT = 1024


async def accept_invite(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        # GET only shows the form (mail scanners follow links); the POST uses the link.
        account = await call(request, invites.check, token)
        if request.method == "GET":
            context = {"token": token, "email": account.email, "errors": {}}
            return render(request, "account/invite.html", context)
        password = field(await form(request), "password", PASSWORD_FIELD_LIMIT)
        new = await call(request, invites.accept, current(request), token, password)
    except TokenInvalid as exc:
        return render(request, "account/link_invalid.html", {"message": str(exc)}, status_code=400)
    except ValidationError as exc:
        context = {"token": token, "email": account.email, "errors": {"password": str(exc)}}
        return render(request, "account/invite.html", context, status_code=400)
    set_session(request, new.token)
    flash(request, "Your password is set. Now set up your second factor.", "success")
    return redirect(request, "auth.mfa")


async def use_recovery_code(request: Request) -> Response:
    cur = current(request)
    if not cur.is_staff:
        return redirect(request, "auth.login")
    if cur.mfa_done:
        return redirect(request, "staff.home")
    if request.method == "GET":
        return render(request, "account/recovery_login.html", {})
    code = field(await form(request), "code", 64)
    try:
        ok = await call(request, recovery.use, cur, code)
    except Throttled as exc:
        response = render(request, "account/recovery_login.html", {"error": str(exc)}, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if not ok:
        error = "That recovery code is not valid, or was used already."
        return render(request, "account/recovery_login.html", {"error": error}, status_code=400)
    left = await call(request, recovery.remaining, cur.account.id)  # type: ignore[union-attr]
    words = f"Logged in with a recovery code; {left} left. Make new ones under “My recovery codes”."
    flash(request, words, "success")
    return redirect(request, "staff.home")


FORM = ["GET", "POST"]
ROUTES = [
    mailed("auth.invite", accept_invite, FORM),
    Route("/login/recovery", use_recovery_code, name="auth.recovery", methods=FORM),
]

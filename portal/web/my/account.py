"""Account settings a person changes themselves: the time zone pages use, the email address."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import accounts, emailchange, preferences, reauth
from portal.core.errors import Throttled, TokenInvalid, ValidationError
from portal.web.common import call, current, field, form, login_required, mailed, redirect, render
from portal.web.flash import flash
from portal.web.my.auth import PASSWORD_FIELD_LIMIT

FORM = ["GET", "POST"]


def _zone_page(request: Request, chosen: str, errors: dict[str, str], status_code: int = 200) -> Response:
    context = {"groups": preferences.grouped(), "chosen": chosen, "errors": errors}
    return render(request, "account/time_zone.html", context, status_code=status_code)


@login_required
async def time_zone(request: Request) -> Response:
    account = current(request).account
    assert account is not None
    if request.method == "GET":
        return _zone_page(request, account.time_zone, {})
    raw = field(await form(request), "time_zone", 64)
    try:
        seq = await call(request, preferences.set_time_zone, account.id, raw)
    except ValidationError as exc:
        return _zone_page(request, account.time_zone, {"time_zone": str(exc)}, status_code=400)
    if seq is None:
        flash(request, f"Nothing changed: times were already shown in {raw.strip()}.", "info")
    else:
        flash(request, f"Times are now shown in the {raw.strip()} time zone.", "success", receipt=seq)
    return redirect(request, "account.home")


def _email_page(request: Request, email: str, errors: dict[str, str], status_code: int = 200) -> Response:
    return render(
        request, "account/email.html", {"form": {"email": email}, "errors": errors}, status_code=status_code
    )


@login_required
async def change_email(request: Request) -> Response:
    cur = current(request)
    assert cur.account is not None
    if request.method == "GET":
        return _email_page(request, "", {})
    data = await form(request)
    raw = field(data, "email", 320)
    try:
        email = accounts.normalize_email(raw)
    except ValidationError as exc:
        return _email_page(request, raw, {"email": str(exc)}, status_code=400)
    if email == cur.account.email:
        return _email_page(request, raw, {"email": "That is already your email address."}, status_code=400)
    device = request.cookies.get(request.app.state.settings.device_cookie)
    checked = await call(
        request, reauth.confirm_password, cur, field(data, "password", PASSWORD_FIELD_LIMIT), device
    )
    if checked.status == "throttled":
        response = _email_page(
            request, raw, {"password": str(Throttled(checked.retry_after))}, status_code=429
        )
        response.headers["Retry-After"] = str(checked.retry_after)
        return response
    if checked.status != "ok":
        return _email_page(request, raw, {"password": "Your password is not correct."}, status_code=400)
    seq = await call(request, emailchange.request_change, cur.account.id, email)
    # The same words whether or not the address is free: the page must not tell which addresses have accounts.
    flash(
        request,
        f"We are sending a link to {email}. Your address changes once you open it and confirm; "
        f"until then it stays {cur.account.email}.",
        "success",
        receipt=seq,
    )
    return redirect(request, "account.home")


async def confirm_email(request: Request) -> Response:
    """Opened from the mailed link, logged in or not: the token is the authority. GET only shows a
    button (mail scanners follow links); the POST makes the change."""
    token = request.path_params["token"]
    cur = current(request)
    try:
        if request.method == "GET":
            new = await call(request, emailchange.pending, token)
            return render(request, "account/email_confirm.html", {"token": token, "new_email": new})
        account, ended, seq = await call(request, emailchange.confirm, token, cur.id_hash)
    except TokenInvalid as exc:
        return render(request, "account/link_invalid.html", {"message": str(exc)}, status_code=400)
    others = f" {ended} other session{'s' if ended != 1 else ''} ended." if ended else ""
    if cur.account is not None and cur.account.id == account.id:
        flash(request, f"Your email address is now {account.email}.{others}", "success", receipt=seq)
        return redirect(request, "account.home")
    flash(request, f"Your email address is now {account.email}. Log in with it.", "success")
    return redirect(request, "auth.login")


ROUTES = [
    Route("/account/time-zone", time_zone, name="account.time_zone", methods=FORM),
    Route("/account/email", change_email, name="account.email", methods=FORM),
    mailed("account.email_confirm", confirm_email, FORM),
]

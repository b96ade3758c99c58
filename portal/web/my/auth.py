"""Handlers for registration, verification, login (with staff MFA), logout and passwords."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from portal.accounts import accounts, mfa, recovery, signin
from portal.core.errors import Throttled, TokenInvalid, ValidationError
from portal.core.settings import Settings
from portal.core.words import count
from portal.web.common import (
    call,
    current,
    field,
    form,
    login_required,
    redirect,
    render,
    set_session,
)
from portal.web.flash import flash

PASSWORD_FIELD_LIMIT = 1024  # longer than the policy allows, so the policy can say why
DEVICE_COOKIE_DAYS = 365


# Printable ASCII but the space: what may stand in a Location header as it is.
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))


def safe_next(value: str) -> str | None:
    """A same-site path to go to after login, or None: `next` must never become an open redirect.

    Browsers drop tabs and line breaks and read a backslash as a slash, so `/\\evil`, `/\t/evil` and
    `//evil` all lead off-site; anything with a control character, any whitespace or a backslash is
    refused outright rather than cleaned. Non-ASCII is percent-encoded (a header holds only Latin-1).
    U+FFFD is what `field` leaves of a NUL character: refused like the control character it was.
    """
    if not value.startswith("/") or value.startswith("//") or "\\" in value or "\ufffd" in value:
        return None
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in value):
        return None
    path = quote(value, safe=_PRINTABLE)
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    return path


async def register(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "account/register.html", {"form": {}, "errors": {}})
    data = await form(request)
    email = field(data, "email", 320)
    password = field(data, "password", PASSWORD_FIELD_LIMIT)
    try:
        await call(request, accounts.register, email, password)
    except ValidationError as exc:
        return render(
            request,
            "account/register.html",
            {"form": {"email": email}, "errors": {exc.field or "form": str(exc)}},
            status_code=400,
        )
    return redirect(request, "auth.registered")


async def registered(request: Request) -> Response:
    return render(request, "account/registered.html")


async def verify(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        if request.method == "GET":
            # Mail scanners follow GET links: only the button's POST consumes the token.
            await call(request, accounts.check_token, token, "verify")
            return render(request, "account/verify.html", {"token": token})
        await call(request, accounts.verify_email, token)
    except TokenInvalid as exc:
        return render(request, "account/link_invalid.html", {"message": str(exc)}, status_code=400)
    flash(request, "Your email address is confirmed. You can log in now.", "success")
    return redirect(request, "auth.login")


async def login(request: Request) -> Response:
    if request.method == "GET":
        asked = safe_next(request.query_params.get("next", "")[:500]) or ""
        return render(request, "account/login.html", {"form": {}, "next": asked})
    data = await form(request)
    email = field(data, "email", 320)
    password = field(data, "password", PASSWORD_FIELD_LIMIT)
    next_path = safe_next(field(data, "next", 500))
    settings = request.app.state.settings
    device = request.cookies.get(settings.device_cookie)
    result, new = await call(request, signin.sign_in, current(request), email, password, device)
    context: dict[str, object] = {"form": {"email": email}, "next": next_path or ""}
    if result.status == "throttled":
        context["error"] = Throttled(result.retry_after).args[0]
        context["locked"] = True
        response = render(request, "account/login.html", context, status_code=429)
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.status == "failed":
        context["error"] = "That email and password do not match an account."
        return render(request, "account/login.html", context, status_code=400)
    if result.status == "unverified":
        context["error"] = "Please confirm your email address first. " + (
            "We have sent you a new link."
            if result.mailed
            else "Use the link we sent you earlier (we send at most three an hour)."
        )
        response = render(request, "account/login.html", context, status_code=400)
    elif new is not None and new.is_staff:
        response = redirect(request, "auth.mfa")
    elif next_path:
        response = Response(status_code=303, headers={"Location": next_path})
    else:
        response = redirect(request, "account.home")
    if new is not None:
        set_session(request, new.token)
    if result.device:
        _set_device_cookie(response, settings, result.device)
    return response


def _set_device_cookie(response: Response, settings: Settings, value: str) -> None:
    """This browser signed in with the right password: its guesses get a budget of their own."""
    response.set_cookie(
        settings.device_cookie, value, max_age=DEVICE_COOKIE_DAYS * 86400, path="/", secure=settings.https,
        httponly=True, samesite="lax",
    )  # fmt: skip


async def mfa_step(request: Request) -> Response:
    cur = current(request)
    if not cur.is_staff:
        return redirect(request, "auth.login")
    if cur.mfa_done:
        return redirect(request, "staff.home")
    enrolling = cur.account is not None and cur.account.totp_enabled_at is None
    context: dict[str, object] = {"enrolling": enrolling}
    if enrolling:
        secret = await call(request, signin.start_enrolment, cur)
        uri = mfa.provisioning_uri(cur.account, secret)  # type: ignore[arg-type]
        context.update(secret=secret, qr_svg=mfa.qr_svg(uri), uri=uri)
    if request.method == "GET":
        return render(request, "account/mfa.html", context)
    code = field(await form(request), "code", 20)
    try:
        ok = await call(request, signin.second_factor, cur, code)
    except Throttled as exc:
        context["error"] = str(exc)
        response = render(request, "account/mfa.html", context, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if not ok:
        context["error"] = "That code is not valid. Enter the 6 digits your app shows now."
        return render(request, "account/mfa.html", context, status_code=400)
    if enrolling:  # a new second factor comes with recovery codes, shown this once
        codes = await call(request, recovery.issue, cur.account.id)  # type: ignore[union-attr]
        return render(request, "account/recovery_codes.html", {"codes": codes, "first": True})
    flash(request, "Second factor confirmed.", "success")
    return redirect(request, "staff.home")


async def logout(request: Request) -> Response:
    await call(request, signin.sign_out, current(request))
    set_session(request, "")
    return redirect(request, "home")


async def forgot(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "account/forgot.html")
    email = field(await form(request), "email", 320)
    await call(request, accounts.request_reset, email)
    # Post/redirect/get: reloading the answer page must not post the form (and queue a mail) again.
    return redirect(request, "auth.forgot_sent")


async def forgot_sent(request: Request) -> Response:
    return render(request, "account/forgot_sent.html")


async def reset(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        if request.method == "GET":
            await call(request, accounts.check_token, token, "reset")
            return render(request, "account/reset.html", {"token": token, "errors": {}})
        password = field(await form(request), "password", PASSWORD_FIELD_LIMIT)
        device = request.cookies.get(request.app.state.settings.device_cookie)
        await call(request, accounts.reset_password, token, password, device)
    except TokenInvalid as exc:
        return render(request, "account/link_invalid.html", {"message": str(exc)}, status_code=400)
    except ValidationError as exc:
        return render(
            request, "account/reset.html", {"token": token, "errors": {"password": str(exc)}}, status_code=400
        )
    flash(request, "Your password was changed and every other session was ended. Log in now.", "success")
    return redirect(request, "auth.login")


@login_required
async def account_home(request: Request) -> Response:
    return render(request, "account/home.html")


@login_required
async def change_password(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "account/password.html", {"errors": {}})
    data = await form(request)
    cur = current(request)
    try:
        ended, seq = await call(
            request,
            accounts.change_password,
            cur.account.id,  # type: ignore[union-attr]
            field(data, "current_password", PASSWORD_FIELD_LIMIT),
            field(data, "new_password", PASSWORD_FIELD_LIMIT),
            cur.id_hash,
        )
    except ValidationError as exc:
        return render(
            request, "account/password.html", {"errors": {exc.field or "form": str(exc)}}, status_code=400
        )
    others = f" {count(ended, 'other session')} ended." if ended else ""
    flash(request, f"Your password was changed.{others}", "success", receipt=seq)
    return redirect(request, "account.home")

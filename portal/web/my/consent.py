"""Self-service consent: the choices page, revoking personalization, one-click unsubscribe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.core.context import Ctx
from portal.core.errors import TokenInvalid
from portal.core.links import absolute
from portal.core.settings import Settings
from portal.core.words import count
from portal.models import CONSENT_FIELDS
from portal.subjects import consent
from portal.web import gpc
from portal.web.common import call, current, field, form, login_required, mailed, redirect, render
from portal.web.flash import flash

ON_OFF = {"on": True, "off": False}
# What the button says: (when it is on, when it is off).
ACTIONS = {
    "personalization": ("Turn off personalised content", "Turn personalised content back on"),
    "marketing": ("Stop marketing use of my data", "Allow marketing use of my data"),
    "email": ("Unsubscribe from promotional email", "Subscribe to promotional email"),
}
DONE = {
    ("personalization", True): "Personalised content is on again.",
    ("personalization", False): "Personalised content is off.",
    ("marketing", True): "The site may use your data for marketing again.",
    ("marketing", False): "The site no longer uses your data for marketing.",
    ("email", True): "You are subscribed to promotional email.",
    ("email", False): "You are unsubscribed from promotional email.",
}

UNCHANGED = "Nothing changed: that was already your choice."


def local_time(at: datetime, time_zone: str) -> datetime:
    """A stored time (UTC; SQLite hands it back naive) in the account's time zone."""
    try:
        zone: Any = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone)


def _page_data(ctx: Ctx, subject_id: int) -> dict[str, Any]:
    return {
        "state": consent.state(ctx, subject_id),
        "events": consent.history(ctx, subject_id),
        "preferences": consent.search_preference_count(ctx, subject_id),
    }


def _context(request: Request, data: dict[str, Any], notice: dict[str, Any] | None = None) -> dict[str, Any]:
    account = current(request).account
    assert account is not None
    tz = account.time_zone
    gpc_change = request.scope.get("portal", {}).get("gpc_change")
    return {
        **data,
        "labels": consent.LABELS,
        "via_labels": consent.VIA_LABELS,
        "actions": ACTIONS,
        "fields": CONSENT_FIELDS,
        "history": [(local_time(e.at, tz), e) for e in data["events"]],
        "time_zone": tz,
        "gpc": gpc.signalled(request),
        "gpc_receipt": gpc_change.entry.seq if gpc_change and gpc_change.entry else None,
        "notice": notice,
    }


@login_required
async def page(request: Request) -> Response:
    subject_id = current(request).account.subject_id  # type: ignore[union-attr]
    if request.method == "GET":
        data = await call(request, _page_data, subject_id)
        return _respond(request, _context(request, data))
    values = await form(request)
    name, value = field(values, "field", 32), field(values, "value", 8)
    if name not in CONSENT_FIELDS or value not in ON_OFF:
        data = await call(request, _page_data, subject_id)
        notice: dict[str, Any] = {"message": "That choice is not one this page offers.", "category": "error"}
        return _respond(request, _context(request, data, notice), status_code=400)
    if name == "personalization" and value == "off":
        # Turning it off deletes data, so it always goes through the confirmation step.
        return _to(request, "my.consent.revoke")
    change = await call(request, consent.set_choice, subject_id, name, ON_OFF[value], via="portal")
    message = DONE[(name, ON_OFF[value])] if change.changed else UNCHANGED
    receipt = change.entry.seq if change.entry else None
    if request.headers.get("hx-request"):
        data = await call(request, _page_data, subject_id)
        notice = {"message": message, "category": "success", "receipt": receipt}
        return _respond(request, _context(request, data, notice))
    flash(request, message, "success", receipt=receipt)
    return redirect(request, "my.consent")


def _respond(request: Request, context: dict[str, Any], status_code: int = 200) -> Response:
    """The whole page, or for htmx only the block it swaps; the same URL serves both."""
    block = "choices" if request.headers.get("hx-request") else None
    response = render(request, "my/consent.html", context, status_code=status_code, block_name=block)
    response.headers.append("Vary", "HX-Request")
    return response


def _to(request: Request, name: str) -> Response:
    if request.headers.get("hx-request"):  # htmx would swap the next page into the fragment
        return Response(status_code=204, headers={"HX-Redirect": str(request.url_for(name).path)})
    return redirect(request, name)


@login_required
async def revoke(request: Request) -> Response:
    """Confirm, then turn personalization off and delete the recorded search preferences."""
    subject_id = current(request).account.subject_id  # type: ignore[union-attr]
    if request.method == "GET":
        data = await call(request, _page_data, subject_id)
        return render(request, "my/consent_revoke.html", data)
    change, deleted = await call(request, consent.revoke_personalization, subject_id)
    words = f"{count(deleted, 'recorded search preference')} deleted"
    receipt = change.entry.seq if change.entry else None
    flash(request, f"Personalised content is off; {words}.", "success", receipt=receipt)
    response = redirect(request, "my.consent")
    settings = request.app.state.settings
    if settings.cookie_domain:
        # The site's own cookie: only reachable because the portal shares the site's cookie domain.
        response.set_cookie(
            settings.pref_cookie, "", max_age=0, path="/", domain=settings.cookie_domain,
            secure=settings.https, samesite="lax",
        )  # fmt: skip
    return response


async def unsubscribe(request: Request) -> Response:
    """One-click unsubscribe from promotional mail, no login: the link's token is the authority.

    GET only shows a button (mail scanners follow links); POST unsubscribes. A mail client's
    RFC 8058 one-click POST (body `List-Unsubscribe=One-Click`) gets a plain 200, since it shows
    nothing to anyone; the button's POST redirects to the page that says it is done.
    """
    token = request.path_params["token"]
    try:
        if request.method == "GET":
            _subject, subscribed = await call(request, consent.unsubscribe_target, token)
            return render(request, "public/unsubscribe.html", {"token": token, "subscribed": subscribed})
        values = await form(request)
        change = await call(request, consent.unsubscribe, token)
    except TokenInvalid as exc:
        return render(request, "public/unsubscribe.html", {"invalid": str(exc)}, status_code=400)
    receipt = change.entry.seq if change.entry else None
    if field(values, "List-Unsubscribe", 32) == "One-Click":
        context = {"token": token, "subscribed": False, "receipt": receipt}
        return render(request, "public/unsubscribe.html", context)
    flash(request, DONE[("email", False)], "success", receipt=receipt)
    return redirect(request, "consent.unsubscribe", token=token)


def unsubscribe_url(settings: Settings, subject_id: int) -> str:
    """The absolute link to put in promotional mail (and its List-Unsubscribe header)."""
    return absolute(settings, "consent.unsubscribe", token=consent.unsubscribe_token(settings, subject_id))


ROUTES = [
    Route("/my/consent", page, name="my.consent", methods=["GET", "POST"]),
    Route("/my/consent/personalization-off", revoke, name="my.consent.revoke", methods=["GET", "POST"]),
    mailed("consent.unsubscribe", unsubscribe, ["GET", "POST"]),
]

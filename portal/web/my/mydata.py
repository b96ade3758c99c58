"""The "My data" pages (the logged-in account's subject) and "This browser" (its cookies' subject).

Handlers never take a subject id from the request: it is the account's, or the one the presented
cookies resolve to. Ids of rows in URLs are checked against that subject by the services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.core.context import Ctx
from portal.core.words import count as counted
from portal.subjects import holdings, logbrowse, thisbrowser
from portal.web.charts import activity_chart
from portal.web.common import (
    call,
    current,
    loads_session,
    login_required,
    not_found,
    path,
    redirect,
    render,
)
from portal.web.flash import flash
from portal.web.templating import account_zone

GET, FORM = ["GET"], ["GET", "POST"]
UTC = ZoneInfo("UTC")
T = TypeVar("T")
ACTIVITY = {"my.logs": "my.activity", "browser.logs": "browser.activity"}
# Where each overview category's rows are listed, and the noun its count is read with. Promotional
# emails have no page of their own: they are listed in the download.
OVERVIEW_PAGES = {
    "identifiers": ("my.cookies", "cookie or id", "cookies and ids"),
    "search_preferences": ("my.search", "search term", None),
    "log_records": ("my.logs", "log record", None),
    "promo_emails": ("my.export", "promotional email", None),
}
ALREADY_DELETED = {
    "cookie": "That cookie record was already deleted.",
    "search": "That search term was already deleted.",
}
def _me(request: Request) -> tuple[int, ZoneInfo]:
    """The logged-in account's subject and time zone; only verified accounts have data pages."""
    account = current(request).account
    if account is None or account.email_verified_at is None:
        raise not_found()
    try:
        tz = ZoneInfo(account.time_zone or "UTC")
    except (ValueError, KeyError):  # an unknown zone name must not break the page
        tz = UTC
    return account.subject_id, tz


async def _mine(request: Request, fn: Callable[..., T], *args: Any) -> tuple[T, ZoneInfo]:
    """`fn(ctx, subject_id, *args)` for the logged-in account's subject, and the account's zone.

    A My data page's first store call: it loads the session too (`loads_session`), so the subject
    is read inside it.
    """
    found = await call(request, lambda ctx: fn(ctx, _me(request)[0], *args))
    return found, _me(request)[1]


def _reader_zone(request: Request) -> ZoneInfo:
    """This browser's pages need no login; a logged-in reader sees them in their own zone all the same."""
    account = current(request).account
    return account_zone(account.time_zone if account else None)


def _page(request: Request, template: str, active: str, tz: ZoneInfo, **context: Any) -> Response:
    # `my_nav` tells the templates shared with "This browser" that this is a My data page.
    return render(request, template, {"my_nav": True, "tz": tz, **context})


def _cookies(request: Request) -> dict[str, str]:
    return dict(request.cookies)


# -- My data: overview, cookies, search preferences ----------------------------------------


@loads_session
@login_required
async def overview(request: Request) -> Response:
    cookies = _cookies(request)

    def load(ctx: Ctx, subject_id: int) -> tuple[int, list[holdings.Summary]]:
        return holdings.claim(ctx, subject_id, cookies), holdings.overview(ctx, subject_id)

    (linked, summaries), tz = await _mine(request, load)
    context = {"summaries": summaries, "linked": linked, "pages": OVERVIEW_PAGES}
    return _page(request, "my/overview.html", "my.overview", tz, **context)


@loads_session
@login_required
async def cookies(request: Request) -> Response:
    presented = _cookies(request)

    def load(ctx: Ctx, subject_id: int) -> tuple[int, list[holdings.CookieView], list[holdings.SiteIdView]]:
        return holdings.claim(ctx, subject_id, presented), *holdings.identifiers(ctx, subject_id, presented)

    (linked, items, site_ids), tz = await _mine(request, load)
    context = {"cookies": items, "site_ids": site_ids, "linked": linked}
    return _page(request, "my/cookies.html", "my.cookies", tz, **context)


@login_required
async def delete_cookie(request: Request) -> Response:
    subject_id, tz = _me(request)
    cookie_id: int = request.path_params["id"]
    if request.method == "GET":
        item = await call(request, holdings.cookie, subject_id, cookie_id, _cookies(request))
        if item is None:
            return _gone(request, "my.cookies", ALREADY_DELETED["cookie"])
        message = f"The record of the {item.name} cookie ({item.shown_value}) will be deleted."
        return _confirm(
            request, tz, "my.cookies", "Delete this cookie record?", message, "Delete cookie record"
        )
    seq = await call(request, holdings.delete_cookie, subject_id, cookie_id)
    if seq is None:
        return _gone(request, "my.cookies", ALREADY_DELETED["cookie"])
    flash(request, "The cookie record was deleted.", "success", receipt=seq)
    return redirect(request, "my.cookies")


@login_required
async def delete_cookies(request: Request) -> Response:
    subject_id, tz = _me(request)
    if request.method == "GET":
        message = "Every cookie value tied to you will be deleted from the portal's records."
        return _confirm(
            request, tz, "my.cookies", "Delete every cookie record?", message, "Delete all cookie records"
        )
    count, seq = await call(request, holdings.delete_cookies, subject_id)
    message = f"{counted(count, 'cookie record', none='No')} deleted."
    flash(request, message, "success", **({"receipt": seq} if seq else {}))
    return redirect(request, "my.cookies")


@loads_session
@login_required
async def search(request: Request) -> Response:
    items, tz = await _mine(request, holdings.search_preferences)
    return _page(request, "my/search.html", "my.search", tz, preferences=items)


@login_required
async def delete_preference(request: Request) -> Response:
    subject_id, tz = _me(request)
    pref_id: int = request.path_params["id"]
    if request.method == "GET":
        item = await call(request, holdings.search_preference, subject_id, pref_id)
        if item is None:
            return _gone(request, "my.search", ALREADY_DELETED["search"])
        message = (
            f"The search term “{item.term}” will be deleted, wherever it came from, with every copy of it "
            "in your log records (shown as REDACTED there)."
        )
        return _confirm(
            request, tz, "my.search", "Delete this search preference?", message, "Delete search preference"
        )
    seq = await call(request, holdings.delete_search_preference, subject_id, pref_id)
    if seq is None:
        return _gone(request, "my.search", ALREADY_DELETED["search"])
    flash(request, "The search preference was deleted.", "success", receipt=seq)
    return redirect(request, "my.search")


@login_required
async def delete_preferences(request: Request) -> Response:
    subject_id, tz = _me(request)
    if request.method == "GET":
        message = "Every search term recorded about you will be deleted."
        title = "Delete every search preference?"
        return _confirm(request, tz, "my.search", title, message, "Delete all search preferences")
    count, seq = await call(request, holdings.delete_search_preferences, subject_id)
    message = f"{counted(count, 'search term', none='No')} deleted."
    flash(request, message, "success", **({"receipt": seq} if seq else {}))
    return redirect(request, "my.search")


def _gone(request: Request, listing: str, message: str) -> Response:
    """An item that is not (or no longer) the person's: most often deleted from another tab. The
    answer is the same for someone else's id, so it tells nobody whether that id exists."""
    flash(request, message, "info")
    return redirect(request, listing)


def _confirm(request: Request, tz: ZoneInfo, back: str, title: str, message: str, button: str) -> Response:
    """A confirmation page whose form posts back to the URL that showed it."""
    context = {"title": title, "message": message, "button": button, "action": request.url.path}
    return _page(request, "my/confirm.html", back, tz, back=request.url_for(back).path, **context)


# -- log records (shared by My data and This browser) --------------------------------------


# Whose records, and the zone their days are read in: asked inside the page's store call, where a
# My data page loads its session.
Reader = Callable[[], tuple[int, ZoneInfo]]


async def _logs(request: Request, who: Reader, route: str, **context: Any) -> Response:
    q = request.query_params
    after = logbrowse.Cursor.decode(q.get("after"))
    fragment = bool(request.headers.get("hx-request")) and after is not None

    def load(ctx: Ctx) -> tuple[ZoneInfo, logbrowse.LogFilter, dict[str, str], logbrowse.LogPage]:
        subject_id, tz = who()
        filt, errors = logbrowse.parse_filter(q.get("from", ""), q.get("to", ""), q.get("q", ""), tz)
        return tz, filt, errors, logbrowse.page(ctx, subject_id, filt, after)

    tz, filt, errors, found = await call(request, load)
    base = path(request, route)
    next_url = None
    if found.next is not None:
        next_url = f"{base}?{urlencode({**filt.params(), 'after': found.next.encode()})}"
    # The chart has its own URL: counting per day grows with the records, the first page must not.
    chart_url = path(request, ACTIVITY[route])
    if filt.params():
        chart_url += "?" + urlencode(filt.params())
    page_context = {
        "logs": found, "filt": filt, "errors": errors, "next_url": next_url, "base_url": base,
        "paged": after is not None, "fragment": fragment, "logs_route": route, "chart_url": chart_url,
        **context,
    }  # fmt: skip
    if fragment:
        response = _fragment(request, "my/logs.html", ["log_rows", "log_more"], {"tz": tz, **page_context})
    elif route == "my.logs":
        response = _page(request, "my/logs.html", route, tz, **page_context)
    else:
        response = render(request, "my/logs.html", {"tz": tz, **page_context})
    # The same URL answers with a page or a fragment: caches must keep them apart.
    response.headers["Vary"] = "HX-Request"
    return response


async def _activity(request: Request, who: Reader, route: str, **context: Any) -> Response:
    """Requests per day: a fragment the logs page loads after itself, or a page of its own without JS."""
    q = request.query_params

    def load(ctx: Ctx) -> tuple[ZoneInfo, logbrowse.Activity]:
        subject_id, tz = who()
        filt, _ = logbrowse.parse_filter(q.get("from", ""), q.get("to", ""), q.get("q", ""), tz)
        return tz, logbrowse.activity(ctx, subject_id, filt)

    tz, activity = await call(request, load)
    page_context = {"chart": activity_chart(activity, tz), "logs_url": path(request, route)}
    if request.headers.get("hx-request"):
        response = _fragment(request, "my/activity.html", ["activity"], {"tz": tz, **page_context, **context})
    elif route == "my.logs":
        response = _page(request, "my/activity.html", route, tz, **page_context, **context)
    else:
        response = render(request, "my/activity.html", {"tz": tz, **page_context, **context})
    response.headers["Vary"] = "HX-Request"
    return response


def _fragment(request: Request, template: str, blocks: list[str], context: dict[str, Any]) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, template, context, block_names=blocks)
    return response


@loads_session
@login_required
async def logs(request: Request) -> Response:
    return await _logs(request, lambda: _me(request), "my.logs", heading="My log records")


@loads_session
@login_required
async def activity(request: Request) -> Response:
    return await _activity(request, lambda: _me(request), "my.logs", heading="My activity per day")


# -- This browser ---------------------------------------------------------------------------


async def _browser(request: Request) -> thisbrowser.Resolved:
    return await call(request, thisbrowser.resolve, _cookies(request))


async def browser_home(request: Request) -> Response:
    cookies_ = _cookies(request)

    def load(ctx: Ctx) -> dict[str, Any]:
        found = thisbrowser.resolve(ctx, cookies_)
        if found.state != "browser" or found.subject_id is None:
            return {"found": found}
        return {
            "found": found,
            "cookies": holdings.cookies(ctx, found.subject_id, cookies_),
            "preferences": holdings.search_preferences(ctx, found.subject_id),
            "logs": logbrowse.page(ctx, found.subject_id, logbrowse.LogFilter(), None, limit=10),
        }

    context = await call(request, lambda ctx: load(ctx))
    return render(request, "my/browser.html", {"tz": _reader_zone(request), **context})


async def browser_logs(request: Request) -> Response:
    found = await _browser(request)
    if found.state != "browser" or found.subject_id is None:
        return redirect(request, "browser.home")
    reader = (found.subject_id, _reader_zone(request))
    return await _logs(request, lambda: reader, "browser.logs", heading="This browser's log records")


async def browser_activity(request: Request) -> Response:
    found = await _browser(request)
    if found.state != "browser" or found.subject_id is None:
        return redirect(request, "browser.home")
    heading = "This browser's activity per day"
    reader = (found.subject_id, _reader_zone(request))
    return await _activity(request, lambda: reader, "browser.logs", heading=heading)


async def browser_personalization(request: Request) -> Response:
    found = await _browser(request)
    if found.state != "browser" or found.subject_id is None:
        return redirect(request, "browser.home")
    if request.method == "GET":
        message = (
            "The site will stop tailoring content to this browser, and every search term recorded "
            "about it will be deleted."
        )
        title = "Switch off personalised content for this browser?"
        return _browser_confirm(request, title, message, "Switch off personalised content")
    forgotten, seq = await call(request, thisbrowser.revoke_personalization, found.subject_id)
    message = f"Personalised content is off for this browser; {counted(forgotten, 'search term')} deleted."
    flash(request, message, "success", **({"receipt": seq} if seq else {}))
    response = redirect(request, "browser.home")
    _clear_pref_cookie(request, response)
    return response


async def browser_delete(request: Request) -> Response:
    found = await _browser(request)
    if found.state != "browser" or found.subject_id is None:
        return redirect(request, "browser.home")
    if request.method == "GET":
        message = (
            "Its log records, search preferences and cookie records will be deleted. "
            "Your choices (such as personalised content off) are kept."
        )
        return _browser_confirm(
            request, "Delete this browser's records?", message, "Delete this browser's records"
        )
    seq = await call(request, thisbrowser.delete_records, found.subject_id)
    flash(request, "This browser's records were deleted.", "success", receipt=seq)
    return redirect(request, "browser.home")


def _browser_confirm(request: Request, title: str, message: str, button: str) -> Response:
    context = {"title": title, "message": message, "button": button, "action": request.url.path}
    return render(request, "my/confirm.html", {"back": request.url_for("browser.home").path, **context})


def _clear_pref_cookie(request: Request, response: Response) -> None:
    """Only when the portal shares the site's cookie domain can it remove the site's cookie."""
    settings = request.app.state.settings
    if settings.cookie_domain and settings.pref_cookie in request.cookies:
        response.delete_cookie(
            settings.pref_cookie,
            path="/",
            domain=settings.cookie_domain,
            secure=settings.https,
            samesite="lax",
        )


ROUTES = [
    Route("/my", overview, name="my.overview", methods=GET),
    Route("/my/cookies", cookies, name="my.cookies", methods=GET),
    Route("/my/cookies/delete", delete_cookies, name="my.cookies.delete_all", methods=FORM),
    Route("/my/cookies/{id:int}/delete", delete_cookie, name="my.cookies.delete", methods=FORM),
    Route("/my/search", search, name="my.search", methods=GET),
    Route("/my/search/delete", delete_preferences, name="my.search.delete_all", methods=FORM),
    Route("/my/search/{id:int}/delete", delete_preference, name="my.search.delete", methods=FORM),
    Route("/my/logs", logs, name="my.logs", methods=GET),
    Route("/my/logs/activity", activity, name="my.activity", methods=GET),
    Route("/browser", browser_home, name="browser.home", methods=GET),
    Route("/browser/logs", browser_logs, name="browser.logs", methods=GET),
    Route("/browser/logs/activity", browser_activity, name="browser.activity", methods=GET),
    Route("/browser/personalization", browser_personalization, name="browser.personalization", methods=FORM),
    Route("/browser/delete", browser_delete, name="browser.delete", methods=FORM),
]

"""Handlers of the simulated site (demo mode only; 404 otherwise)."""

from __future__ import annotations

from urllib.parse import quote_plus

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.demo import demosite
from portal.demo.seed import DEMO_LOGINS, SEARCHES
from portal.web.common import client_ip, not_found, render

COOKIE_MAX_AGE = {"id": 365 * 86400, "pref": 180 * 86400}


def _enabled(request: Request) -> None:
    if not request.app.state.settings.demo:
        raise not_found()


async def _record(request: Request, status: int, referrer: str | None = None, extra_cookie: str = "") -> None:
    """Write this request to the demo site's access log and ingest it right away."""
    app = request.app.state
    header = demosite.site_cookie_header(app.settings, request.headers.get("cookie"), extra_cookie)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    demosite.log_line(
        app.settings, at=app.clock.now(), ip=client_ip(request), method=request.method, path=path,
        status=status, referrer=referrer, user_agent=request.headers.get("user-agent"), cookie_header=header,
    )  # fmt: skip
    await run_in_threadpool(demosite.ingest_new_lines, app.session_factory, app.settings, app.clock)


def _set(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", samesite="lax", httponly=True)


async def home(request: Request) -> Response:
    _enabled(request)
    await _record(request, 200)
    settings = request.app.state.settings
    context = {
        "searches": SEARCHES,
        "signed_in": request.query_params.get("signed_in") == "1",
        "logged_in": bool(request.cookies.get(settings.id_cookie)),
        "member_email": DEMO_LOGINS[0].email,
    }
    return render(request, "demosite/home.html", context)


async def search(request: Request) -> Response:
    _enabled(request)
    term = " ".join(request.query_params.get("q", "")[:80].split()) or SEARCHES[0]
    return render(request, "demosite/search.html", {"term": term})


async def watch(request: Request) -> Response:
    _enabled(request)
    settings = request.app.state.settings
    term = " ".join(request.query_params.get("from_search", "")[:80].split())
    response = render(request, "demosite/watch.html", {"term": term})
    extra = ""
    if term:
        value = demosite.with_term(request.cookies.get(settings.pref_cookie), term)
        _set(response, settings.pref_cookie, value, COOKIE_MAX_AGE["pref"])
        extra = f"{settings.pref_cookie}={value}"
    referrer = f"https://www.google.com/search?q={quote_plus(term)}" if term else None
    await _record(request, 200, referrer, extra)
    return response


async def login(request: Request) -> Response:
    _enabled(request)
    settings, clock = request.app.state.settings, request.app.state.clock
    value = request.cookies.get(settings.id_cookie) or demosite.new_id_cookie()
    demosite.login_event(settings, clock.now(), value)
    # Feedback on the page it lands on (the demo site has no session of its own to flash into).
    response = RedirectResponse(request.url_for("demo.home").path + "?signed_in=1", status_code=303)
    _set(response, settings.id_cookie, value, COOKIE_MAX_AGE["id"])
    await _record(request, 303, extra_cookie=f"{settings.id_cookie}={value}")
    return response


ROUTES = [
    Route("/demo-site/", home, name="demo.home", methods=["GET"]),
    Route("/demo-site/search", search, name="demo.search", methods=["GET"]),
    Route("/demo-site/watch", watch, name="demo.watch", methods=["GET"]),
    Route("/demo-site/login", login, name="demo.login", methods=["POST"]),
]

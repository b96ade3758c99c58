"""What every handler shares: calling a service, rendering, redirecting, and access guards."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar, cast

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from portal.accounts.sessions import Current
from portal.core.context import Ctx
from portal.core.links import MAILED
from portal.core.store import transaction
from portal.web import gpc
from portal.web.middleware import SAFE_METHODS
from portal.web.threads import unit_of_work

T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]
MAX_FIELD = 4096


def current(request: Request) -> Current:
    cur: Current = request.scope["portal"]["current"]
    return cur


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "-"


def make_ctx(request: Request, session: Any) -> Ctx:
    cur = request.scope.get("portal", {}).get("current")
    actor = f"account:{cur.account.id}" if cur and cur.account else "anonymous"
    return Ctx(
        session=session,
        settings=request.app.state.settings,
        now=request.app.state.clock.now(),
        actor=actor,
        ip=client_ip(request),
    )


class Refused(Exception):
    """A deferred access check failed inside a store call: the handler answers with `response`."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


async def call(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one service function in its own transaction (threads.unit_of_work).

    For a page view the transaction is read-only first: one that changes nothing writes nothing;
    on SQLite that attempt runs on the event loop itself while it is quick, anything else on a thread.
    On a page that loads its session itself (`loads_session`), the first call loads it, and runs
    login_required's check, in the same unit of work before `fn`.
    """
    state = request.scope["portal"]
    load_session = state.pop("load_session", None)
    check: Callable[[Request, Ctx], Response | None] | None = state.pop("check", None)
    refused: list[Response] = []

    def work(session: Any) -> T | None:
        if load_session is not None:
            load_session(session)  # in every attempt: a rerun as a writer loads it again
            refusal = check(request, make_ctx(request, session)) if check is not None else None
            if refusal is not None:  # not raised here: a new visitor's session must be committed
                refused.append(refusal)
                return None
        return fn(make_ctx(request, session), *args, **kwargs)

    app = request.app.state
    result = await unit_of_work(
        app.session_factory, app.quick_reader, work, read_first=request.method in SAFE_METHODS
    )
    if refused:
        raise Refused(refused[-1])
    return cast(T, result)


def loads_session(handler: Handler) -> Handler:
    """Marks a page whose view loads the session in its first store call, not in a unit of work of
    its own (see PortalMiddleware): a page view then costs one thread hop and one transaction, not
    two. Its handler must make that call before anything reads `current`, and its path must hold no
    parameters (the middleware matches it exactly)."""
    handler.loads_session = True  # type: ignore[attr-defined]  # read by deferred_paths
    return handler


def deferred_paths(routes: list[BaseRoute]) -> frozenset[str]:
    return frozenset(
        r.path for r in routes if isinstance(r, Route) and getattr(r.endpoint, "loads_session", False)
    )


def units(request: Request) -> Callable[[], AbstractContextManager[Ctx]]:
    """Opens a transaction of its own each time it is called: for work done one item at a time, so
    one refusal undoes nothing else (bulk actions)."""
    factory = request.app.state.session_factory

    @contextmanager
    def unit() -> Iterator[Ctx]:
        with transaction(factory) as session:
            yield make_ctx(request, session)

    return unit


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    block_name: str | None = None,
) -> Response:
    templates = request.app.state.templates
    kwargs: dict[str, Any] = {"status_code": status_code}
    if block_name:
        kwargs["block_name"] = block_name
    return templates.TemplateResponse(request, template, context or {}, **kwargs)


def path(request: Request, name: str, **params: Any) -> str:
    """A route's path, from the templates' cache: Starlette's own lookup tries every route (~40 µs)."""
    return str(request.app.state.templates.env.globals["url_for"](name, **params))


def redirect(request: Request, name: str, **params: Any) -> RedirectResponse:
    return RedirectResponse(path(request, name, **params), status_code=303)


def set_session(request: Request, token: str) -> None:
    """Tell the middleware to send a new session cookie ('' deletes it)."""
    request.scope["portal"]["set_session"] = token


async def form(request: Request) -> FormData:
    return await request.form(max_files=1, max_fields=50, max_part_size=MAX_FIELD * 64)


def field(data: FormData, name: str, limit: int = MAX_FIELD) -> str:
    """A text field, cut to a sane length (hostile megabyte fields never reach the services). A NUL
    character, which no text a person types holds and PostgreSQL refuses in any string (a 500 on
    login), becomes U+FFFD, so the field fails its own validation like any other bad input."""
    value = data.get(name)
    return value[:limit].replace("\x00", "\ufffd") if isinstance(value, str) else ""


def not_found() -> HTTPException:
    return HTTPException(status_code=404)


def login_required(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        state = request.scope["portal"]
        if "load_session" in state:  # checked in the page's first store call, with the session
            state["check"] = _check_login
            try:
                return await handler(request)
            except Refused as refused:
                return refused.response
        cur = current(request)
        refusal = _login_refusal(request, cur)
        if refusal is not None:
            return refusal
        await gpc.honour(request, cur)
        return await handler(request)

    return wrapper


def _login_refusal(request: Request, cur: Current) -> Response | None:
    if cur.account is None:
        target = request.url_for("auth.login").include_query_params(next=request.url.path)
        return RedirectResponse(f"{target.path}?{target.query}", status_code=303)
    if cur.is_staff and not cur.mfa_done:
        return redirect(request, "auth.mfa")
    return None


def _check_login(request: Request, ctx: Ctx) -> Response | None:
    cur = current(request)
    refusal = _login_refusal(request, cur)
    if refusal is None:
        gpc.honour_in(request, ctx, cur)
    return refusal


def _roles_required(*roles: str) -> Callable[[Handler], Handler]:
    """Staff pages do not exist for anyone else: 404, never a hint that they are there."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request) -> Response:
            cur = current(request)
            if cur.account is None or cur.account.role not in roles:
                raise not_found()
            if not cur.mfa_done:
                return redirect(request, "auth.mfa")
            return await handler(request)

        wrapper.staff_roles = roles  # type: ignore[attr-defined]  # read by the route-table test
        return wrapper

    return decorate


staff_required = _roles_required("agent", "admin")
admin_required = _roles_required("admin")


def mailed(name: str, endpoint: Callable[..., Any], methods: list[str]) -> Route:
    """The route of a page that mail links to: its path comes from portal/core/links.py."""
    return Route(MAILED[name], endpoint, name=name, methods=methods)

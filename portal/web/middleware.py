"""One ASGI middleware for what every request needs: session, CSRF, security headers, error pages.

It is pure ASGI (not BaseHTTPMiddleware) so it can buffer and replay a POST body for the CSRF
check, and so that even a crash inside a handler is answered with a friendly page that still
carries every security header.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.accounts import sessions
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.crypto import same
from portal.core.settings import Settings
from portal.core.store import QuickReader, transaction
from portal.models import WebSession
from portal.web import flash
from portal.web.threads import unit_of_work

log = logging.getLogger("portal.web")

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SAFE_METHODS = frozenset({"GET", "HEAD"})
MAX_BODY_BYTES = 1024 * 1024
# Paths that never need a session: no row is created for a visitor who only fetches these.
SESSIONLESS_PREFIXES = ("/static/", "/.well-known/", "/healthz")
# Unsafe requests here need no CSRF token: they are authenticated by a signed token in the URL and
# act on nobody's session, and an RFC 8058 one-click unsubscribe POST comes from a mail client that
# has neither a token nor our origin. Each such handler must refuse a missing or invalid URL token.
CSRF_EXEMPT_PREFIXES = ("/unsubscribe/",)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def security_headers(settings: Settings, static: bool) -> list[tuple[str, str]]:
    headers = [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ("cache-control", "public, max-age=3600" if static else "no-store"),
    ]
    if settings.https:
        headers.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
    return headers


class PortalMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        factory: sessionmaker[Session],
        quick: QuickReader | None,
        clock: Clock,
        deferred_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.settings = settings
        self.factory = factory
        self.quick = quick
        self.clock = clock
        # Pages whose views load the session in their own first store call (common.loads_session).
        self.deferred_paths = deferred_paths
        self._touching: set[str] = set()  # sessions whose activity a request of this worker records

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        sessionless = path.startswith(SESSIONLESS_PREFIXES)
        extra_headers = security_headers(self.settings, path.startswith("/static/"))
        state: dict[str, Any] = scope.setdefault("portal", {})
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in extra_headers:
                    headers[name] = value
                if not sessionless:
                    await self._finish_session(state, headers)
            await send(message)

        try:
            if not sessionless and path in self.deferred_paths and scope["method"] in SAFE_METHODS:
                # Loaded by the page's first store call, in the same unit of work (common.call).
                state["load_session"] = self._session_loader(scope, state)
            elif not sessionless:
                await self._start_session(scope, state)
                if scope["method"] in UNSAFE_METHODS:
                    exempt = path.startswith(CSRF_EXEMPT_PREFIXES)
                    receive, refusal = await self._check_unsafe(scope, receive, state, exempt)
                    if refusal is not None:
                        await self._error_page(scope, send_wrapper, *refusal)
                        return
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if not started:
                await self._error_page(scope, send_wrapper, 500, "errors/500.html", {})
        if not sessionless:
            await self._touch(state)

    # -- session ---------------------------------------------------------------------------

    async def _start_session(self, scope: Scope, state: dict[str, Any]) -> None:
        load = self._session_loader(scope, state)
        # Read-only unless this request creates or expires the session or consumes a flash.
        await unit_of_work(self.factory, self.quick, load, read_first=True)

    def _session_loader(self, scope: Scope, state: dict[str, Any]) -> Callable[[Session], None]:
        """Loads (or starts) the request's session in a unit of work and puts it in `state`: here, in
        one of its own, or, for a deferred page, in the page's first store call (common.call)."""
        token = _cookie(scope, self.settings.session_cookie)
        consume_flash = scope["method"] == "GET" and not _header(scope, "hx-request")
        unsafe = scope["method"] in UNSAFE_METHODS

        def load(session: Session) -> None:
            ctx = Ctx(session=session, settings=self.settings, now=self.clock.now())
            current = sessions.load(ctx, token) or sessions.create(ctx)
            flashes = flash.decode(current.row.flash) if consume_flash else []
            if consume_flash and current.row.flash:
                current.row.flash = None
            # Out of the unit of work once written: when a page's store call that shares it fails
            # and is rolled back, the error page still reads the visitor's session and account.
            session.flush()
            session.expunge(current.row)
            if current.account is not None:
                session.expunge(current.account)
            state["current"] = current
            state["flashes"] = flashes
            state["csrf_token"] = sessions.csrf_token(self.settings.secret_key, current.id_hash)
            # Only a safe request may hand the browser a new session by itself. An unsafe one that
            # came without a live session (a cross-site POST, which carries no Lax cookie) must not
            # replace the session the browser holds: that would log its owner out. Handlers that
            # sign in or out still set the cookie explicitly (set_session).
            if current.token != token and not unsafe:
                state["set_session"] = current.token

        return load

    async def _finish_session(self, state: dict[str, Any], headers: MutableHeaders) -> None:
        current: sessions.Current | None = state.get("current")
        new_flashes = state.get("new_flashes")
        if new_flashes and current is not None:
            await run_in_threadpool(self._save_flashes, current.id_hash, new_flashes)
        if "set_session" in state:
            headers.append("set-cookie", self._session_cookie(state["set_session"]))
        headers.append("vary", "Cookie")

    async def _touch(self, state: dict[str, Any]) -> None:
        """Record the session's activity once a minute, after the answer has gone out.

        Not in the page view's own transaction: every request of a busy session (tabs, htmx) would
        find the minute up at once and queue for the same row. Here one request per worker writes
        and the others go on; the person waits for none of it.
        """
        current: sessions.Current | None = state.get("current")
        if current is None or current.id_hash in self._touching:
            return
        if not sessions.touch_due(current, self.clock.now()):
            return
        self._touching.add(current.id_hash)
        try:
            await run_in_threadpool(self._save_touch, current.id_hash)
        except Exception:  # the next request tries again
            log.exception("recording session activity failed")
        finally:
            self._touching.discard(current.id_hash)

    def _save_touch(self, id_hash: str) -> None:
        with transaction(self.factory) as session:
            sessions.touch(Ctx(session=session, settings=self.settings, now=self.clock.now()), id_hash)

    def _save_flashes(self, id_hash: str, items: list[Any]) -> None:
        with transaction(self.factory) as session:
            row = session.get(WebSession, id_hash)
            if row is not None:
                row.flash = flash.encode(flash.decode(row.flash) + items)

    def _session_cookie(self, token: str) -> str:
        cookie = SimpleCookie()
        name = self.settings.session_cookie
        cookie[name] = token
        morsel = cookie[name]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        if self.settings.https:
            morsel["secure"] = True
        if not token:
            morsel["max-age"] = 0
        return morsel.OutputString()

    # -- unsafe requests -------------------------------------------------------------------

    async def _check_unsafe(
        self, scope: Scope, receive: Receive, state: dict[str, Any], exempt: bool = False
    ) -> tuple[Receive, tuple[int, str, dict[str, Any]] | None]:
        forbidden = (403, "errors/403.html", {"reason": "csrf"})
        if not exempt and (_header(scope, "sec-fetch-site") or "").lower() == "cross-site":
            return receive, forbidden
        origin = _header(scope, "origin")
        if not exempt and origin and origin != "null" and not self._same_origin(scope, origin):
            return receive, forbidden
        body, too_large = await _read_body(receive, MAX_BODY_BYTES)
        # After the body, the app hears the real connection again: a streamed response (a download
        # answering a POST) listens for the client going away and would stop at a made-up disconnect.
        replay = _replay(body, then=receive)
        if too_large:
            return replay, (413, "errors/413.html", {})
        if exempt:
            return replay, None
        sent = _header(scope, "x-csrf-token")
        if not sent:
            request = Request(scope, _replay(body))
            try:
                form = await request.form(max_files=5, max_fields=200)
                value = form.get("csrf_token")
                sent = value if isinstance(value, str) else None
                await form.close()
            except Exception:  # malformed bodies are simply requests without a token
                sent = None
        if not sent or not same(sent, state["csrf_token"]):
            return replay, forbidden
        return replay, None

    def _same_origin(self, scope: Scope, origin: str) -> bool:
        base = urlsplit(self.settings.base_url)
        allowed = {f"{base.scheme}://{base.netloc}"}
        host = _header(scope, "host")
        if host:
            allowed.add(f"{scope.get('scheme', 'http')}://{host}")
        return origin in allowed

    async def _error_page(
        self, scope: Scope, send: Send, status: int, template: str, context: dict[str, Any]
    ) -> None:
        templates = scope["app"].state.templates
        request = Request(scope)
        response = templates.TemplateResponse(request, template, context, status_code=status)
        await response(scope, _empty_receive, send)


def _header(scope: Scope, name: str) -> str | None:
    key = name.encode()
    for k, v in scope["headers"]:
        if k == key:
            return str(v.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    """Read leniently, as browsers and Starlette do: SimpleCookie stops at the first value it dislikes
    (a space, a quote, JSON, non-ASCII), so another site's cookie on our domain would end the session."""
    # HTTP/2 may split the header; joined, it reads like the single header of HTTP/1.1.
    raw = "; ".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"cookie")
    if not raw:
        return None
    return cookie_parser(raw).get(name)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, then: Receive | None = None) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


Handler = Callable[[Request], Awaitable[Any]]

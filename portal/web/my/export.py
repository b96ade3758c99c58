"""Handlers for "download my data": the page, re-entering the password, creating and downloading."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from portal.accounts import reauth, sessions
from portal.core.context import Ctx
from portal.core.words import count
from portal.export import exports
from portal.subjects import registry
from portal.web.common import call, current, field, form, login_required, not_found, redirect, render
from portal.web.flash import flash
from portal.web.threads import long_work

PASSWORD_FIELD_LIMIT = 1024
CHUNK = 256 * 1024
# A fresh interpreter: a forked copy of a worker would inherit its threads' locks and its sockets.
_SPAWN = multiprocessing.get_context("spawn")


def _page_context(ctx: Ctx, cur: sessions.Current) -> dict[str, Any]:
    categories = registry.exported()
    assert cur.account is not None
    return {
        "live": exports.live_link(ctx, cur.account.subject_id),
        "reauthenticated": sessions.recently_reauthenticated(ctx, cur),
        "sections": [
            (origin, [(c, c.retention_text(ctx.settings)) for c in categories if c.origin == origin])
            for origin in ("provided", "observed")
        ],
        "link_hours": _hours(),
    }


def _hours() -> int:
    return int(exports.LINK_TTL.total_seconds() // 3600)


@login_required
async def page(request: Request) -> Response:
    context = await call(request, _page_context, current(request))
    return render(request, "my/export.html", context)


@login_required
async def confirm_password(request: Request) -> Response:
    password = field(await form(request), "password", PASSWORD_FIELD_LIMIT)
    device = request.cookies.get(request.app.state.settings.device_cookie)
    result = await call(request, reauth.confirm_password, current(request), password, device)
    if result.status == "ok":
        return redirect(request, "my.export")
    context = await call(request, _page_context, current(request))
    if result.status == "throttled":
        context["error"] = f"Too many attempts. Try again in {max(1, result.retry_after // 60)} minutes."
        response = render(request, "my/export.html", context, status_code=429)
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    context["error"] = "That password is not correct."
    return render(request, "my/export.html", context, status_code=400)


@login_required
async def create(request: Request) -> Response:
    try:
        started = await call(request, exports.start, current(request))
    except exports.ReauthRequired as exc:
        flash(request, str(exc), "error")
        return redirect(request, "my.export")
    state = request.app.state
    # Built before the answer (the page tells the person this may take a while), in a process of
    # its own: see exports.build_apart.
    builder = _SPAWN.Process(
        target=exports.build_apart, args=(state.settings, state.clock.now(), started.export_id), daemon=True
    )
    builder.start()
    await long_work(builder.join)
    if builder.exitcode != 0:
        raise RuntimeError(f"building export {started.export_id} failed (exit status {builder.exitcode})")
    link = request.url_for("my.export_download", token=started.token).path
    flash(
        request,
        f"Your data is ready. The download link works once, for {count(_hours(), 'hour')}.",
        "success",
        download=link,
    )
    return redirect(request, "my.export")


@login_required
async def download(request: Request) -> Response:
    cur = current(request)
    token = request.path_params["token"]
    result = await call(request, exports.claim, cur.account.subject_id, token)  # type: ignore[union-attr]
    if result.status == "missing":
        raise not_found()
    sent = await archive(result)
    if sent is None:
        status = result.status if result.status != "ok" else "expired"
        return render(request, "my/export_link.html", {"status": status}, status_code=410)
    return sent


async def archive(result: exports.Claim) -> Response | None:
    """The claimed archive as a download; None when it cannot be sent (used, expired, gone)."""
    if result.status != "ok" or result.path is None:
        return None
    handle = await run_in_threadpool(_open_once, result.path)
    if handle is None:
        return None
    stamp = result.created_at.strftime("%Y-%m-%d") if result.created_at else "export"
    return StreamingResponse(
        _chunks(handle),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="my-data-{stamp}.zip"',
            "Content-Length": str(result.size),
        },
    )


def _open_once(path: Path) -> IO[bytes] | None:
    """Open the archive and delete its name at once: the open handle still reads it, and nothing is
    left on disk even if the client goes away mid-download."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    return handle


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


ROUTES = [
    Route("/my/export", page, name="my.export", methods=["GET"]),
    Route("/my/export", create, name="my.export_create", methods=["POST"]),
    Route("/my/export/reauth", confirm_password, name="my.export_reauth", methods=["POST"]),
    Route("/my/export/download/{token}", download, name="my.export_download", methods=["GET"]),
]

"""Back-office pages for ingest: quarantined lines (page and CSV), runs, unclassified cookies, the catalog.

Admins only (everyone else gets the same 404 as for a page that does not exist).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.core.errors import NotFound, ValidationError
from portal.ingest import quarantine, relink, runs
from portal.ingest.rejections import REASONS
from portal.models import MAX_INTEGER
from portal.subjects import catalog
from portal.subjects.cookies import DECODERS, PURPOSES
from portal.web.common import admin_required, call, field, form, not_found, redirect, render
from portal.web.flash import flash


def _cursor(request: Request) -> int | None:
    """A page cursor (an id): anything no Integer column holds means the first page."""
    raw = request.query_params.get("before", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_INTEGER))):
        return None
    return int(raw) if int(raw) <= MAX_INTEGER else None


def _page_url(request: Request, name: str, **params: Any) -> str:
    path = str(request.app.url_path_for(name))
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


@admin_required
async def quarantine_page(request: Request) -> Response:
    reason = request.query_params.get("reason", "")[:32]
    page = await call(request, quarantine.page, reason, _cursor(request))
    next_url = (
        _page_url(request, "staff.ingest.quarantine", reason=reason, before=page.next_before)
        if page.next_before
        else None
    )
    context = {
        "page": page,
        "reasons": REASONS,
        "next_url": next_url,
        "csv_url": _page_url(request, "staff.ingest.quarantine_csv", reason=reason),
        "first_page": _cursor(request) is None,
    }
    return render(request, "staff/ingest_quarantine.html", context)


@admin_required
async def quarantine_csv(request: Request) -> Response:
    reason = request.query_params.get("reason", "")[:32]
    body, more = await call(request, quarantine.export_csv, reason)
    headers = {
        "Content-Disposition": 'attachment; filename="quarantine.csv"',
        "X-Portal-Truncated": "1" if more else "0",
    }
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


@admin_required
async def runs_page(request: Request) -> Response:
    page = await call(request, runs.recent, _cursor(request))
    next_url = _page_url(request, "staff.ingest.runs", before=page.next_before) if page.next_before else None
    return render(request, "staff/ingest_runs.html", {"page": page, "next_url": next_url})


@admin_required
async def cookies_page(request: Request) -> Response:
    seen = await call(request, catalog.unclassified)
    entries = await call(request, catalog.entries)
    return render(request, "staff/cookies.html", {"seen": seen, "entries": entries})


def _form_values(data: Any, name: str) -> catalog.CookieForm:
    purposes = tuple(p[:32] for p in data.getlist("purposes")[: len(PURPOSES) + 1] if isinstance(p, str))
    return catalog.CookieForm(
        name=name,
        purposes=purposes,
        description=field(data, "description", catalog.MAX_DESCRIPTION + 1),
        lifetime_days=field(data, "lifetime_days", 10),
        identifies_browser=field(data, "identifies_browser", 10) == "1",
        decoder=field(data, "decoder", 32),
    )


def _render_form(request: Request, values: dict[str, Any], errors: dict[str, str], status: int) -> Response:
    context = {"cookie": values, "errors": errors, "purposes": PURPOSES, "decoders": sorted(DECODERS)}
    return render(request, "staff/cookie_form.html", context, status_code=status)


async def _save(request: Request, cookie_id: int | None, name: str) -> Response:
    data = await form(request)
    values = _form_values(data, field(data, "name", 200) if cookie_id is None else name)
    shown = {**values.__dict__, "id": cookie_id, "adding": cookie_id is None}
    errors = catalog.check(values, adding=cookie_id is None)
    if not errors:
        try:
            saved = await call(request, relink.save_catalog_entry, values, cookie_id)
        except ValidationError as exc:
            errors = {exc.field or "form": str(exc)}
        else:
            flash(request, f"Saved {values.name}." if saved else "Nothing changed.", "success")
            return redirect(request, "staff.cookies.unclassified")
    return _render_form(request, shown, errors, 400)


@admin_required
async def cookie_add(request: Request) -> Response:
    if request.method == "POST":
        return await _save(request, None, "")
    name = request.query_params.get("name", "")[:128]
    blank = {"id": None, "adding": True, "name": name, "purposes": (), "description": "",
             "lifetime_days": "", "identifies_browser": False, "decoder": ""}  # fmt: skip
    return _render_form(request, blank, {}, 200)


@admin_required
async def cookie_edit(request: Request) -> Response:
    cookie_id = request.path_params["id"]
    try:
        row = await call(request, catalog.get, cookie_id)
    except NotFound:
        raise not_found() from None
    if request.method == "POST":
        return await _save(request, cookie_id, row.name)
    values = {
        "id": row.id,
        "adding": False,
        "name": row.name,
        "purposes": tuple(row.purposes.split(",")),
        "description": row.description,
        "lifetime_days": "" if row.lifetime_days is None else str(row.lifetime_days),
        "identifies_browser": row.identifies_browser,
        "decoder": row.decoder or "",
    }
    return _render_form(request, values, {}, 200)


GET, FORM = ["GET"], ["GET", "POST"]
ROUTES = [
    Route("/staff/ingest/quarantine", quarantine_page, name="staff.ingest.quarantine", methods=GET),
    Route("/staff/ingest/quarantine.csv", quarantine_csv, name="staff.ingest.quarantine_csv", methods=GET),
    Route("/staff/ingest/runs", runs_page, name="staff.ingest.runs", methods=GET),
    Route("/staff/cookies/unclassified", cookies_page, name="staff.cookies.unclassified", methods=GET),
    Route("/staff/cookies/catalog/add", cookie_add, name="staff.cookies.add", methods=FORM),
    Route("/staff/cookies/catalog/{id:int}", cookie_edit, name="staff.cookies.edit", methods=FORM),
]

"""Finding a person (by email, site user id, identification cookie or request number), candidate log
records of an IP address, a person's page (counts; rows only after a reason) and filing a request on
their behalf.

Lookups and data views are POSTs: what is looked up (an email address, a cookie value) never lands in
a URL, a server log or the browser's history, and each one is audited with the reason typed.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import audit
from portal.backoffice import dossier, lookup
from portal.core.errors import NotFound, ValidationError
from portal.core.words import count
from portal.models.requests import OBJECTION_SCOPES, REQUEST_KINDS
from portal.requests import onbehalf
from portal.requests.statuses import KIND_LABELS, LABELS
from portal.web.common import call, field, form, not_found, redirect, staff_required
from portal.web.flash import flash
from portal.web.staff.pages import page


def _lookup_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    base = {"kinds": lookup.KINDS, "values": {}, "errors": {}, "results": None}
    return page(request, "staff/lookup.html", {**base, **context}, status_code=status_code)


@staff_required
async def find(request: Request) -> Response:
    if request.method == "GET":
        return _lookup_page(request)
    data = await form(request)
    values = {k: field(data, k, lookup.MAX_VALUE + 1) for k in ("by", "value", "reason")}
    try:
        results = await call(request, lookup.lookup, values["by"], values["value"], values["reason"])
    except ValidationError as exc:
        return _lookup_page(request, 400, values=values, errors={exc.field or "value": str(exc)})
    shown = {"by": values["by"], "reason": values["reason"]}  # the value itself is not shown back
    return _lookup_page(request, values=shown, results=results)


@staff_required
async def find_by_ip(request: Request) -> Response:
    context: dict[str, Any] = {"values": {}, "errors": {}, "rows": None, "more": False}
    if request.method == "POST":
        data = await form(request)
        values = {k: field(data, k, 600) for k in ("ip", "day", "reason")}
        context["values"] = values
        try:
            context["rows"], context["more"] = await call(
                request, lookup.ip_candidates, values["ip"], values["day"], values["reason"]
            )
        except ValidationError as exc:
            context["errors"] = {exc.field or "ip": str(exc)}
            return page(request, "staff/lookup_ip.html", context, status_code=400)
    return page(request, "staff/lookup_ip.html", context)


def _subject_id(request: Request) -> int:
    value: int = request.path_params["id"]
    return value


async def _summary(request: Request) -> dossier.Summary:
    try:
        return await call(request, dossier.summary, _subject_id(request))
    except NotFound:
        raise not_found() from None


def _subject_page(
    request: Request, summary: dossier.Summary, status_code: int = 200, **extra: Any
) -> Response:
    secret = request.app.state.settings.secret_key
    context = {
        "summary": summary, "kinds": KIND_LABELS, "statuses": LABELS,
        "pseudonym": audit.subject_ref(secret, summary.subject_id), "shown": None, "errors": {}, **extra,
    }  # fmt: skip
    return page(request, "staff/subject.html", context, status_code=status_code)


@staff_required
async def subject_page(request: Request) -> Response:
    return _subject_page(request, await _summary(request))


@staff_required
async def show_data(request: Request) -> Response:
    """One category's rows, in this response only, after a reason (audited)."""
    data = await form(request)
    category, reason = field(data, "category", 64), field(data, "reason", 600)
    summary = await _summary(request)
    try:
        shown = await call(request, dossier.show, summary.subject_id, category, reason)
    except NotFound:
        raise not_found() from None
    except ValidationError as exc:
        return _subject_page(request, summary, 400, errors={"category": category, "reason": str(exc)})
    return _subject_page(request, summary, shown=shown)


def _file_page(request: Request, summary: dossier.Summary, status_code: int = 200, **extra: Any) -> Response:
    context = {
        "summary": summary, "kinds": {k: KIND_LABELS[k] for k in REQUEST_KINDS}, "scopes": OBJECTION_SCOPES,
        "values": {}, "errors": {}, "days": onbehalf.CONFIRM_TTL.days, **extra,
    }  # fmt: skip
    return page(request, "staff/file_request.html", context, status_code=status_code)


@staff_required
async def file_request(request: Request) -> Response:
    summary = await _summary(request)
    if request.method == "GET":
        return _file_page(request, summary)
    data = await form(request)
    values = {k: field(data, k, 4001) for k in ("kind", "contact", "details")}
    scope = " ".join(s for s in data.getlist("scope") if isinstance(s, str))[:64]
    try:
        filed = await call(
            request, onbehalf.file, summary.subject_id, values["kind"], values["contact"],
            scope=scope, details=values["details"],
        )  # fmt: skip
    except ValidationError as exc:
        errors = {exc.field or "kind": str(exc)}
        return _file_page(request, summary, 400, values={**values, "scope": scope.split()}, errors=errors)
    if filed.joined:
        joined = "This person already had an open request of this kind: yours was added to it."
        flash(request, joined, "success")
    else:
        days = onbehalf.CONFIRM_TTL.days
        flash(
            request,
            f"Request no. {filed.request_id} recorded. The contact address was mailed a link to confirm it "
            f"within {count(days, 'day')}; nothing is carried out before that.",
            "success",
        )
    return redirect(request, "staff.request", id=filed.request_id)


FORM = ["GET", "POST"]
ROUTES = [
    Route("/staff/subjects", find, name="staff.subjects", methods=FORM),
    Route("/staff/subjects/ip", find_by_ip, name="staff.subjects.ip", methods=FORM),
    Route("/staff/subjects/{id:int}", subject_page, name="staff.subject", methods=["GET"]),
    Route("/staff/subjects/{id:int}/show", show_data, name="staff.subject.show", methods=["POST"]),
    Route("/staff/subjects/{id:int}/request", file_request, name="staff.subject.file", methods=FORM),
]

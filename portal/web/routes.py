"""The one route table. Every route has a name; templates and redirects use url_for."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from portal.web import demosite
from portal.web.common import mailed
from portal.web.my import (
    account,
    auth,
    consent,
    export,
    mydata,
    onbehalf,
    pages,
    receipts,
    requests,
    staffauth,
    verification,
)
from portal.web.staff import auditlog as staff_audit
from portal.web.staff import home as staff_home
from portal.web.staff import ingest as staff_ingest
from portal.web.staff import reports as staff_reports
from portal.web.staff import requests as staff_requests
from portal.web.staff import subjects as staff_subjects
from portal.web.staff import team as staff_team
from portal.web.templating import TEMPLATES_DIR

STATIC_DIR = TEMPLATES_DIR.parent / "static"
GET, POST, FORM = ["GET"], ["POST"], ["GET", "POST"]


routes: list[BaseRoute] = [
    Route("/", pages.home, name="home", methods=GET),
    Route("/healthz", pages.healthz, name="healthz", methods=GET),
    Route("/register", auth.register, name="auth.register", methods=FORM),
    Route("/register/sent", auth.registered, name="auth.registered", methods=GET),
    mailed("auth.verify", auth.verify, FORM),
    mailed("auth.login", auth.login, FORM),
    Route("/login/mfa", auth.mfa_step, name="auth.mfa", methods=FORM),
    Route("/logout", auth.logout, name="auth.logout", methods=POST),
    mailed("auth.forgot", auth.forgot, FORM),
    Route("/password/forgot/sent", auth.forgot_sent, name="auth.forgot_sent", methods=GET),
    mailed("auth.reset", auth.reset, FORM),
    Route("/account", auth.account_home, name="account.home", methods=GET),
    Route("/account/password", auth.change_password, name="account.password", methods=FORM),
    *account.ROUTES,
    *staffauth.ROUTES,
    *verification.ROUTES,
    *export.ROUTES,
    *mydata.ROUTES,
    *consent.ROUTES,
    *receipts.ROUTES,
    *requests.ROUTES,
    *onbehalf.ROUTES,
    *demosite.ROUTES,
    mailed("staff.home", staff_home.home, GET),
    *staff_requests.ROUTES,
    *staff_subjects.ROUTES,
    *staff_audit.ROUTES,
    *staff_reports.ROUTES,
    *staff_team.ROUTES,
    *staff_ingest.ROUTES,
    Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
]

# For building URLs outside a request (links in mail): the same table, never a second list.
router = Router(routes=routes)

"""The one route table. Every route has a name; templates and redirects use url_for."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from portal.web import auth, consent, demosite, export, my_receipts, mydata, pages, receipts, staff_ingest
from portal.web.templating import TEMPLATES_DIR

STATIC_DIR = TEMPLATES_DIR.parent / "static"
GET, POST, FORM = ["GET"], ["POST"], ["GET", "POST"]

routes: list[BaseRoute] = [
    Route("/", pages.home, name="home", methods=GET),
    Route("/healthz", pages.healthz, name="healthz", methods=GET),
    Route("/register", auth.register, name="auth.register", methods=FORM),
    Route("/register/sent", auth.registered, name="auth.registered", methods=GET),
    Route("/verify/{token}", auth.verify, name="auth.verify", methods=FORM),
    Route("/login", auth.login, name="auth.login", methods=FORM),
    Route("/login/mfa", auth.mfa_step, name="auth.mfa", methods=FORM),
    Route("/logout", auth.logout, name="auth.logout", methods=POST),
    Route("/password/forgot", auth.forgot, name="auth.forgot", methods=FORM),
    Route("/password/reset/{token}", auth.reset, name="auth.reset", methods=FORM),
    Route("/account", auth.account_home, name="account.home", methods=GET),
    Route("/account/password", auth.change_password, name="account.password", methods=FORM),
    Route("/staff", pages.staff_home, name="staff.home", methods=GET),
    *receipts.ROUTES,
    *export.ROUTES,
    *staff_ingest.ROUTES,
    *mydata.ROUTES,
    *consent.ROUTES,
    *my_receipts.ROUTES,
    *demosite.ROUTES,
    Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
]

# For building URLs outside a request (links in mail): the same table, never a second list.
router = Router(routes=routes)

"""Global Privacy Control: a logged-in user's `Sec-GPC: 1` is an opt-out of marketing use.

Called from `login_required`, so every logged-in page honours it. The service writes (and
audits) only when it changes something, so a browser sending the signal on every request
produces one entry, not one per page.
"""

from __future__ import annotations

from starlette.requests import Request

from portal.accounts.sessions import Current
from portal.core.context import Ctx
from portal.subjects import consent
from portal.web import common  # common imports this module too; attributes are used at call time only


def signalled(request: Request) -> bool:
    return request.headers.get("sec-gpc", "").strip() == "1"


async def honour(request: Request, cur: Current) -> None:
    if cur.account is None or not signalled(request):
        return
    await common.call(request, lambda ctx: honour_in(request, ctx, cur))


def honour_in(request: Request, ctx: Ctx, cur: Current) -> None:
    """`honour` inside a unit of work that is already open (a page that loads its own session)."""
    if cur.account is None or not signalled(request):
        return
    # The consent page shows the receipt of a change this very request made.
    request.scope.setdefault("portal", {})["gpc_change"] = consent.honour_gpc(ctx, cur.account.subject_id)

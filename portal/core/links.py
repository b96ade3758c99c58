"""Links that leave the portal in mail, built from PORTAL_BASE_URL only (never the Host header).

A mailed link is a contract with someone's inbox: it must keep working after an upgrade. So the
paths of mailed pages are fixed here, where every area can reach them without importing the web
layer, and the route table mounts those pages on these very paths (`mailed()` in
portal/web/routes.py); a test holds the two together.
"""

from __future__ import annotations

from urllib.parse import quote

from portal.core.settings import Settings

MAILED: dict[str, str] = {
    "auth.login": "/login",
    "auth.forgot": "/password/forgot",
    "auth.verify": "/verify/{token}",
    "auth.reset": "/password/reset/{token}",
    "account.email_confirm": "/account/email/confirm/{token}",
    "consent.unsubscribe": "/unsubscribe/{token}",
    "my.request": "/my/requests/{id}",
    "receipts.verify": "/receipts/verify",
    "staff.home": "/staff",
    "auth.invite": "/invite/{token}",
    "requests.confirm": "/requests/confirm/{token}",
    "requests.copy": "/requests/copy/{token}",
}


def absolute(settings: Settings, name: str, **params: str) -> str:
    """`absolute(settings, "auth.reset", token=t)` → "https://portal.example/password/reset/t"."""
    path = MAILED[name].format(**{key: quote(value, safe="") for key, value in params.items()})
    return settings.base_url + path

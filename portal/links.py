"""Absolute links for mail, built from PORTAL_BASE_URL and the named route table only."""

from __future__ import annotations

from portal.settings import Settings


def absolute(settings: Settings, name: str, **params: str) -> str:
    from portal.web.routes import router  # late: the route table imports the services

    return settings.base_url + str(router.url_path_for(name, **params))

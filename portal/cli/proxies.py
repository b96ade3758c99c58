"""Which peers `portal serve` lets name the client: uvicorn's proxy options from the settings."""

from __future__ import annotations

from typing import Any

from portal.core.settings import Settings


def uvicorn_proxy_options(settings: Settings) -> dict[str, Any]:
    """Without trusted proxies X-Forwarded-For is ignored: otherwise any client could choose its own
    address, dodge the per-address login limit or get someone else's address blocked."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}

"""Flash messages survive one redirect (POST-redirect-GET) in the server-side session."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request


def flash(request: Request, message: str, category: str = "info", **extra: Any) -> None:
    """Queue a message for the next page; the middleware stores it with the session."""
    request.scope.setdefault("portal", {}).setdefault("new_flashes", []).append(
        {"message": message, "category": category, **extra}
    )


def encode(items: list[dict[str, Any]]) -> str | None:
    return json.dumps(items) if items else None


def decode(raw: str | None) -> list[dict[str, Any]]:
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        return []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

"""No input makes the portal answer 5xx: every route of the route table, walked with generated path
parameters, query strings and form fields, as a visitor, a user, an agent and an admin.

The routes come from the one route table at run time, so a route added later is walked without
anyone touching this file; the field names come from what the handlers read (`.get("…")`,
`field(data, "…")`), so new fields are tried too. Each request carries a valid CSRF token, so the
handlers themselves are reached rather than only the middleware's refusal.
"""

from __future__ import annotations

import ast
import base64
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from portal.accounts import accounts, passwords, sessions
from portal.web.app import create_app
from portal.web.routes import routes
from tests.conftest import Client, Store

WEB = Path(__file__).resolve().parent.parent / "portal" / "web"
ROLES = ("anonymous", "user", "agent", "admin")
PASSWORD_HASH = passwords.hash_password("violet-tractor-harbour-77")
# Per route and store; PORTAL_WALK_EXAMPLES=500 walks deeper when hunting (the suite keeps it short).
EXAMPLES = int(os.environ.get("PORTAL_WALK_EXAMPLES", "12"))


def _targets() -> list[tuple[str, str, Route | Mount]]:
    found: list[tuple[str, str, Route | Mount]] = []
    for route in routes:
        if isinstance(route, Route):
            found += [(route.name, method, route) for method in sorted(route.methods or ()) if method != "HEAD"]
        elif isinstance(route, Mount):
            found.append((route.name or route.path, "GET", route))
    return found


def _field_names() -> list[str]:
    """Every name a handler reads from a query string or form: `x.get("name")`, `field(data, "name")`."""
    names = {"csrf_token", "next", "after", "from", "to", "q"}
    for path in WEB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("get", "getlist", "field"):
                names.update(
                    a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    and a.value.replace("-", "_").isidentifier() and len(a.value) < 40
                )  # fmt: skip
    return sorted(names)


TARGETS = _targets()
FIELDS = _field_names()


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# Values that broke handlers once, and their relatives: dates and numbers at and past every limit,
# JSON a parser chokes on, control characters, non-ASCII, a megabyte.
SPECIAL = [
    "", "0", "-1", "1.5", "9999-12-31", "0001-01-01", "10000-01-01", "2024-02-30", "0.9223372036854775808",
    "9223372036854775807.9223372036854775807", "-9223372036854775809", "99999999999999999999999",
    "999999999999999999", "1e309", "NaN", "Infinity", "-0", "１２３", "\u0661\u0662",
    "<[ x30000>", "<deep JSON>", '{"seq": Infinity}', '{"format": "portal-audit-receipt/1", "seq": 1e999}',
    "\x00", "\r\n", "\t", "%", "%00", "%ff", "../../etc/passwd", "//evil.example", "/\\evil.example",
    "\u3000", "\u202e", "\ud7ff", "é", "𝔘", "<script>", "' OR 1=1 --", "<1 MB>",
]
# Big values are drawn as their names and made at send time, so a failing example prints short.
BIG = {"<[ x30000>": "[" * 30000, "<deep canonical>": base64.b64encode(_deep(20000).encode()).decode(), "<deep JSON>": _deep(5000), "<1 MB>": "x" * 1_000_000}
URL_LIMIT = 8000  # servers refuse longer request lines anyway (uvicorn's h11: 16 KiB of head)


def _expand(value: str, limit: int | None = None) -> str:
    value = BIG.get(value, value)
    return value[:limit] if limit else value
values = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
)
# Path segments: some as a URL carries them already (percent-encoded), the rest encoded when sent.
segment = st.one_of(
    st.sampled_from(["1", "0", "99999999999999999999999", "1.%C3%A9", "x" * 43, "portal.css", "%00", "%C3%A9"]),
    st.text(min_size=1, max_size=30).map(lambda t: quote(t, safe="")),
    st.integers(min_value=0, max_value=2**70).map(str),
)


def _receipt_like(draw: Any) -> str:
    body = {
        "format": "portal-audit-receipt/1",
        "seq": draw(st.one_of(st.integers(-(2**70), 2**70), st.just(float("inf")), st.text(max_size=5))),
        "leaf_index": draw(st.integers(-(2**70), 2**70)),
        "tree_size": draw(st.integers(-(2**70), 2**70)),
        "canonical": draw(st.sampled_from(["<deep canonical>", base64.b64encode(b"{}").decode(), "/w=="])),
        "inclusion_proof": draw(st.lists(st.text(max_size=70), max_size=3)),
        "checkpoint": draw(st.one_of(st.just({}), st.dictionaries(st.text(max_size=8), st.text(max_size=8)))),
        "key_id": draw(st.text(max_size=20)),
    }
    return json.dumps(body, allow_nan=True)


@st.composite
def requests(draw: Any, route: Route | Mount) -> dict[str, Any]:
    params = {}
    if isinstance(route, Mount):
        path = route.path + "/" + "/".join(draw(st.lists(segment, min_size=1, max_size=3)))
    else:
        path = route.path_format
        for name in route.param_convertors:
            params[name] = draw(segment)
        for name, raw in params.items():
            path = path.replace("{" + name + "}", raw)
    query = draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=3))
    form = draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=4))
    if draw(st.booleans()):
        form["receipt"] = "<receipt>" + _receipt_like(draw)
    return {
        "role": draw(st.sampled_from(ROLES)),
        "path": path,
        "query": query,
        "form": form,
        "htmx": draw(st.booleans()),
        "upload": draw(st.one_of(st.none(), st.binary(max_size=64), st.just(b"<[ x30000>"))),
    }


class Walker:
    """The app in demo mode (so the demo site's routes are walked too) and a fresh session per request."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.settings = replace(store.settings, demo=True)
        self.app = create_app(self.settings, clock=store.clock, background=False)
        self.accounts: dict[str, Any] = {}
        with store.ctx() as ctx:
            for role in ROLES[1:]:
                # Demo seeding does the same: the hash is made once, not per account.
                account = accounts._create(ctx, f"{role}@example.com", PASSWORD_HASH, role, verified=True)  # noqa: SLF001
                self.accounts[role] = account.id

    def client(self, role: str) -> tuple[Client, str]:
        with self.store.ctx() as ctx:
            account = accounts.get(ctx, self.accounts[role]) if role != "anonymous" else None
            cur = sessions.create(ctx, account)
            if account is not None and role != "user":
                cur.row.mfa_at = ctx.now
                account.totp_enabled_at = ctx.now
        client = Client(self.app, base_url="http://testserver", client=("203.0.113.50", 50000))
        client.cookies.set("portal_session", cur.token)
        return client, sessions.csrf_token(self.settings.secret_key, cur.id_hash)

    def send(self, method: str, request: dict[str, Any]) -> int:
        client, token = self.client(request["role"])
        headers = {"X-CSRF-Token": token} if request["htmx"] else {}
        if request["htmx"]:
            headers["HX-Request"] = "true"
        query = {k: _expand(v, URL_LIMIT // 4) for k, v in request["query"].items()}
        kwargs: dict[str, Any] = {"params": query, "headers": headers, "follow_redirects": False}
        if method != "GET":
            form = {k: _expand(v) for k, v in request["form"].items()}
            if "receipt" in form and form["receipt"].startswith("<receipt>"):
                form["receipt"] = form["receipt"].removeprefix("<receipt>").replace(
                    '"<deep canonical>"', json.dumps(BIG["<deep canonical>"])
                )
            kwargs["data"] = {**form, "csrf_token": token}
            if request["upload"] is not None:
                upload = b"[" * 30000 if request["upload"] == b"<[ x30000>" else request["upload"]
                kwargs["files"] = {"receipt_file": ("receipt.json", upload, "application/json")}
        response = client.request(method, request["path"], **kwargs)
        return response.status_code


def _walk(walker: Walker, method: str, route: Route | Mount) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        database=None,
    )
    @given(request=requests(route))
    def walk(request: dict[str, Any]) -> None:
        status = walker.send(method, request)
        assert status < 500, (method, request["path"], request["role"], request["query"], list(request["form"]))

    walk()


def test_no_input_makes_any_route_answer_5xx(store: Store) -> None:
    """One app and store for the whole walk (a fixture per route cost more than the walk itself);
    every route gets its own hypothesis run, and every failing route is named at the end."""
    walker = Walker(store)
    failed = []
    try:
        for name, method, route in TARGETS:
            try:
                _walk(walker, method, route)
            except Exception as exc:  # hypothesis has printed the example: go on to the next route
                failed.append(f"{method} {name}: {str(exc).splitlines()[0][:300]}")
    finally:
        walker.app.state.engine.dispose()
    assert not failed, "\n".join(failed)


def test_every_route_is_walked() -> None:
    named = {name for name, _, _ in TARGETS}
    table = {r.name for r in routes if isinstance(r, Route | Mount)}
    assert named == table and len(TARGETS) > 30

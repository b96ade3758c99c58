"""Profile: what each page costs inside one process, without a server or a load tool in the way.

    .venv/bin/python bench/profile_pages.py [--requests 500] [--postgres URL] [--no-sqlite]
        [--profile /my/logs] [--top 30]

On a fresh demo store (SQLite, and a scratch PostgreSQL database with --postgres) it logs in the
demo user and a demo staff member through the ASGI app itself (httpx's ASGI transport), then
GETs each page N times in a row. Printed per page: milliseconds of this process's CPU time and of
wall time per request, SQL statements per request (counted by a before_cursor_execute listener)
and units of work per request (connections taken from the pool: each is a transaction, and on
PostgreSQL a ping). --profile PAGE runs that page under cProfile as well and prints the top functions.
bench_serve.py measures the pages under load; this says where one request's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pyotp
from anyio import to_thread
from sqlalchemy import event

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from scratch import scratch_database  # noqa: E402
from serveload import CSRF, TOTP_SECRET, demo_store  # noqa: E402

from portal.core.settings import load  # noqa: E402
from portal.demo.seed import DEMO_LOGINS, DEMO_PASSWORD  # noqa: E402
from portal.web.app import create_app  # noqa: E402
from portal.web.threads import use_page_threads  # noqa: E402

USER = next(d.email for d in DEMO_LOGINS if d.role == "user")
STAFF = next(d.email for d in DEMO_LOGINS if d.role == "agent")
PAGES = ("/account", "/my", "/my/logs", "/my/cookies", "/my/search", "/staff")


async def _many(client: httpx.AsyncClient, page: str, n: int, concurrency: int) -> None:
    """n GETs, `concurrency` at a time (as many clients, each waiting for its answer)."""
    left = iter(range(n))

    async def one_client() -> None:
        for _ in left:
            await client.get(page)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))


async def _inline(func: Any, *args: Any, **_: Any) -> Any:
    return func(*args)


async def log_in(client: httpx.AsyncClient, email: str, *, staff: bool = False) -> None:
    async def post(path: str, fields: dict[str, str]) -> httpx.Response:
        token = CSRF.search((await client.get(path)).text)
        assert token, f"no CSRF token on {path}"
        return await client.post(path, data={**fields, "csrf_token": token.group(1)})

    assert (await post("/login", {"email": email, "password": DEMO_PASSWORD})).status_code == 303
    if staff:
        secret = TOTP_SECRET.search((await client.get("/login/mfa")).text)
        assert secret, "the profile needs a staff account that has not enrolled yet"
        await post("/login/mfa", {"code": pyotp.TOTP(secret.group(1)).now()})


async def measure(app: Any, args: argparse.Namespace) -> dict[str, tuple[float, float, float, float, float]]:
    use_page_threads()  # what the app's lifespan does
    statements: Counter[str] = Counter()
    checkouts: Counter[str] = Counter()
    current = {"page": ""}

    shown: dict[str, list[str]] = {}

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements[current["page"]] += 1
        if args.sql and current["page"]:
            seen = shown.setdefault(current["page"], [])
            if len(seen) < 40:  # the first request's statements, and then some
                seen.append(" ".join(statement.split())[:300])

    def checkout(*_: Any) -> None:
        checkouts[current["page"]] += 1

    quick = app.state.quick_reader  # SQLite: a page view's reads run on its own connection
    for engine in (app.state.engine, *([quick.engine] if quick else [])):
        # rows.all_rows calls these listeners too, though it runs its statement on the driver.
        event.listen(engine, "before_cursor_execute", count)
        event.listen(engine.pool, "checkout", checkout)
    inside = {"seconds": 0.0, "render": 0.0}

    async def timed(scope: Any, receive: Any, send: Any) -> None:
        # The app's own time, without the client's: one request at a time, so wall time is the server's.
        started = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            inside["seconds"] += time.perf_counter() - started

    templates = app.state.templates
    respond = templates.TemplateResponse

    def rendered(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return respond(*a, **kw)
        finally:
            inside["render"] += time.perf_counter() - started

    templates.TemplateResponse = rendered
    transport = httpx.ASGITransport(app=timed)
    user = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    staff = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    await log_in(user, USER)
    await log_in(staff, STAFF, staff=True)
    clients = {page: staff if page.startswith("/staff") else user for page in PAGES}
    for page, client in clients.items():
        for _ in range(20):  # warm up: caches, the first-minute session touch, pool connections
            response = await client.get(page)
            assert response.status_code == 200, f"{page} answered {response.status_code}"
    # Pages take turns, a slice of the requests each per round, and each figure is the median of
    # the rounds: a burst of other work on the machine then spoils one round, not one page.
    per_round = max(1, args.requests // args.rounds)
    app_ms: dict[str, list[float]] = {page: [] for page in PAGES}
    cpu_ms: dict[str, list[float]] = {page: [] for page in PAGES}
    render_ms: dict[str, list[float]] = {page: [] for page in PAGES}
    for _ in range(args.rounds):
        for page, client in clients.items():
            current["page"] = page
            inside["seconds"] = inside["render"] = 0.0
            cpu = time.process_time()
            await _many(client, page, per_round, args.concurrency)
            cpu_ms[page].append((time.process_time() - cpu) * 1000 / per_round)
            app_ms[page].append(inside["seconds"] * 1000 / per_round)
            render_ms[page].append(inside["render"] * 1000 / per_round)
            current["page"] = ""
    n = per_round * args.rounds
    out = {
        page: (statistics.median(app_ms[page]), statistics.median(render_ms[page]), statistics.median(cpu_ms[page]),
               statements[page] / n, checkouts[page] / n)
        for page in PAGES
    }
    if args.sql:
        for page in PAGES:
            print(f"\n--- statements of one GET {page} ---")
            for sql in shown.get(page, [])[: round(statements[page] / n)]:
                print(f"  {sql}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            await clients[args.profile].get(args.profile)
        profiler.disable()
        print(f"\n--- cProfile of {n} GET {args.profile} (cProfile slows everything; compare shares) ---")
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    await user.aclose()
    await staff.aclose()
    return out


def run(kind: str, url: str | None, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="profile-pages-") as tmp:
        env = {**os.environ, "PORTAL_VAR_DIR": f"{tmp}/var", "PORTAL_SECRET_KEY": "p" * 48}
        env.pop("PORTAL_DATABASE_URL", None)
        if url:
            env["PORTAL_DATABASE_URL"] = url
        demo_store(env)
        app = create_app(load(env), background=False)
        try:
            results = asyncio.run(measure(app, args))
        finally:
            app.state.engine.dispose()
    base = results["/account"][0]
    print(f"\n{kind}: {args.requests} GETs per page, {args.concurrency} at a time, median of {args.rounds} rounds ({'inline' if args.inline else 'threads'})")
    print(f"  {'page':<12} {'app ms':>8} {'vs /account':>12} {'render ms':>10} {'CPU ms':>8} {'statements':>11} {'units':>6}")
    for page, (app_ms, render, cpu, stmts, units) in results.items():
        print(f"  {page:<12} {app_ms:>8.2f} {app_ms / base:>11.2f}x {render:>10.2f} {cpu:>8.2f} {stmts:>11.2f} {units:>6.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=1,
                    help="requests in flight at once (app ms is then the time requests spent inside, summed)")
    ap.add_argument("--postgres", default="", help="a PostgreSQL server URL to make a scratch database on")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--profile", default="", help="a page to run under cProfile", choices=("", *PAGES))
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--inline", action="store_true",
                    help="run store calls on the event loop's thread, so cProfile sees them (no thread hops)")
    ap.add_argument("--sql", action="store_true", help="print the statements of one request of each page")
    args = ap.parse_args()
    if args.inline or args.profile:
        to_thread.run_sync = _inline  # type: ignore[assignment]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.no_sqlite:
        run("SQLite", None, args)
    if args.postgres:
        with scratch_database(args.postgres) as url:
            run("PostgreSQL", url, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the back-office queue page (/staff/requests), whole HTTP request through the app, with
100,000 requests (5,000 open) vs 100, for each filter.

    .venv/bin/python bench/bench_queue_page.py [--requests 100000] [--postgres URL]

What a member of staff waits for: session and CSRF middleware, the keyset page, the counts per status,
the assignees' addresses and the rendered table. Target: the big store's page costs at most 1.5x the
same page of a store of 100 requests. The stores are seeded like bench/bench_queue.py and queried in
turns, so machine noise hits both alike.

Two stores of 100 requests are measured. In the first, 60 are open, so its unfiltered first page has
50 rows like the big store's: the ratio then measures what the size of the store costs, which is what
the target is about. The second has the big store's share of open requests (5 of 100), so its pages
hold 0-5 rows; that ratio also counts rendering 50 rows instead of a handful (~40 us a row) and is
printed for information.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.testclient import TestClient  # noqa: E402

from bench.bench_queue import main, seed  # noqa: E402
from portal.accounts import sessions  # noqa: E402
from portal.core.clock import Clock  # noqa: E402
from portal.core.context import Ctx  # noqa: E402
from portal.core.settings import Settings  # noqa: E402
from portal.core.store import session_factory, transaction  # noqa: E402
from portal.models import Account  # noqa: E402
from portal.web.app import create_app  # noqa: E402

PAGES = {
    "open, by deadline": "/staff/requests",
    "kind = erasure": "/staff/requests?kind=erasure",
    "overdue": "/staff/requests?overdue=1",
    "status = in_review": "/staff/requests?status=in_review",
    "assigned to me": "/staff/requests?mine=1",
    "latest deadline first": "/staff/requests?sort=latest",
    "htmx fragment, erasure": "/staff/requests?kind=erasure&hx",
}


def client_for(settings: Settings, engine: object) -> TestClient:
    """The app with an agent signed in, second factor done (as after the TOTP page)."""
    clock = Clock()
    with transaction(session_factory(engine)) as session:  # type: ignore[arg-type]
        ctx = Ctx(session=session, settings=settings, now=clock.now())
        agent = session.get(Account, 1)
        assert agent is not None and agent.role == "agent"
        agent.email_verified_at = clock.now()
        current = sessions.create(ctx, agent)
        current.row.mfa_at = clock.now()
    app = create_app(settings, clock=clock, background=False)
    client = TestClient(app, base_url="http://testserver")
    client.__enter__()
    client.cookies.set(settings.session_cookie, current.token)
    return client


def fetch(client: TestClient, path: str) -> float:
    headers = {"HX-Request": "true"} if path.endswith("&hx") else {}
    start = time.perf_counter()
    r = client.get(path.removesuffix("&hx"), headers=headers)
    took = time.perf_counter() - start
    assert r.status_code == 200 and "queue" in r.text, (path, r.status_code)
    return took


def compare(small: TestClient, big: TestClient, count: int, rounds: int = 41) -> list[float]:
    ratios = []
    for label, path in PAGES.items():
        times: dict[int, list[float]] = {0: [], 1: []}
        for i in range(rounds + 3):
            # Alternate who goes first, so a slow patch of the machine hits both alike.
            order = ((0, small), (1, big)) if i % 2 else ((1, big), (0, small))
            for which, client in order:
                took = fetch(client, path)
                if i >= 3:
                    times[which].append(took)
        t_small, t_big = statistics.median(times[0]), statistics.median(times[1])
        ratios.append(t_big / t_small)
        print(f"  {label:<24} {count // 1000:,}k requests {t_big * 1000:6.2f} ms vs 100: {t_small * 1000:6.2f} ms, "
              f"ratio {t_big / t_small:.2f}x (target <= 1.5)")  # fmt: skip
    return ratios


def run(make_url_for: Callable[[str, Path], str], count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        stores = {
            "full": seed(make_url_for("small", Path(tmp)), Path(tmp) / "small", 100, opened=60),
            "sparse": seed(make_url_for("sparse", Path(tmp)), Path(tmp) / "sparse", 100),
            "big": seed(make_url_for("big", Path(tmp)), Path(tmp) / "big", count),
        }
        print(f"  seeded {count:,} requests in {time.perf_counter() - t:.1f} s")
        clients = {name: client_for(*store) for name, store in stores.items()}  # type: ignore[arg-type]
        try:
            print("  vs 100 requests, 60 open (first pages as full as the store allows) -- the target:")
            compare(clients["full"], clients["big"], count)
            print("  vs 100 requests, 5 open (0-5 rows a page; for information):")
            compare(clients["sparse"], clients["big"], count)
        finally:
            for client in clients.values():
                client.__exit__(None, None, None)
            for _, engine in stores.values():
                engine.dispose()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(run, names=("small", "sparse", "big"), doc=__doc__)

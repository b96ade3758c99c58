"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from anyio import to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from portal import housekeeping
from portal.core import migrations
from portal.core.clock import Clock
from portal.core.errors import ConfigError
from portal.core.settings import Settings, load
from portal.core.store import check_engine, make_engine, session_factory
from portal.web.common import deferred_paths
from portal.web.errors import http_error
from portal.web.middleware import PortalMiddleware
from portal.web.routes import routes
from portal.web.templating import make_templates

log = logging.getLogger("portal")
HOUSEKEEPING_EVERY_SECONDS = 5.0
# Threads per worker process for store calls (anyio's default is 40). Their work holds the GIL
# most of the time, so more threads add no throughput, only a longer queue for the GIL in which
# the event loop loses its turn. Long work (an export) takes one thread; the others keep serving.
THREADS = 8
POOL_SPARE = 4  # connections beyond one per thread, for anything outside the thread pool


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, *, background: bool = True
) -> Starlette:
    settings = settings or load()
    clock = clock or Clock()
    # Every thread can hold a connection at once, so none waits for the pool and none opens and
    # closes an overflow connection per request (SQLite runs four PRAGMAs on each new one).
    engine = make_engine(settings.database_url, pool_size=THREADS, max_overflow=POOL_SPARE)
    check_engine(engine)
    factory = session_factory(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = THREADS
        current = await run_in_threadpool(migrations.current, engine)
        if current not in migrations.heads():
            raise ConfigError(f"the store is at migration {current}; run `portal db upgrade` first")
        task = asyncio.create_task(_housekeeping(app)) if background else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            engine.dispose()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                PortalMiddleware,
                settings=settings,
                factory=factory,
                clock=clock,
                deferred_paths=deferred_paths(routes),
            )
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.engine = engine
    app.state.session_factory = factory
    # Demo mode is `make run`, where templates get edited while the portal serves.
    app.state.templates = make_templates(app, reload=settings.demo)
    return app


async def _housekeeping(app: Starlette) -> None:
    """Periodic work inside `portal serve`: deliver mail, sign checkpoints, purge expired rows."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_EVERY_SECONDS)
        try:
            await run_in_threadpool(
                housekeeping.run_once, app.state.session_factory, app.state.settings, app.state.clock
            )
        except Exception:  # keep serving; the next round retries
            log.exception("housekeeping failed")

"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from portal import housekeeping
from portal.core import migrations
from portal.core.clock import Clock
from portal.core.errors import ConfigError
from portal.core.settings import Settings, load
from portal.core.store import check_engine, make_engine, quick_reader, session_factory
from portal.web import threads
from portal.web.common import deferred_paths
from portal.web.errors import http_error
from portal.web.middleware import PortalMiddleware
from portal.web.routes import routes
from portal.web.templating import make_templates

log = logging.getLogger("portal")
HOUSEKEEPING_EVERY_SECONDS = 5.0


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, *, background: bool = True
) -> Starlette:
    settings = settings or load()
    clock = clock or Clock()
    engine = make_engine(settings.database_url, pool_size=threads.POOL_SIZE, max_overflow=threads.POOL_SPARE)
    check_engine(engine)
    factory = session_factory(engine)
    quick = quick_reader(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threads.use_page_threads()
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
            if quick is not None:
                quick.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                PortalMiddleware,
                settings=settings,
                factory=factory,
                quick=quick,
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
    app.state.quick_reader = quick
    # Demo mode is `make run`, where templates get edited while the portal serves.
    app.state.templates = make_templates(app, reload=settings.demo)
    return app


async def _housekeeping(app: Starlette) -> None:
    """Periodic work inside `portal serve`: deliver mail, sign checkpoints, purge expired rows."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_EVERY_SECONDS)
        try:
            await threads.long_work(
                housekeeping.run_once, app.state.session_factory, app.state.settings, app.state.clock
            )
        except Exception:  # keep serving; the next round retries
            log.exception("housekeeping failed")

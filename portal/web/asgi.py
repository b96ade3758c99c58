"""ASGI entry point for uvicorn workers: `portal.web.asgi:app`."""

import gc

from portal.web.app import create_app

app = create_app()
# Everything loaded so far (modules, routes, models, the store's engine) lives as long as the
# worker. Out of the collector's sight, a full collection no longer walks it: those pauses took
# 100-170 ms at a time, every few seconds under load, and every request waited for them.
gc.freeze()

"""ASGI entry point for uvicorn workers: `portal.web.asgi:app`."""

from portal.web.app import create_app

app = create_app()

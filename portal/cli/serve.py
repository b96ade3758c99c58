"""`portal serve`: uvicorn, one or more worker processes, on a socket the portal binds itself.

uvicorn's multi-process supervisor binds its listening socket without naming the protocol
(`socket.socket(family)` leaves `proto` at 0). Accepted connections inherit that, and asyncio
turns `TCP_NODELAY` on only for sockets whose `proto` is `IPPROTO_TCP`, so with `--workers N`
Nagle's algorithm held back the second write of every response until the client's delayed ACK:
~40 ms on each keep-alive request after the first (uvicorn issue 3149). Binding the socket here,
as a TCP socket, and handing it to uvicorn gives every worker connections with `TCP_NODELAY`.
"""

from __future__ import annotations

import logging
import socket
import sys

import click
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from portal.cli.common import friendly_errors, open_store
from portal.cli.proxies import uvicorn_proxy_options
from portal.core.errors import ConfigError
from portal.core.settings import Settings

APP = "portal.web.asgi:app"
log = logging.getLogger("uvicorn.error")


def uvicorn_config(settings: Settings, host: str, port: int, workers: int) -> uvicorn.Config:
    """Everything the portal tells uvicorn, in one place."""
    return uvicorn.Config(
        APP,
        host=host,
        port=port,
        workers=workers,
        **uvicorn_proxy_options(settings),
        server_header=False,
        log_level="info",
    )


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The socket every worker accepts on: TCP by name, so accepted connections get TCP_NODELAY."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)  # the workers are spawned processes
    return sock


def run(config: uvicorn.Config, sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    log.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port)
    if config.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@click.command(help="Serve the portal with uvicorn.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port, printed at start).",
)  # fmt: skip
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@friendly_errors
def serve(host: str, port: int, workers: int) -> None:
    from portal.core import migrations

    settings, engine, _ = open_store()  # fail fast, with one line, on a bad setting or store
    current = migrations.current(engine)
    engine.dispose()
    if current not in migrations.heads():
        raise ConfigError(f"the store is at migration {current}; run `portal db upgrade` first")
    config = uvicorn_config(settings, host, port, workers)
    sock = listening_socket(config)
    try:
        run(config, sock)
    finally:
        sock.close()

"""`portal serve`: uvicorn, one or more worker processes, on sockets the portal binds itself.

uvicorn's multi-process supervisor binds its listening socket without naming the protocol
(`socket.socket(family)` leaves `proto` at 0). Accepted connections inherit that, and asyncio
turns `TCP_NODELAY` on only for sockets whose `proto` is `IPPROTO_TCP`, so with `--workers N`
Nagle's algorithm held back the second write of every response until the client's delayed ACK:
~40 ms on each keep-alive request after the first (uvicorn issue 3149). Binding the sockets here,
as TCP sockets, and handing them to uvicorn gives every worker connections with `TCP_NODELAY`.

With several workers each has a listening socket of its own on the one port (`Workers`, below).
"""

from __future__ import annotations

import logging
import socket
import sys

import click
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from portal.cli.common import friendly_errors, open_store
from portal.cli.proxies import uvicorn_proxy_options
from portal.core.errors import ConfigError
from portal.core.settings import Settings

APP = "portal.web.asgi:app"
log = logging.getLogger("uvicorn.error")
# Only Linux spreads connections over the sockets of one port; the BSDs' and macOS's SO_REUSEPORT
# hands them all to one socket, so there the workers share one as before.
SPREAD = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def uvicorn_config(settings: Settings, host: str, port: int, workers: int) -> uvicorn.Config:
    """Everything the portal tells uvicorn, in one place."""
    return uvicorn.Config(
        APP,
        host=host,
        port=port,
        workers=workers,
        **uvicorn_proxy_options(settings),
        server_header=False,
        loop=event_loop(settings),
        log_level="info",
        # No access log: uvicorn's writes every request's address and full path, and mailed links
        # carry their tokens in the path (/password/reset/{token}, /verify/{token}, …), so the log
        # would keep credentials and the visitors' addresses for as long as an operator keeps it.
        # The portal's own audit log says what changed; a reverse proxy can log requests if needed.
        # Writing it also cost a third of /healthz's throughput (10,500 against 16,700 requests/s on
        # one worker) and raised its p99 from 4.6-5.4 to 7-14 ms on PostgreSQL.
        access_log=False,
    )


def event_loop(settings: Settings) -> str:
    """uvloop where the event loop only hands store work to threads (PostgreSQL); asyncio's own
    loop on SQLite, where page views' reads run on the loop itself (store.QuickReader). With that
    work on it, uvloop let some connections wait many rounds: under 50 clients on one worker p99
    was 0.8-1.5 s for a p50 of 45-100 ms, in most runs; asyncio's loop, which runs the callbacks
    that were ready when a round began and then looks at the sockets again, kept p99 under 3x p50
    and served as many requests (/healthz too)."""
    return "asyncio" if settings.database_url.startswith("sqlite") else "auto"


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The first worker's socket (the only one with one worker): TCP by name, so accepted connections
    get TCP_NODELAY; with several workers, one that others can join on the same port."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    shared = config.workers > 1 and SPREAD
    if shared:
        # Nobody else may be listening there, not even another `portal serve` that would let this
        # one join it: a socket without SO_REUSEPORT binds only where no one listens.
        probe = _bind(_tcp(family), config.host, config.port)
        port = probe.getsockname()[1]
        probe.close()
    else:
        port = config.port
    return _listen(_bind(_tcp(family, reuse_port=shared), config.host, port), config)


def same_port(first: socket.socket) -> socket.socket:
    """Another worker's socket on `first`'s address and port."""
    host, port = first.getsockname()[:2]
    return _bind(_tcp(first.family, reuse_port=True), host, port)


def _tcp(family: int, *, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def _bind(sock: socket.socket, host: str, port: int) -> socket.socket:
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)  # the workers are spawned processes
    return sock


def _listen(sock: socket.socket, config: uvicorn.Config) -> socket.socket:
    """Listening from the start, before any worker is up (a worker calls listen() only once its
    startup is done): connections that arrive meanwhile wait in the queue instead of being refused,
    and with several workers the kernel spreads connections only over listening sockets, so a burst
    of clients at start would otherwise all queue at the socket of the worker that was ready first."""
    sock.listen(config.backlog)
    return sock


class Workers(Multiprocess):
    """uvicorn's supervisor, with a listening socket for each worker, all on one port (SO_REUSEPORT).

    On one shared socket the workers race for connections, and the first to wake takes every
    connection waiting (its event loop accepts until the queue is empty): 50 clients that connected
    at once were split 46 to 4, and the crowded worker's clients waited several times longer than
    the others for as long as they stayed connected. With a socket each, the kernel spreads new
    connections over the workers by their addresses (21 to 29 of 50 in the same test).

    The sockets are held here, each in its place: a worker's replacement (after a crash, or on
    SIGHUP) serves its predecessor's socket, so connections that arrive meanwhile wait in its queue
    instead of being lost. What differs from uvicorn's methods is only which socket a worker gets.
    """

    def __init__(self, config: uvicorn.Config, first: socket.socket) -> None:
        super().__init__(config, sockets=[first])
        self.places = [first] + [self._another_place() for _ in range(config.workers - 1)]

    def _another_place(self) -> socket.socket:
        return _listen(same_port(self.sockets[0]), self.config)

    def _start(self, place: int) -> Process:
        process = Process(self.config, [self.places[place]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(place) for place in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: gone for good
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # would fail the same way again
                log.error("Child process [%s] failed to start, stopping the parent process.", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("Child process [%s] died", process.pid)
            self.processes[idx] = self._start(idx)

    def restart_all(self) -> None:
        """Each worker replaced in turn, its replacement serving before it is retired."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(idx)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("New child process [%s] was not ready in time; aborting the restart.", new.pid)
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def run(self) -> None:
        try:
            super().run()
        finally:
            for place in self.places[1:]:  # the first is the caller's
                place.close()

    def handle_ttin(self) -> None:
        log.info("Received SIGTTIN, increasing the number of processes.")
        try:
            self.places.append(self._another_place())
        except ConfigError as exc:  # the workers already there keep serving
            log.error("Cannot add a worker: %s", exc)
            return
        self.processes_num += 1
        self.processes.append(self._start(len(self.places) - 1))

    def handle_ttou(self) -> None:
        super().handle_ttou()  # the last worker is retired
        if len(self.places) > self.processes_num:
            self.places.pop().close()  # its socket with it: the kernel no longer sends it connections


def run(config: uvicorn.Config, sock: socket.socket) -> None:
    if config.workers > 1:
        supervisor = Workers(config, sock) if SPREAD else Multiprocess(config, sockets=[sock])
        _running(sock)  # every socket is listening: from now on no connection is refused
        supervisor.run()
        return
    _running(sock)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _running(sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    log.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port)


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

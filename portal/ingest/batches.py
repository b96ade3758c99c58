"""From raw lines to insert-ready batches: everything about a line that needs no database.

Parsing, splitting cookie headers, referrer facts and building the row take about half of the
work of ingest, so on a machine with more than one core `portal ingest` does them in a forked
child process while the parent links and commits the previous batch. The parent still commits
batches one at a time, in order, each with the line count and byte offset it covers, so exactly
once does not depend on the child: it holds no connection, and a batch it prepared that the
parent never committed is simply prepared again by the next run.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from portal.errors import PortalError
from portal.ingest.cookies import CookieCatalog, decode_search_pref, redact_query, split_cookies
from portal.ingest.events import Event
from portal.ingest.logline import LogLine
from portal.ingest.rejections import Rejection
from portal.ingest.searchterms import DEFAULT_ENGINES, SearchEngine, referrer_domain, search_term
from portal.ingest.sources import RawLine

BATCH_LINES = 20_000  # per transaction: fewer commits (each an fsync) with memory still small
_CACHE_MAX = 100_000  # entries per cache; cleared when full, so memory stays flat on any input
_PIPE_BYTES = 4 * 1024 * 1024  # room for about two batches in flight between the processes

# (index in `Batch.rows`, catalogued (name, value) pairs, time, user agent,
#  (engine, term) from a search-engine referrer or None, search terms from the preference cookie)
CookieLine = tuple[
    int, tuple[tuple[str, str], ...], datetime, str | None, tuple[str, str] | None, tuple[str, ...]
]


@dataclass
class Quarantined:
    line_no: int
    reason: str
    detail: str
    raw: bytes
    length: int


@dataclass(slots=True)
class Batch:
    """One transaction's worth of lines, prepared: only linking and writing are left."""

    first: int  # number of the first line
    last: int  # number of the last line
    end_offset: int  # where the next run resumes
    size: int  # lines in the batch: stored, rejected and events
    # log_record rows in `LOG_COLUMNS` order, `subject_id` (index 2) still None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    cookie_lines: list[CookieLine] = field(default_factory=list)  # the rows linking is about
    unclassified: dict[str, list[Any]] = field(default_factory=dict)  # name → [count, first, last]
    rejected: list[Quarantined] = field(default_factory=list)
    events: list[tuple[int, Event]] = field(default_factory=list)


def sqlite_time(at: datetime) -> str:
    """A time exactly as SQLAlchemy's DateTime stores it in SQLite (the driver is used directly)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Preparer:
    """Turns parsed lines into rows; caches what repeats (cookie headers, seconds, query strings)."""

    def __init__(
        self,
        catalog: CookieCatalog,
        *,
        source_id: int,
        site: str,
        pref_cookie: str,
        sqlite: bool,
        engines: tuple[SearchEngine, ...] = DEFAULT_ENGINES,
    ) -> None:
        self.catalog, self.source_id, self.site, self.engines = catalog, source_id, site, engines
        self.pref_cookie, self.sqlite = pref_cookie, sqlite
        self._cookies: dict[str, tuple[Any, ...]] = {}
        self._times: dict[datetime, Any] = {}
        self._paths: dict[str, str | None] = {}
        self._texts: dict[str, str] = {}
        self._referrers: dict[str, tuple[tuple[str, str] | None, str | None]] = {}

    def bound_caches(self) -> None:
        """Called before each batch: a cache past its size is emptied, so memory stays flat on any
        input (checking once per batch keeps the per-line lookups single dictionary calls)."""
        for cache in (self._cookies, self._times, self._paths, self._texts, self._referrers):
            if len(cache) >= _CACHE_MAX:
                cache.clear()

    def _cookie_facts(self, header: str) -> tuple[Any, ...]:
        split = split_cookies(header, self.catalog)
        catalogued = tuple(split.catalogued)
        prefs: list[str] = []
        for name, value in catalogued:
            if name == self.pref_cookie:
                prefs.extend(decode_search_pref(value))
        facts = (
            catalogued,
            tuple(split.uncatalogued_names),
            json.dumps(dict(catalogued), separators=(",", ":")) if catalogued else None,
            tuple(prefs),
        )
        if len(header) <= 4096:  # hostile giant headers are not worth remembering
            self._cookies[header] = facts
        return facts

    def _time(self, at: datetime) -> Any:
        value = self._times[at] = sqlite_time(at) if self.sqlite else at
        return value

    def _referrer_facts(self, referrer: str) -> tuple[tuple[str, str] | None, str | None]:
        # Referrers repeat a lot (the same page links, the same search); parsing a URL is not cheap.
        facts = self._referrers[referrer] = (search_term(referrer, self.engines), referrer_domain(referrer))
        return facts

    def _path(self, path: str) -> str | None:
        redacted = self._paths[path] = redact_query(path, self.catalog)
        return redacted

    def add(self, batch: Batch, line_no: int, line: LogLine) -> None:
        header = line.cookie
        catalogued: tuple[tuple[str, str], ...] = ()
        as_json = None
        # One object per distinct value: pickle then sends a repeated user agent or path as a
        # back-reference, and the parent builds it once (half the cost of receiving a batch).
        same = self._texts.setdefault
        at = line.time
        if header and header != "-":
            facts = self._cookies.get(header) or self._cookie_facts(header)
            catalogued, unclassified, as_json, prefs = facts
            for name in unclassified:
                key = name[:128]
                entry = batch.unclassified.get(key)
                if entry is None:
                    batch.unclassified[key] = [1, at, at]
                else:
                    entry[0] += 1
                    entry[1], entry[2] = min(entry[1], at), max(entry[2], at)
        referrer = line.referrer
        if referrer:
            referrer = same(referrer, referrer)
            term, domain = self._referrers.get(referrer) or self._referrer_facts(referrer)
        else:
            term = domain = None
        path = line.path
        if path is not None and "?" in path:
            path = self._paths.get(path) or self._path(path)
        ua = line.user_agent
        if ua is not None:
            ua = same(ua, ua)
        if catalogued:
            batch.cookie_lines.append((len(batch.rows), catalogued, at, ua, term, prefs))
        batch.rows.append(
            (
                self.source_id,
                line_no,
                None,
                self._times.get(at) or self._time(at),
                line.ip,
                same(line.method, line.method),  # type: ignore[arg-type]  # None maps to None too
                None if path is None else same(path, path),
                same(line.protocol, line.protocol),  # type: ignore[arg-type]
                line.status,
                line.bytes,
                referrer,
                domain,
                ua,
                self.site,
                as_json,
            )
        )


def prepare_batches(
    parsed: Iterable[tuple[RawLine, object]], preparer: Preparer, batch_lines: int
) -> Iterator[Batch]:
    """Group parsed lines into batches of `batch_lines`, each ready to be linked and written."""
    pending: list[tuple[RawLine, object]] = []
    for item in parsed:
        pending.append(item)
        if len(pending) >= batch_lines:
            batch = _batch(pending, preparer)
            pending = []
            if batch is not None:
                yield batch
    if pending:
        batch = _batch(pending, preparer)
        if batch is not None:
            yield batch


def _batch(items: list[tuple[RawLine, object]], preparer: Preparer) -> Batch | None:
    # A last line without a newline may still be being written: leave it for the next run.
    if not items[-1][0].terminated:
        items = items[:-1]
        if not items:
            return None
    last = items[-1][0]
    batch = Batch(items[0][0].number, last.number, last.end_offset, len(items))
    preparer.bound_caches()
    add = preparer.add
    for raw, parsed in items:
        if isinstance(parsed, LogLine):
            add(batch, raw.number, parsed)
        elif isinstance(parsed, Rejection):
            batch.rejected.append(Quarantined(raw.number, parsed.reason, parsed.detail, raw.data, raw.length))
        else:
            batch.events.append((raw.number, parsed))  # type: ignore[arg-type]
    return batch


@contextlib.contextmanager
def few_collections() -> Iterator[Callable[[], object]]:
    """Turn automatic garbage collection off while batches are built; yields `collect`, to call
    once per batch.

    A batch is tens of thousands of new tuples that all stay alive, so the collector's automatic
    passes (one per 700 allocations, each rescanning the survivors) found nothing and took a third
    of the time. Ingest builds no reference cycles worth chasing; `collect` sweeps the young
    generations once per batch, so memory stays flat, and the previous setting is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield lambda: gc.collect(1)
    finally:
        if was_enabled:
            gc.enable()


class WorkerError(PortalError):
    """The process preparing batches stopped without saying why (killed, out of memory)."""


class Forked:
    """Runs an iterator of batches in a forked child; iterate this object in the parent to get them.

    Use it as a context manager: leaving it early (an error, --strict) kills the child.
    """

    def __init__(self, batches: Iterator[Batch]) -> None:
        read_fd, write_fd = os.pipe()
        _widen(write_fd)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; its work is checked through the parent
            os.close(read_fd)
            _child(batches, write_fd)
        os.close(write_fd)
        self.pid: int | None = pid
        self._input = os.fdopen(read_fd, "rb", buffering=1024 * 1024)

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it may have exited already
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
        self._input.close()

    def __iter__(self) -> Iterator[Batch]:
        read = self._input.read
        while True:
            header = read(8)
            if len(header) < 8:
                raise WorkerError("the process preparing lines stopped unexpectedly")
            size = int.from_bytes(header, "little")
            kind, payload = pickle.loads(read(size))  # noqa: S301 - from our own child, through our own pipe
            if kind == "batch":
                yield payload
            elif kind == "error":
                raise payload if isinstance(payload, BaseException) else WorkerError(str(payload))
            else:
                return


def _widen(fd: int) -> None:
    # A pipe holds 64 KiB by default: let the child hand over a whole batch and go on to the next.
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
        pass


def _child(batches: Iterator[Batch], fd: int) -> None:  # pragma: no cover - runs in the child
    code = 0
    try:
        # Objects inherited from the parent (its sessions, pooled connections) must never be
        # finalized here: closing a copy of a SQLite connection in a child is not safe.
        gc.freeze()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        with os.fdopen(fd, "wb", buffering=1024 * 1024) as out, few_collections() as collect:
            try:
                for batch in batches:
                    _send(out, ("batch", batch))
                    collect()
                _send(out, ("end", None))
            except BrokenPipeError:
                raise
            except BaseException as exc:  # the parent re-raises it: same behaviour as in one process
                code = 1
                try:
                    _send(out, ("error", exc))
                except (pickle.PicklingError, TypeError, AttributeError):
                    _send(out, ("error", WorkerError(f"{type(exc).__name__}: {exc}")))
    except BrokenPipeError:
        code = 0  # the parent has gone (it stopped early or was killed): nothing left to do
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _send(out: Any, message: tuple[str, object]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(8, "little"))
    out.write(data)
    out.flush()

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

from portal.core.errors import PortalError
from portal.ingest.combined import AddLine, BlockParser
from portal.ingest.events import Event
from portal.ingest.formats import parse_raw
from portal.ingest.logline import LogLine
from portal.ingest.rejections import DEFAULT_LIMITS, Rejection
from portal.ingest.searchterms import DEFAULT_ENGINES, SearchEngine, referrer_domain, search_term
from portal.ingest.sources import Block, RawLine, without_cr
from portal.models import UnclassifiedCookie
from portal.models.sitedata import column_chars, log_record_id
from portal.subjects.cookies import REDACTED, CookieCatalog, decode_search_pref, redact_query, split_cookies

# Lines per transaction: each commit costs an fsync and a WAL checkpoint (20,000 read 10% slower).
BATCH_LINES = 50_000
# Entries per cache; cleared when full, so memory stays flat on any input (100,000 cost 40 MB
# more and were no faster).
_CACHE_MAX = 20_000
_NAME_CHARS = column_chars(UnclassifiedCookie, "name")
_PIPE_BYTES = 4 * 1024 * 1024  # most of a pickled batch (about 4.4 MB) in flight between the processes

Cookies = tuple[tuple[str, str], ...]  # the identifying (name, value) pairs of one request


@dataclass(slots=True)
class CookieGroup:
    """The lines of a batch that carried the same identifying cookies (its key in `cookie_groups`).

    They belong to one subject, so linking is done once per group, not once per line: a busy
    visitor's thousands of lines in a batch cost one step. What linking needs of the lines is
    kept: the first one's time (an identifier's first sighting), the latest one (its last
    sighting and user agent; of equal times the later line). Cookies that identify no one (the
    search-preference cookie) are data about each line, so their search terms are counted per
    value: `prefs` maps the terms a line's preference cookie held to [lines, earliest, latest].
    """

    indices: list[int]  # of the lines' rows in `Batch.rows`
    first_at: datetime
    last_at: datetime
    last_index: int
    last_ua: str | None
    prefs: dict[tuple[str, ...], list[Any]]


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
    # The rows linking is about, grouped by their identifying cookies, in order of first appearance.
    cookie_groups: dict[Cookies, CookieGroup] = field(default_factory=dict)
    # (cookies, (engine, term), time) of lines with identifying cookies and a search-engine referrer
    referrer_terms: list[tuple[Cookies, tuple[str, str], datetime]] = field(default_factory=list)
    unclassified: dict[str, list[Any]] = field(default_factory=dict)  # name → [count, first, last]
    rejected: list[Quarantined] = field(default_factory=list)
    events: list[tuple[int, Event]] = field(default_factory=list)


_SECONDS = [f"{s:02d}" for s in range(60)]


def sqlite_time(at: datetime) -> str:
    """A time exactly as SQLAlchemy's DateTime stores it in SQLite (the driver is used directly)."""
    if at.tzinfo is not UTC:  # parsers give UTC already; anything else is converted first
        at = at.astimezone(UTC)
    return at.isoformat(" ", "microseconds")[:26]  # without "+00:00"


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
        self._minutes: dict[tuple[int, ...], str] = {}
        self._paths: dict[str, str | None] = {}
        self._texts: dict[str, str] = {}
        self._referrers: dict[str, tuple[tuple[str, str] | None, str | None]] = {}

    def bound_caches(self) -> None:
        """Called before each batch: a cache past its size is emptied, so memory stays flat on any
        input (checking once per batch keeps the per-line lookups single dictionary calls)."""
        for cache in (self._cookies, self._times, self._minutes, self._paths, self._texts, self._referrers):
            if len(cache) >= _CACHE_MAX:
                cache.clear()

    def _cookie_facts(self, header: str) -> tuple[Any, ...]:
        split = split_cookies(header, self.catalog)
        catalogued = split.catalogued
        identifying = self.catalog.secret_names
        prefs: list[str] = []
        for name, value in catalogued:
            if name == self.pref_cookie:
                prefs.extend(decode_search_pref(value))
        facts = (
            # Only these tie the line to a person; every catalogued cookie is kept with the line.
            tuple((n, v) for n, v in catalogued if n in identifying and v and v != REDACTED),
            tuple(split.uncatalogued_names),
            json.dumps(dict(catalogued), separators=(",", ":")) if catalogued else None,
            tuple(prefs),
        )
        if len(header) <= 4096:  # hostile giant headers are not worth remembering
            self._cookies[header] = facts
        return facts

    def _time(self, at: datetime) -> Any:
        if not self.sqlite:
            value: Any = at
        elif at.tzinfo is UTC:
            # Most seconds of a log are new, their minute is not: formatting a time costs ten
            # times more than looking its minute up and adding the seconds.
            minute = (at.year, at.month, at.day, at.hour, at.minute)
            prefix = self._minutes.get(minute)
            if prefix is None:
                prefix = self._minutes[minute] = sqlite_time(at)[:17]  # "YYYY-MM-DD HH:MM:"
            fraction = f".{at.microsecond:06d}" if at.microsecond else ".000000"
            value = prefix + _SECONDS[at.second] + fraction
        else:
            value = sqlite_time(at)
        self._times[at] = value
        return value

    def _referrer_facts(self, referrer: str) -> tuple[tuple[str, str] | None, str | None]:
        # Referrers repeat a lot (the same page links, the same search); parsing a URL is not cheap.
        facts = self._referrers[referrer] = (search_term(referrer, self.engines), referrer_domain(referrer))
        return facts

    def _path(self, path: str) -> str | None:
        redacted = self._paths[path] = redact_query(path, self.catalog)
        return redacted

    def adder(self, batch: Batch) -> AddLine:
        """A function adding one parsed line to `batch`, with everything it needs bound locally:
        it runs once per line, so each attribute lookup saved counts."""
        rows, groups, unclassified = batch.rows, batch.cookie_groups, batch.unclassified
        referrer_terms = batch.referrer_terms
        source_id, site = self.source_id, self.site
        id_base = log_record_id(source_id, 0)  # a line's id is id_base | line_no
        # One object per distinct value: pickle then sends a repeated user agent or path as a
        # back-reference, and the parent builds it once (half the cost of receiving a batch).
        same = self._texts.setdefault
        cookies, cookie_facts = self._cookies.get, self._cookie_facts
        referrers, referrer_facts = self._referrers.get, self._referrer_facts
        paths, redact = self._paths.get, self._path
        times, store_time = self._times.get, self._time

        def add(
            line_no: int,
            at: datetime,
            ip: str,
            method: str | None,
            path: str | None,
            protocol: str | None,
            status: int,
            size: int | None,
            referrer: str | None,
            ua: str | None,
            header: str | None,
        ) -> None:
            identifying: Cookies = ()
            as_json = None
            if header and header != "-":
                identifying, names, as_json, prefs = cookies(header) or cookie_facts(header)
                for name in names:
                    key = name[:_NAME_CHARS]
                    entry = unclassified.get(key)
                    if entry is None:
                        unclassified[key] = [1, at, at]
                    else:
                        entry[0] += 1
                        entry[1], entry[2] = min(entry[1], at), max(entry[2], at)
            if referrer:
                referrer = same(referrer, referrer)
                term, domain = referrers(referrer) or referrer_facts(referrer)
            else:
                term = domain = None
            if path is not None:
                if "?" in path:
                    path = paths(path) or redact(path)
                path = same(path, path)  # type: ignore[arg-type]  # redact keeps a str a str
            if ua is not None:
                ua = same(ua, ua)
            if identifying:
                index = len(rows)
                group = groups.get(identifying)
                if group is None:
                    group = groups[identifying] = CookieGroup([index], at, at, index, ua, {})
                else:
                    group.indices.append(index)
                    if at >= group.last_at:
                        group.last_at, group.last_index, group.last_ua = at, index, ua
                if prefs:
                    seen = group.prefs.get(prefs)
                    if seen is None:
                        group.prefs[prefs] = [1, at, at]
                    else:
                        seen[0] += 1
                        if at < seen[1]:
                            seen[1] = at
                        elif at > seen[2]:
                            seen[2] = at
                if term:
                    referrer_terms.append((identifying, term, at))
            rows.append(
                (
                    source_id,
                    line_no,
                    None,
                    times(at) or store_time(at),
                    ip,
                    same(method, method),  # type: ignore[arg-type]  # None maps to None too
                    path,
                    same(protocol, protocol),  # type: ignore[arg-type]
                    status,
                    size,
                    referrer,
                    domain,
                    ua,
                    site,
                    as_json,
                    id_base | line_no,
                )
            )

        return add


class _Builder:
    """Cuts blocks and lines into batches of `batch_lines` lines and prepares each line on the way."""

    def __init__(
        self,
        preparer: Preparer,
        parse: Callable[[bytes], object],
        parse_block: BlockParser | None,
        max_line_bytes: int,
    ) -> None:
        self.preparer, self.parse, self.parse_block, self.max_line_bytes = (
            preparer,
            parse,
            parse_block,
            max_line_bytes,
        )

    def start(self, number: int) -> Batch:
        self.preparer.bound_caches()
        self.batch = batch = Batch(number, number - 1, 0, 0)
        self.add = self.preparer.adder(batch)
        return batch

    def hand_over(self) -> Batch:
        """The batch, no longer referenced from here: the collector run between two batches then
        finds the batch freed already instead of scanning every row of it."""
        batch = self.batch
        del self.batch, self.add
        return batch

    def one(self, number: int, data: bytes, length: int | None = None) -> None:
        """The careful path, one line at a time: any format, any line."""
        if length is None:  # a line out of a block
            data = without_cr(data)
            length = len(data)
        parsed = parse_raw(self.parse, data, length, self.max_line_bytes)
        if isinstance(parsed, LogLine):
            line = parsed
            self.add(
                number,
                line.time,
                line.ip,
                line.method,
                line.path,
                line.protocol,
                line.status,
                line.bytes,
                line.referrer,
                line.user_agent,
                line.cookie,
            )
        elif isinstance(parsed, Rejection):
            kept = data[: self.max_line_bytes]
            self.batch.rejected.append(Quarantined(number, parsed.reason, parsed.detail, kept, length))
        else:
            self.batch.events.append((number, parsed))  # type: ignore[arg-type]

    def lines(self, number: int, data: bytes, lines: list[bytes]) -> None:
        if self.parse_block is not None:
            self.parse_block(data, lines, number, self.add, self.one)
        else:
            for i, raw in enumerate(lines, number):
                self.one(i, raw)


def prepare_batches(
    items: Iterable[Block | RawLine],
    preparer: Preparer,
    batch_lines: int,
    parse: Callable[[bytes], object],
    parse_block: BlockParser | None = None,
    max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes,
) -> Iterator[Batch]:
    """Group the lines read into batches of `batch_lines`, each ready to be linked and written.

    A block of whole lines goes through `parse_block` (the format's fast path) when there is one;
    the last line without a newline is left out: it may still be being written, the next run
    reads it whole.
    """
    builder = _Builder(preparer, parse, parse_block, max_line_bytes)
    batch: Batch | None = None
    for item in items:
        if isinstance(item, RawLine):
            if not item.terminated:
                continue
            batch = batch or builder.start(item.number)
            builder.one(item.number, item.data, item.length)
            batch.last, batch.end_offset, batch.size = item.number, item.end_offset, batch.size + 1
            if batch.size >= batch_lines:
                batch = None
                yield builder.hand_over()
            continue
        lines, data = item.lines(), item.data
        done = at_byte = 0  # lines and bytes of the block already in a batch
        while done < len(lines):
            batch = batch or builder.start(item.number + done)
            take = min(len(lines) - done, batch_lines - batch.size)
            if take == len(lines):  # the whole block
                part, chunk = lines, data
            else:
                part = lines[done : done + take]
                chunk = data[at_byte : at_byte + sum(map(len, part)) + take]
            builder.lines(item.number + done, chunk, part)
            done, at_byte = done + take, at_byte + len(chunk)
            batch.last, batch.end_offset = item.number + done - 1, item.offset + at_byte
            batch.size += take
            if batch.size >= batch_lines:
                batch = None
                yield builder.hand_over()
    if batch is not None:
        batch = None
        yield builder.hand_over()


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
                box, payload = [payload], None
                yield box.pop()  # held by the consumer alone (see prepare_batches)
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
                    del batch  # freed before the collector runs, not scanned by it
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

"""`portal ingest`: read sources, parse, link and store each line exactly once.

Exactly once: a source is recognised by the SHA-256 of its first 4 KiB of (decompressed) content,
so the same file — re-read, grown, renamed by rotation, gzipped, or piped to stdin — maps to the
same `ingest_source` row, and `copytruncate` (new content at the same path) to a new one. Each
batch commits its rows together with the source's new line count and byte offset, so a run
killed at any point resumes after the last committed line and never stores a line twice (the
log record's primary key, `log_record_id(source_id, line_no)`, backs this up).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col

from portal import audit
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.errors import PortalError
from portal.core.settings import Settings
from portal.core.store import transaction
from portal.ingest import eventwriter
from portal.ingest.batches import BATCH_LINES, Batch, Forked, Preparer, few_collections, prepare_batches
from portal.ingest.formats import FORMATS, Format, block_parser_for, detect_format, parser_for
from portal.ingest.rejections import DEFAULT_LIMITS
from portal.ingest.sources import FINGERPRINT_BYTES, Block, RawLine, open_source, read_blocks, skip_lines
from portal.ingest.writer import IdentifierCache, write_batch
from portal.models import IngestRun, IngestSource
from portal.models.sitedata import MAX_LINE_NO, MAX_SOURCE_ID
from portal.subjects import catalog, suppression
from portal.subjects.cookies import CookieCatalog

PARALLEL_MIN_BYTES = 1024 * 1024  # below this, forking a helper costs more than it saves
Progress = Callable[[int, int], None]  # (lines read so far, bytes read so far)


class IngestError(PortalError):
    """The run cannot go on (unknown format, unreadable source, --strict and a rejected line)."""


@dataclass
class Summary:
    lines_read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    events: int = 0
    files: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        parts = [
            f"{self.lines_read} lines read",
            f"{self.stored} stored",
            f"{self.duplicates} duplicates skipped",
            f"{self.rejected} malformed",
        ]
        if self.events:
            parts.append(f"{self.events} events")
        if self.reasons:
            parts.append("(" + ", ".join(f"{k}: {v}" for k, v in sorted(self.reasons.items())) + ")")
        return ", ".join(parts)


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with the bytes already read from it put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _fingerprinted(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    head = stream.read(FINGERPRINT_BYTES)
    if stream.seekable():
        stream.seek(0)
        return head, stream
    return head, io.BufferedReader(_Prefixed(head, stream), buffer_size=256 * 1024)  # type: ignore[arg-type]


class Ingest:
    """One `portal ingest` run over several sources."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        clock: Clock | None = None,
        *,
        fmt: Format | None = None,
        site: str = "",
        strict: bool = False,
        actor: str = "system",
        batch_lines: int = BATCH_LINES,
        progress: Progress | None = None,
        parallel: bool | None = None,
    ) -> None:
        if fmt is not None and fmt not in FORMATS:
            raise IngestError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.factory, self.settings, self.clock = factory, settings, clock or Clock()
        self.fmt, self.site, self.strict, self.actor = fmt, site[:64], strict, actor
        self.batch_lines, self.progress = batch_lines, progress
        self.parallel = parallel  # prepare lines in a child process; None: when it pays off
        self.dialect = ""
        self.summary = Summary()
        self.cache = IdentifierCache()
        self.run_id: int | None = None
        self.catalog: CookieCatalog | None = None

    def _ctx(self, session: Session) -> Ctx:
        return Ctx(session=session, settings=self.settings, now=self.clock.now(), actor=self.actor)

    def run(self, paths: list[str], stdin: BinaryIO | None = None) -> Summary:
        with transaction(self.factory) as session:
            ctx = self._ctx(session)
            self.catalog = catalog.load(ctx)
            self.dialect = session.get_bind().dialect.name
            run = IngestRun(started_at=ctx.now, actor=self.actor, site=self.site, format=self.fmt or "auto")
            session.add(run)
            session.flush()
            self.run_id = run.id
        status = "failed"
        try:
            for path in paths:
                self._one(path, stdin)
            status = "rejected" if self.summary.rejected else "ok"
        finally:
            self._finish(status)
        return self.summary

    def _finish(self, status: str) -> None:
        with transaction(self.factory) as session:
            ctx = self._ctx(session)
            run = session.get(IngestRun, self.run_id)
            assert run is not None
            s = self.summary
            run.finished_at, run.status = ctx.now, status
            run.lines_read, run.stored, run.duplicates, run.rejected = (
                s.lines_read,
                s.stored,
                s.duplicates,
                s.rejected,
            )
            audit.record(
                ctx,
                "ingest.run",
                details={
                    "run": run.id,
                    "status": status,
                    "lines_read": s.lines_read,
                    "stored": s.stored,
                    "duplicates": s.duplicates,
                    "rejected": s.rejected,
                    "events": s.events,
                    "files": len(s.files),
                },
            )

    # -- one source ------------------------------------------------------------------------

    def _one(self, path: str, stdin: BinaryIO | None) -> None:
        self.summary.files.append(path)
        try:
            with open_source(path, stdin) as raw_stream:
                head, stream = _fingerprinted(raw_stream)
                if not head:
                    return
                source = self._source(path, head)
                start_line, start_offset = source.lines + 1, source.offset
                lines: Iterator[Block | RawLine]
                if stream.seekable() and not hasattr(raw_stream, "fileobj"):
                    stream.seek(start_offset)  # plain file: jump straight past what is stored
                    lines = read_blocks(stream, DEFAULT_LIMITS.max_line_bytes, start_line, start_offset)
                else:
                    lines = skip_lines(read_blocks(stream, DEFAULT_LIMITS.max_line_bytes), source.lines)
                self.summary.duplicates += source.lines
                self._consume(source, path, lines, _remaining(raw_stream, start_offset))
        except OSError as exc:
            raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def _source(self, path: str, head: bytes) -> IngestSource:
        """The source row for this content: an earlier one if its first bytes match, else a new one."""
        with transaction(self.factory) as session:
            ctx = self._ctx(session)
            sizes = set(session.scalars(select(col(IngestSource.fingerprint_bytes)).distinct()))
            candidates = {hashlib.sha256(head[:n]).hexdigest(): n for n in sizes if n <= len(head)}
            found = None
            if candidates:
                found = session.scalars(
                    select(IngestSource)
                    .where(IngestSource.fingerprint.in_(list(candidates)))  # type: ignore[attr-defined]
                    .order_by(IngestSource.id.desc())  # type: ignore[union-attr]
                ).first()
            if found is not None and found.fingerprint_bytes == candidates.get(found.fingerprint):
                if found.fingerprint_bytes < len(head) and found.fingerprint_bytes < FINGERPRINT_BYTES:
                    # The file was small when first seen and has grown: remember its longer prefix.
                    found.fingerprint = hashlib.sha256(head).hexdigest()
                    found.fingerprint_bytes = len(head)
                found.path, found.updated_at = path, ctx.now
                return found
            fmt = self.fmt or self._detect(head)
            source = IngestSource(
                site=self.site,
                path=path,
                fingerprint=hashlib.sha256(head).hexdigest(),
                fingerprint_bytes=len(head),
                format=fmt,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
            session.add(source)
            session.flush()
            return source

    def _detect(self, head: bytes) -> Format:
        sample = head.split(b"\n")[:50]
        if len(head) == FINGERPRINT_BYTES:
            sample = sample[:-1]  # the last piece may be a cut line
        fmt = detect_format(sample)
        if fmt is None:
            raise IngestError("cannot tell the format of the input; name it with --format")
        return fmt

    def _consume(
        self, source: IngestSource, path: str, lines: Iterator[Block | RawLine], remaining: int | None
    ) -> None:
        fmt: Format = self.fmt or source.format  # type: ignore[assignment]
        assert self.catalog is not None and source.id is not None
        if source.id > MAX_SOURCE_ID:
            raise IngestError(f"{path}: source {source.id:,} is past the last a log record id can name")
        preparer = Preparer(
            self.catalog,
            source_id=source.id,
            site=self.site,
            pref_cookie=self.settings.pref_cookie,
            sqlite=self.dialect == "sqlite",
            engines=self.settings.search_engines,
        )
        batches = prepare_batches(lines, preparer, self.batch_lines, parser_for(fmt), block_parser_for(fmt))
        with contextlib.ExitStack() as stack:
            if self._in_parallel(remaining):
                batches = iter(stack.enter_context(Forked(batches)))
            # The collector is process-wide: hold it off only where nothing else runs (the CLI),
            # never under a server's other threads.
            collect = stack.enter_context(few_collections()) if _single_threaded() else None
            for batch in batches:
                self._write(source, path, batch)
                del batch  # freed before the collector runs, not scanned by it
                if collect:
                    collect()

    def _in_parallel(self, remaining: int | None) -> bool:
        """Prepare lines in a child process? Only where fork is safe and there is enough to do."""
        if self.parallel is not None:
            return self.parallel and hasattr(os, "fork")
        return (
            hasattr(os, "fork")
            and (os.cpu_count() or 1) > 1
            and _single_threaded()  # forking a threaded process (a server) is not safe
            and (remaining is None or remaining >= PARALLEL_MIN_BYTES)
        )

    def _write(self, source: IngestSource, path: str, batch: Batch) -> None:
        catalog_ = self.catalog
        assert catalog_ is not None
        for q in batch.rejected:
            self.summary.reasons[q.reason] = self.summary.reasons.get(q.reason, 0) + 1
        if batch.rejected and self.strict:
            first = batch.rejected[0]
            raise IngestError(f"{path}:{first.line_no}: {first.reason} {first.detail} (--strict)".strip())
        if batch.last > MAX_LINE_NO:  # the line number would spill into the source's bits of the id
            raise IngestError(f"{path}: a source ends at line {MAX_LINE_NO:,}; split the file")
        with transaction(self.factory) as session:
            ctx = self._ctx(session)
            # Before any identifier is read: an erasure waits for this batch, or this batch for it.
            suppression.guard_ingest(session)
            row = session.get(IngestSource, source.id, with_for_update=True)
            assert row is not None
            if row.lines >= batch.last:
                return  # another run stored these lines meanwhile
            if batch.events:
                eventwriter.apply(ctx, batch.events, catalog_)
                self.cache.known.clear()  # events may have merged subjects the cache still names
            assert row.id is not None
            result = write_batch(
                ctx, batch, source_id=row.id, path=path, run_id=self.run_id, cache=self.cache
            )
            row.lines, row.offset, row.updated_at = batch.last, batch.end_offset, ctx.now
            audit.record(
                ctx,
                "ingest.batch",
                details={
                    "run": self.run_id,
                    "source": row.id,
                    "lines": [batch.first, batch.last],
                    "stored": result.stored,
                    "rejected": result.rejected,
                    "events": len(batch.events),
                    "merges": result.merges,
                },
            )
        source.lines, source.offset = batch.last, batch.end_offset
        self.summary.lines_read += batch.size
        self.summary.stored += result.stored
        self.summary.rejected += result.rejected
        self.summary.events += len(batch.events)
        if self.progress:
            self.progress(self.summary.lines_read, batch.end_offset)


def _single_threaded() -> bool:
    return threading.active_count() == 1


def _remaining(stream: BinaryIO, start_offset: int) -> int | None:
    """Bytes left to read (compressed bytes for gzip); None for a pipe, whose size is unknown."""
    underlying = getattr(stream, "fileobj", stream)
    try:
        st = os.fstat(underlying.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        return 0  # an in-memory stream
    if not stat.S_ISREG(st.st_mode):
        return None
    return max(st.st_size - (0 if underlying is not stream else start_offset), 0)

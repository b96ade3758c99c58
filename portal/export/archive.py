"""The "download my data" zip, written row batch by row batch so memory stays flat.

Why a zip file on disk rather than a zip streamed straight to the client: the manifest must carry
the SHA-256 of every file and be signed before the archive is complete, the build runs in a
read snapshot that should end before a slow client finishes downloading, and a file lets the
single-use link be claimed only once the archive really exists. `ZipFile.open(name, "w")` writes
each entry incrementally (deflated, zip64), so no entry is ever held in memory.

One pass over each category feeds everything: its rows encoded as JSON are written into the
data.json entry as they arrive, the same rows as CSV are deflated into a spool file that each CSV
entry is later copied from as it is, and the first HTML_ROWS rows are kept for index.html. Rows
come from the store in batches (`yield_per`, a server-side cursor on PostgreSQL).

Deflating, CRC-32, SHA-256 and file writes run on a second thread (`_Pipe`): all of them release the
GIL, so compressing one batch overlaps reading and encoding the next.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import json
import operator
import queue
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import repeat
from pathlib import Path
from typing import IO, Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Column, Connection, Dialect, Select, TypeDecorator, func, select

from portal.audit.checkpoints import key_id, load_or_create_key, raw_public
from portal.core.csvsafe import neutralise_column
from portal.core.files import create_private_file, private_dir
from portal.core.settings import Settings
from portal.core.words import count
from portal.export import report
from portal.export.schema import FORMAT, json_schema
from portal.subjects import registry
from portal.subjects.registry import Category

BATCH = 5000
HTML_ROWS = 500
COPY_CHUNK = 1 << 20
# Writes waiting for the zip thread: bounds memory (a log-record batch is ~1.5 MB of CSV and ~2 MB of
# JSON) and keeps it busy. 8 held 46 MB at the peak on PostgreSQL, where the thread falls behind.
PIPE_DEPTH = 4
# The CSV entries' deflate level: 1 deflates log-like text about 3x faster than the default 6, for a
# somewhat larger file (4.3 MB instead of 3.8 MB for 100,000 log records), and at 6 the deflating
# thread falls behind the reading. Entries zipfile deflates itself (data.json, index.html) are given
# as ZipInfo objects and so get zlib's default level whatever the ZipFile says.
COMPRESS_LEVEL = 1
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "export"


_ZERO = timedelta(0)
_Processor = Callable[[Any], Any]


def _raw_rows(conn: Connection, stmt: Select[Any], name: str) -> Iterator[list[tuple[Any, ...]]]:
    """The statement's rows in batches of plain tuples from the DB-API cursor, no type's processing applied.

    Why not Result.partitions(): building a Row per row costs about as much as the driver's own fetch,
    and the export converts whole columns at once anyway (see `_processors`). The parameters are plain
    ints and strings, which neither driver needs processed. On PostgreSQL the cursor is a named
    (server-side) one, so memory stays flat; sqlite3 steps through the result as it is fetched.
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args = [params[key] for key in compiled.positiontup or ()] if compiled.positional else params
    dbapi: Any = conn.connection.driver_connection
    server_side = conn.dialect.name == "postgresql"
    cursor = dbapi.cursor(name=f"portal_export_{name}") if server_side else dbapi.cursor()
    try:
        cursor.execute(compiled.string, args)
        while batch := cursor.fetchmany(BATCH):
            yield batch
    finally:
        cursor.close()


class _Appender:
    """A file-like object for csv.writer whose writes go to a function (a list's append)."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[str], object]) -> None:
        self.write = write


def _processors(cols: Sequence[tuple[str, Column[Any]]], dialect: Dialect) -> list[_Processor | None]:
    """Per column, what SQLAlchemy would apply to each raw value; a time column gets its stored type's only
    (its decorator's part is done batch-wise by `_isoformat`)."""
    procs = []
    for _, col in cols:
        sa_type: Any = col.type
        if isinstance(sa_type, TypeDecorator) and sa_type.impl_instance.python_type is datetime:
            sa_type = sa_type.impl_instance
        procs.append(sa_type.dialect_impl(dialect).result_processor(dialect, None))
    return procs


def _isoformat(values: tuple[Any, ...], column: Column[Any], dialect: Dialect) -> list[Any]:
    """A batch of one time column as the ISO 8601 text of its UTC instant, e.g. 2026-01-01T00:00:00+00:00.

    The values come as the driver and the column's stored type give them (SQLite: naive UTC; PostgreSQL:
    aware, in the session's time zone). Per value, the column's own decorator would turn them into aware
    UTC datetimes whose isoformat() ends in "+00:00"; when a whole batch is naive or already at offset
    zero, the same text comes from C-level isoformat() alone. Anything else takes the decorator's path.
    """
    present = [v for v in values if v is not None] if None in values else values
    try:
        offsets = set(map(datetime.utcoffset, present))
    except TypeError:  # not datetimes: let the decorator say what it makes of them
        offsets = {None, _ZERO}
    if offsets == {None}:
        texts = [t + "+00:00" for t in map(datetime.isoformat, present)]
    elif offsets <= {_ZERO}:
        texts = list(map(datetime.isoformat, present))
    else:
        decorate = column.type.process_result_value  # type: ignore[attr-defined]
        texts = [decorate(v, dialect).isoformat() for v in present]
    if present is values:
        return texts
    found = iter(texts)
    return [None if v is None else next(found) for v in values]


@dataclass
class Section:
    """What the archive holds for one category, gathered during its single pass."""

    category: Category
    retention: str
    columns: list[str]
    csv_name: str
    count: int = 0
    preview: list[Sequence[Any]] = field(default_factory=list)
    csv: _DeflatedPart | None = None
    types: list[type] = field(default_factory=list)  # each column's Python type, for index.html


class _DeflatedPart:
    """One CSV entry's deflate stream in the spool, made on the pipe's thread while rows are read.

    Why deflate before the entry exists: zip entries are written one after another and data.json is
    open until the last category is read, so the CSV entries can only be added after that. Deflated
    on the way, they are then copied as they are instead of being compressed while everything else
    waits (a tenth of the whole export's time for 100,000 log records).
    """

    def __init__(self, spool: IO[bytes]) -> None:
        self.spool = spool
        self.start = self.end = 0
        self._deflate = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw, as in zip
        self.sha = hashlib.sha256()
        self.crc = 0
        self.size = 0

    def begin(self) -> None:
        self.start = self.end = self.spool.tell()

    def add(self, data: bytes) -> None:
        self.sha.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        self.spool.write(self._deflate.compress(data))

    def finish(self) -> None:
        self.spool.write(self._deflate.flush())
        self.end = self.spool.tell()

    def chunks(self) -> Iterator[bytes]:
        self.spool.seek(self.start)
        left = self.end - self.start
        while left > 0:
            chunk = self.spool.read(min(COPY_CHUNK, left))
            if not chunk:
                raise OSError("the export's spool file is shorter than what was written to it")
            left -= len(chunk)
            yield chunk


# What _write_deflated sets on zipfile's entry writer (CPython's, unchanged from 3.6 to 3.13).
_WRITER_INTERNALS = ("_compressor", "_file_size", "_crc")


class _AlreadyDeflated:
    """Stands in for an entry's compressor when the data written is deflated already."""

    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def _write_deflated(zf: zipfile.ZipFile, info: zipfile.ZipInfo, part: _DeflatedPart) -> None:
    """Add a deflated entry from a deflate stream made beforehand.

    zipfile has no public call for this: the entry's writer takes the stream through a compressor that
    passes it on, and is told the uncompressed size and CRC-32 before it writes them into the headers.
    Should a Python release change those internals, the stream is inflated and deflated again instead.
    """
    with zf.open(info, "w", force_zip64=True) as raw:
        if all(hasattr(raw, name) for name in _WRITER_INTERNALS):
            raw._compressor = _AlreadyDeflated()  # type: ignore[attr-defined]
            for chunk in part.chunks():
                raw.write(chunk)
            raw._file_size, raw._crc = part.size, part.crc  # type: ignore[attr-defined]
            return
        inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        for chunk in part.chunks():
            raw.write(inflate.decompress(chunk))
        raw.write(inflate.flush())


_Call = tuple[Callable[..., object], tuple[Any, ...]]


class _Pipe:
    """One worker thread running submitted calls in order; the zip is only touched there while it runs.

    A failed call is kept and raised in the submitting thread at its next `submit` or `wait`; the calls
    queued after it are dropped, so the producer is never blocked by a dead consumer.
    """

    def __init__(self) -> None:
        self._calls: queue.Queue[_Call | None] = queue.Queue(PIPE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="export-zip", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            try:
                if self._error is None:
                    call[0](*call[1])
            except BaseException as exc:  # handed to the producer, which decides
                self._error = exc
            finally:
                self._calls.task_done()
        self._calls.task_done()

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        self._raise()
        self._calls.put((fn, args))

    def drain(self) -> None:
        """Wait until every submitted call has run (or been dropped after a failure)."""
        self._calls.join()

    def wait(self) -> None:
        self.drain()
        self._raise()

    def close(self) -> None:
        self._calls.put(None)
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class _Entry:
    """A zip entry written on the pipe's thread, with its size and SHA-256 taken on the way."""

    def __init__(self, raw: IO[bytes], pipe: _Pipe) -> None:
        self.raw = raw
        self.pipe = pipe
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        """Deflate and hash on the pipe's thread (for a producer that is busy itself)."""
        self.pipe.submit(self._write, data)

    def _write(self, data: bytes) -> None:
        self.raw.write(data)
        self.sha.update(data)
        self.size += len(data)


@dataclass
class Archive:
    """The finished file and what the manifest says about it."""

    path: Path
    size: int
    counts: dict[str, int]
    manifest: dict[str, Any]


class ArchiveWriter:
    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        now: datetime,
        subject: dict[str, Any],
        time_zone: str = "UTC",
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.now = now
        self.subject = subject
        self.time_zone = time_zone  # index.html shows times in it; data.json and the CSVs stay in UTC
        self.hashes: dict[str, dict[str, Any]] = {}
        self.sections: list[Section] = []

    def write(self, dest: Path) -> Archive:
        private_dir(dest.parent)
        create_private_file(dest)  # the archive is personal data: ZipFile would create it 0644
        found = registry.scope(self.conn, self.settings.secret_key, self.subject["id"])
        with (
            tempfile.TemporaryFile(dir=dest.parent, prefix=".spool-") as spool,
            zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as zf,
            self._piped(),
        ):
            self.zf = zf
            self.spool = spool
            with self._entry("data.json") as data:
                self._data_json(data, found)
            # The CSV entries are copied from the spool on the pipe's thread while index.html is rendered.
            for section in self.sections:
                self.pipe.submit(self._copy_csv, section)
            index_html = self._index_html().encode()
            self.pipe.wait()
            self._put("schema.json", _json_bytes(json_schema()))
            self._put("index.html", index_html)
            manifest = self._manifest()
            manifest_bytes = _json_bytes(manifest)
            self._put("manifest.json", manifest_bytes, hashed=False)
            key = load_or_create_key(self.settings.audit_key_path)
            self._put("manifest.sig", key.sign(manifest_bytes), hashed=False)
        counts = {s.category.key: s.count for s in self.sections}
        return Archive(dest, dest.stat().st_size, counts, manifest)

    # -- entries ---------------------------------------------------------------------------

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.now.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    @contextlib.contextmanager
    def _piped(self) -> Iterator[None]:
        self.pipe = _Pipe()
        try:
            yield
        finally:
            self.pipe.close()

    @contextlib.contextmanager
    def _entry(self, name: str) -> Iterator[_Entry]:
        """An entry written incrementally; closed even on error (an open entry keeps the zip from closing
        and would hide the real error), and hashed once complete. Only one is open at a time, and the
        pipe is idle outside entries, so the zip is never used from two threads at once."""
        entry = _Entry(self.zf.open(self._info(name), "w", force_zip64=True), self.pipe)
        try:
            yield entry
            self.pipe.wait()
        finally:
            self.pipe.drain()
            entry.raw.close()
        self.hashes[name] = {"sha256": entry.sha.hexdigest(), "size": entry.size}

    def _put(self, name: str, data: bytes, *, hashed: bool = True) -> None:
        self.zf.writestr(self._info(name), data)
        if hashed:
            self.hashes[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def _copy_csv(self, section: Section) -> None:
        """Runs on the pipe's thread: one CSV entry from its deflated part of the spool."""
        part = section.csv
        assert part is not None
        _write_deflated(self.zf, self._info(section.csv_name), part)
        self.hashes[section.csv_name] = {"sha256": part.sha.hexdigest(), "size": part.size}

    # -- data.json, with one pass per category ---------------------------------------------

    def _data_json(self, data: _Entry, found: registry.Scope) -> None:
        """data.json is written straight into the zip while each category's CSV goes to the spool.

        Why this way round: data.json is the larger of the two, so its compression is the one that
        overlaps the reading. Each category's count heads its rows, so it is counted first, in the same
        snapshot, and the rows read are checked against it.
        """
        head = {"format": FORMAT, "generated_at": self.now.isoformat(), "subject": self.subject}
        data.write(_json_bytes(head)[:-2] + b",\n")  # the object stays open for the categories
        for origin in ("provided", "observed"):
            data.write(f'"{origin}":{{'.encode())
            for n, category in enumerate(c for c in registry.ordered() if c.origin == origin):
                section = Section(category, category.retention_text(self.settings),
                                  [name for name, _ in category.columns()],
                                  f"{category.origin}/{category.key}.csv")
                section.count = self._count(category, found)
                meta_json = json.dumps(_meta(section), ensure_ascii=False)[:-1]
                prefix = "," if n else ""
                data.write(f'{prefix}\n"{category.key}":{meta_json},"rows":['.encode())
                rows = self._category(section, found, data)
                if rows != section.count:
                    raise RuntimeError(f"{category.key}: counted {section.count} rows but read {rows}")
                data.write(b"\n]}")
                self.sections.append(section)
            data.write(b"}," if origin == "provided" else b"}")
        data.write(b"}\n")

    def _count(self, category: Category, found: registry.Scope) -> int:
        stmt = registry.statement(category, found).order_by(None).subquery()
        return int(self.conn.execute(select(func.count()).select_from(stmt)).scalar_one())

    def _rows(self, category: Category, found: registry.Scope) -> Iterator[Sequence[Any]]:
        stmt = registry.statement(category, found)
        return _raw_rows(self.conn, stmt, category.key)

    def _category(self, section: Section, found: registry.Scope, data: _Entry) -> int:
        """Stream one category: CSV to the spool, JSON rows into data.json; returns the rows read."""
        category, names = section.category, section.columns
        cols = category.columns()
        types = section.types = [registry.value_type(col) for _, col in cols]
        # Per-column work is decided once here: the loop below runs for every cell of 100,000s of rows.
        procs = [(i, proc) for i, proc in enumerate(_processors(cols, self.conn.dialect)) if proc is not None]
        dates = [i for i, t in enumerate(types) if t is datetime]
        bools = [i for i, t in enumerate(types) if t is bool]
        texts = [i for i, t in enumerate(types) if t is str]
        dialect = self.conn.dialect
        # The CSV text of a batch is gathered as a list of lines: a StringIO emptied with seek(0) and
        # truncate() keeps its slower per-write path for every batch after the first.
        lines: list[str] = ["\ufeff"]  # a byte-order mark makes spreadsheet programs read the file as UTF-8
        writer = csv.writer(_Appender(lines.append), lineterminator="\r\n")
        writer.writerow(names)
        # The spool is only touched on the pipe's thread: the part's calls queue up behind the others.
        part = section.csv = _DeflatedPart(self.spool)
        self.pipe.submit(part.begin)
        read = 0
        for batch in self._rows(category, found):
            # Column-wise work: zip(*) and map() keep the per-cell loops in C.
            columns: list[Any] = list(zip(*batch, strict=True))
            for i, proc in procs:
                columns[i] = list(map(proc, columns[i]))
            for i in dates:
                columns[i] = _isoformat(columns[i], cols[i][1], dialect)
            rows = list(zip(*columns, strict=True))
            cells = list(columns)
            for i in texts:
                cells[i] = neutralise_column(columns[i])
            for i in bools:
                cells[i] = [None if v is None else ("true" if v else "false") for v in columns[i]]
            # Most batches need no CSV-only change: then the JSON rows serve the CSV as they are.
            same = all(map(operator.is_, cells, columns))
            writer.writerows(rows if same else zip(*cells, strict=True))
            self.pipe.submit(part.add, "".join(lines).encode())
            lines.clear()
            # One call per batch; orjson writes compact UTF-8 JSON, as json.dumps(separators=(",", ":")).
            encoded = orjson.dumps(list(map(dict, map(zip, repeat(names), rows))))[1:-1]
            data.write((b",\n" if read else b"\n") + encoded)
            read += len(rows)
            section.preview.extend(rows[: HTML_ROWS - len(section.preview)])
        self.pipe.submit(part.add, "".join(lines).encode())
        self.pipe.submit(part.finish)
        return read

    # -- index.html, manifest --------------------------------------------------------------

    def _index_html(self) -> str:
        env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
        env.filters["count"] = count
        env.globals["label"] = report.label
        template = env.get_template("index.html")
        public = load_or_create_key(self.settings.audit_key_path).public_key()
        return template.render(
            subject=self.subject,
            generated_at=self.now,
            sections=self.sections,
            provided=[s for s in self.sections if s.category.origin == "provided"],
            observed=[s for s in self.sections if s.category.origin == "observed"],
            html_rows=HTML_ROWS,
            key_id=key_id(public),
            report=report.Report(self.time_zone),
            open_rows=report.OPEN_ROWS,
        )

    def _manifest(self) -> dict[str, Any]:
        public = load_or_create_key(self.settings.audit_key_path).public_key()
        return {
            "format": FORMAT,
            "generated_at": self.now.isoformat(),
            "subject": {"id": self.subject["id"]},
            "files": dict(sorted(self.hashes.items())),
            "signature": {
                "file": "manifest.sig",
                "algorithm": "Ed25519",
                "signed": "the bytes of manifest.json",
                "key_id": key_id(public),
                "public_key": base64.b64encode(raw_public(public)).decode(),
                "published_at": "/.well-known/portal-audit-key",
            },
        }


def _meta(section: Section) -> dict[str, Any]:
    c = section.category
    return {
        "title": c.title,
        "origin": c.origin,
        "description": c.description,
        "purpose": c.purpose,
        "legal_basis": c.legal_basis,
        "retention": section.retention,
        "count": section.count,
        "csv": section.csv_name,
    }


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()

"""The audit verifier: recompute every link, every field and the Merkle root from stored bytes.

Nothing stored is trusted: each row's columns must be exactly the fields its canonical bytes
encode, `entry_hash` must be the leaf hash of those bytes, `prev_hash` the previous entry's
hash, sequence numbers gap-free, and every checkpoint (in the store or in a file kept elsewhere)
must carry our key's signature over the root this run recomputes at its size.

The per-row work is kept to byte comparisons and C calls: instead of parsing each entry's JSON
we rebuild the canonical bytes from the columns and compare. RFC 8785 output is unique for a
given value, so equal bytes prove columns and canonical agree; only a row that fails is parsed,
to name what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from portal.audit import FORMAT_VERSION, GENESIS
from portal.audit.checkpoints import CheckpointError, SignedCheckpoint, key_id, parse_body, signature_ok
from portal.audit.merkle import fold

BATCH = 20_000
Progress = Callable[[int, int], None]

# Column -> canonical field. `at` is read as the exact text the canonical form uses.
FIELDS = {
    "seq": "seq",
    "at": "at",
    "actor": "actor",
    "action": "action",
    "subject_ref": "subject",
    "details_sha256": "details_sha256",
    "prev_hash": "prev",
}
CANONICAL_KEYS = {"v", *FIELDS.values()}

ENTRY_SQL = (
    "SELECT e.seq, AT_TEXT, e.actor, e.action, e.subject_ref, e.details_sha256, e.prev_hash, "
    "e.entry_hash, e.canonical, d.salt, d.details, d.seq, d.erased_at "
    "FROM audit_entry e LEFT JOIN audit_detail d ON d.seq = e.seq "
    "WHERE e.seq > ? ORDER BY e.seq LIMIT ?"
)

_AT_SQL = {
    # SQLAlchemy stores SQLite datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, see audit.record).
    "sqlite": "replace(e.at, ' ', 'T') || 'Z'",
    "postgresql": """to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
}


@dataclass(frozen=True)
class CheckpointSeen:
    """A checkpoint the run matched against the recomputed tree."""

    size: int
    time: str
    source: str  # "store #<id>", "file" or "witness"


@dataclass
class VerifyResult:
    ok: bool
    count: int  # entries whose fields, links and hashes were all checked
    size: int  # tree size covered (entries before --from are included by their stored hash)
    root: str  # hex Merkle root at `size`, when ok
    last_checkpoint: CheckpointSeen | None = None
    bad_seq: int | None = None
    field: str | None = None  # the stored field found altered, when one can be named
    reason: str | None = None

    def summary(self) -> str:
        if not self.ok:
            return f"FAIL at seq {self.bad_seq}: {self.reason}"
        cp = self.last_checkpoint
        last = f"{cp.size}@{cp.time}" if cp else "none"
        return f"OK: {self.count} entries, root {self.root}, last checkpoint {last}"


def _name(source: str) -> str:
    return {"file": "checkpoint file", "witness": "witnessed checkpoint"}.get(source, f"checkpoint {source}")


class _Fail(Exception):
    def __init__(self, seq: int, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.seq, self.reason, self.field = seq, reason, field


@dataclass
class _Checkpoint:
    size: int
    root: bytes
    time: str
    source: str


@contextmanager
def _snapshot(engine: Engine) -> Iterator[tuple[Any, str]]:
    """A read-only, consistent view of the store and its placeholder style.

    The DB-API is used directly: on SQLite the engine opens every transaction with BEGIN
    IMMEDIATE, which would hold the write lock (and stall every writer) for the whole run; a
    deferred read transaction in WAL mode sees one snapshot and blocks nobody.
    """
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None
        cur = dbapi.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute("BEGIN")
            try:
                yield cur, "?"
            finally:
                cur.execute("ROLLBACK")
        else:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield cur, "%s"
            finally:
                dbapi.rollback()
    finally:
        raw.close()


def verify(
    engine: Engine,
    public_key: Ed25519PublicKey,
    *,
    from_seq: int = 1,
    external: SignedCheckpoint | None = None,
    witnessed: SignedCheckpoint | None = None,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> VerifyResult:
    """Check the whole log (fields, links, hashes, details, checkpoints); never raises for bad data.

    `external` is a checkpoint kept elsewhere (a file, a receipt's), `witnessed` the newest line of
    the witness file: the log must hold at least their entries, and hash to their roots there.
    """
    with _snapshot(engine) as (cur, ph):
        run = _Run(cur, ph, engine.dialect.name, public_key, progress, batch)
        try:
            run.load_checkpoints(external, witnessed)
            run.walk(max(1, from_seq))
            run.check_beyond_end()
        except _Fail as fail:
            return VerifyResult(
                ok=False,
                count=run.count,
                size=run.size,
                root="",
                last_checkpoint=run.last_seen,
                bad_seq=fail.seq,
                field=fail.field,
                reason=fail.reason,
            )
        return VerifyResult(True, run.count, run.size, fold(run.stack).hex(), run.last_seen)


class _Run:
    def __init__(
        self,
        cur: Any,
        ph: str,
        dialect: str,
        public_key: Ed25519PublicKey,
        progress: Progress | None,
        batch: int,
    ) -> None:
        self.cur, self.ph, self.dialect = cur, ph, dialect
        self.public_key, self.kid = public_key, key_id(public_key)
        self.progress, self.batch = progress, batch
        self.checkpoints: dict[int, list[_Checkpoint]] = {}
        self.last_seen: CheckpointSeen | None = None
        self.last_good_size = 0  # size of the latest checkpoint that matched
        self.stack: list[bytes] = []
        self.size = 0
        self.count = 0

    # -- checkpoints -------------------------------------------------------------------------

    def load_checkpoints(self, external: SignedCheckpoint | None, witnessed: SignedCheckpoint | None) -> None:
        self.cur.execute(
            "SELECT id, tree_size, root_hash, key_id, body, signature FROM audit_checkpoint "
            "ORDER BY tree_size, id"
        )
        for cid, size, root_hash, kid, body, signature in self.cur.fetchall():
            self._add(SignedCheckpoint(body, signature, kid), f"store #{cid}", size, root_hash)
        if external is not None:
            self._add(external, "file", None, None)
        if witnessed is not None:
            self._add(witnessed, "witness", None, None)

    def _add(self, cp: SignedCheckpoint, source: str, size: int | None, root_hex: str | None) -> None:
        name = _name(source)
        try:
            _origin, body_size, root, time = parse_body(cp.body)
        except CheckpointError as exc:
            raise _Fail(size or 0, f"{name} is malformed: {exc}", "audit_checkpoint") from exc
        if not signature_ok(self.public_key, cp):
            other = "" if cp.key_id == self.kid else f" (it names key {cp.key_id})"
            raise _Fail(
                body_size, f"{name} (size {body_size}) is not signed by key {self.kid}{other}", "signature"
            )
        if size is not None and (size != body_size or root_hex != root.hex()):
            raise _Fail(
                body_size,
                f"{name}: tree_size/root_hash columns disagree with its signed body",
                "audit_checkpoint",
            )
        self.checkpoints.setdefault(body_size, []).append(_Checkpoint(body_size, root, time, source))

    def _check_at(self, size: int) -> None:
        root = fold(self.stack)
        for cp in self.checkpoints.get(size, ()):
            if cp.root != root:
                name = _name(cp.source)
                raise _Fail(
                    self.last_good_size + 1,
                    f"{name} signed at {cp.time} says the first {size} entries have root "
                    f"{cp.root.hex()}, they now hash to {root.hex()}: entries "
                    f"{self.last_good_size + 1}..{size} were rewritten (or the log forked)",
                    "checkpoint",
                )
            self.last_seen = CheckpointSeen(size, cp.time, cp.source)
        self.last_good_size = size

    def check_beyond_end(self) -> None:
        if self.size == 0 and 0 in self.checkpoints:
            self._check_at(0)
        beyond = [cp for s, cps in self.checkpoints.items() if s > self.size for cp in cps]
        if beyond:
            cp = max(beyond, key=lambda c: c.size)
            name = _name(cp.source)
            raise _Fail(
                self.size + 1,
                f"the log has {self.size} entries but {name} signed at {cp.time} covers {cp.size}: "
                f"entries {self.size + 1}..{cp.size} were removed (truncation)",
                "missing",
            )

    # -- entries ------------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        """`?` placeholders in the driver's own style."""
        return sql if self.ph == "?" else sql.replace("?", self.ph)

    def _total(self) -> int:
        self.cur.execute("SELECT count(*) FROM audit_entry")
        return int(self.cur.fetchone()[0])

    def walk(self, from_seq: int) -> None:
        total = self._total() if self.progress else 0
        prev = GENESIS
        if from_seq > 1:
            prev = self._prefix(from_seq)
        sql = self._sql(ENTRY_SQL).replace("AT_TEXT", _AT_SQL[self.dialect])
        sha256 = hashlib.sha256
        enc = encode_basestring
        stack = self.stack
        sizes = sorted(self.checkpoints)
        sizes = [s for s in sizes if s >= from_seq - 1]
        next_cp = sizes.pop(0) if sizes else -1
        if next_cp == self.size:
            self._check_at(self.size)
            next_cp = sizes.pop(0) if sizes else -1
        expect = from_seq
        cur = self.cur
        while True:
            cur.execute(sql, (expect - 1, self.batch))
            rows = cur.fetchall()
            if not rows:
                break
            for row in rows:
                seq, at, actor, action, subj, dsha, prev_hash, ehash, canonical, salt, details = row[:11]
                dseq, erased = row[11:]
                try:
                    if seq != expect or prev_hash != prev:
                        raise ValueError
                    leaf = sha256(b"\x00" + canonical).digest()
                    if leaf.hex() != ehash:
                        raise ValueError
                    expected = (
                        f'{{"action":{enc(action)},"actor":{enc(actor)},"at":{enc(at)},'
                        f'"details_sha256":{enc(dsha)},"prev":"{prev}","seq":{seq},'
                        f'"subject":{"null" if subj is None else enc(subj)},"v":{FORMAT_VERSION}}}'
                    ).encode()
                    if canonical != expected:
                        raise ValueError
                    if details is not None:
                        if sha256(salt + details.encode()).hexdigest() != dsha:
                            raise ValueError
                    elif dseq is None or erased is None or salt is not None:
                        raise ValueError  # a deleted or blanked detail row that no erasure marked
                except Exception as exc:
                    raise self._diagnose(row, expect, prev) from exc
                # Inline RootBuilder.append: this loop is the verifier's hot path.
                stack.append(leaf)
                k = expect
                while not k & 1:
                    right = stack.pop()
                    stack[-1] = sha256(b"\x01" + stack[-1] + right).digest()
                    k >>= 1
                prev = ehash
                if expect == next_cp:
                    self.size = expect
                    self._check_at(expect)
                    next_cp = sizes.pop(0) if sizes else -1
                expect += 1
            self.count += len(rows)
            self.size = expect - 1
            if self.progress:
                self.progress(self.count, total)

    def _prefix(self, from_seq: int) -> str:
        """Leaves before --from come from stored hashes (checked only for order); returns the last."""
        sql = "SELECT seq, entry_hash FROM audit_entry WHERE seq > ? AND seq < ? ORDER BY seq"
        self.cur.execute(self._sql(sql), (0, from_seq))
        prev = GENESIS
        sizes = set(self.checkpoints)
        for seq, ehash in self.cur.fetchall():
            if seq != self.size + 1:
                raise _Fail(self.size + 1, f"entry {self.size + 1} is missing", "missing")
            try:
                leaf = bytes.fromhex(ehash)
            except (TypeError, ValueError) as exc:
                raise _Fail(seq, "entry_hash is not hex", "entry_hash") from exc
            if len(leaf) != 32 or leaf.hex() != ehash:
                raise _Fail(seq, "entry_hash is not 64 lowercase hex digits", "entry_hash")
            self.stack.append(leaf)
            self.size = k = seq
            while not k & 1:
                right = self.stack.pop()
                self.stack[-1] = hashlib.sha256(b"\x01" + self.stack[-1] + right).digest()
                k >>= 1
            if seq in sizes:
                self._check_at(seq)
            prev = ehash
        if self.size != from_seq - 1:
            raise _Fail(self.size + 1, f"entry {self.size + 1} is missing", "missing")
        return prev

    # -- naming what is wrong (only runs on a bad row) ----------------------------------------

    def _diagnose(self, row: tuple[Any, ...], expect: int, prev: str) -> _Fail:
        seq, at, actor, action, subj, dsha, prev_hash, ehash, canonical, salt, details, dseq, erased = row
        if seq != expect:
            return self._gap(expect, seq)
        columns = dict(zip(FIELDS, (seq, at, actor, action, subj, dsha, prev_hash), strict=True))
        if not isinstance(canonical, bytes | bytearray | memoryview):
            return _Fail(seq, "canonical is not stored as bytes", "canonical")
        canonical = bytes(canonical)
        try:
            fields = json.loads(canonical)
        except ValueError:
            return _Fail(seq, "canonical bytes are not valid JSON", "canonical")
        if not isinstance(fields, dict) or set(fields) != CANONICAL_KEYS or fields["v"] != FORMAT_VERSION:
            return _Fail(seq, "canonical bytes do not hold the entry fields", "canonical")
        try:
            if rfc8785.dumps(fields) != canonical:
                return _Fail(seq, "canonical bytes are not in RFC 8785 form", "canonical")
        except Exception:
            return _Fail(seq, "canonical bytes are not in RFC 8785 form", "canonical")
        hash_ok = hashlib.sha256(b"\x00" + canonical).hexdigest() == ehash
        differ = [col for col, name in FIELDS.items() if columns[col] != fields[name]]
        if differ and hash_ok:
            col = differ[0]
            return _Fail(
                seq,
                f"column {col} is {columns[col]!r} but the canonical bytes say {fields[FIELDS[col]]!r}",
                col,
            )
        if differ:
            return _Fail(
                seq,
                f"canonical bytes were altered: they no longer hash to entry_hash "
                f"and disagree with {differ[0]}",
                "canonical",
            )
        if not hash_ok:
            return _Fail(seq, "entry_hash is not the hash of the canonical bytes", "entry_hash")
        if prev_hash != prev:
            return _Fail(
                seq,
                f"chain broken: prev_hash does not match entry {seq - 1}'s hash "
                "(entry forged, reordered or rewritten)",
                "prev_hash",
            )
        if dseq is None:
            return _Fail(seq, "its audit_detail row is missing (deleted)", "details")
        if details is None and (erased is None or salt is not None):
            return _Fail(
                seq, "its details were blanked without being erased (no erased_at, or a salt kept)", "details"
            )
        if details is not None:
            return _Fail(
                seq, "audit_detail no longer hashes to details_sha256 (details or salt altered)", "details"
            )
        return _Fail(seq, "entry does not match its canonical bytes", "canonical")

    def _gap(self, expect: int, found: Any) -> _Fail:
        if not isinstance(found, int):
            return _Fail(expect, f"seq column holds {found!r}, not an integer", "seq")
        # Was an entry renumbered? Look for a later row whose signed bytes claim the missing number.
        self.cur.execute(
            self._sql("SELECT seq, canonical FROM audit_entry WHERE seq > ? ORDER BY seq"), (expect,)
        )
        needle = f'"seq":{expect},'.encode()
        for seq, canonical in self.cur.fetchall():
            if needle in bytes(canonical):
                return _Fail(
                    expect,
                    f"the entry whose canonical bytes say seq {expect} is stored as seq {seq} (seq altered)",
                    "seq",
                )
        return _Fail(
            expect, f"entry {expect} is missing (deleted); the next stored entry is {found}", "missing"
        )

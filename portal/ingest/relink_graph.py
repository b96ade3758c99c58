"""The pieces of `portal relink` that hold state while the records are read: the union-find of
identifiers seen together, the lookup of identifier ids and the identifying cookies of a record."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Table, select

from portal.core.context import Ctx
from portal.ingest.writer import IN_CHUNK
from portal.models import Identifier
from portal.subjects import identity
from portal.subjects.cookies import REDACTED

CACHE_MAX = 200_000
Key = tuple[str, str]  # (cookie name, value)
_ident: Table = Identifier.__table__  # type: ignore[attr-defined]


@dataclass
class Graph:
    """Union-find over identifier ids, only for ids that shared a record with another one."""

    parent: dict[int, int] = field(default_factory=dict)
    anchor: dict[int, int | None] = field(default_factory=dict)  # root → person subject, or None
    created: set[int] = field(default_factory=set)  # subjects this relink created

    def find(self, node: int) -> int:
        parent = self.parent
        root = node
        while parent.get(root, root) != root:
            root = parent[root]
        while node != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def union(self, a: int, b: int, anchors: dict[int, int | None]) -> None:
        for n in (a, b):
            if n not in self.parent:
                self.parent[n] = n
                self.anchor[n] = anchors.get(n)
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        pa, pb = self.anchor.get(ra), self.anchor.get(rb)
        if pa is not None and pb is not None and pa != pb:
            return  # two people: each keeps their own (as ingest refuses the merge)
        low, high = sorted((ra, rb))
        self.parent[high] = low
        self.anchor[low] = pa if pa is not None else pb
        self.anchor.pop(high, None)


class KeyIds:
    """(name, value) → identifier id through the (kind, name, value_hash) index, cached (bounded)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.ids: dict[Key, int] = {}
        self.hashes: dict[Key, str] = {}

    def load(self, keys: Iterable[Key]) -> None:
        if len(self.ids) > CACHE_MAX:
            self.ids.clear()
            self.hashes.clear()
        by_name: dict[str, dict[str, Key]] = {}
        for key in keys:
            if key in self.ids:
                continue
            digest = self.hashes.get(key)
            if digest is None:
                digest = self.hashes[key] = identity.value_hash(self.ctx, "cookie", *key)
            by_name.setdefault(key[0], {})[digest] = key
        for name, wanted in by_name.items():
            hashes = list(wanted)
            for i in range(0, len(hashes), IN_CHUNK):
                rows = self.ctx.session.execute(
                    select(_ident.c.id, _ident.c.value_hash).where(
                        _ident.c.kind == "cookie",
                        _ident.c.name == name,
                        _ident.c.value_hash.in_(hashes[i : i + IN_CHUNK]),
                    )
                ).all()
                for ident_id, digest in rows:
                    self.ids[wanted[digest]] = int(ident_id)


class RecordCookies:
    """A record's cookies JSON → its identifying (name, value) pairs, and whether an identifying
    value was REDACTED; cached per distinct text (a visitor's lines repeat it)."""

    def __init__(self, identifying: frozenset[str]) -> None:
        self.identifying = identifying
        self.cache: dict[str, tuple[tuple[Key, ...], bool]] = {}

    def __call__(self, text: str) -> tuple[tuple[Key, ...], bool]:
        found = self.cache.get(text)
        if found is not None:
            return found
        try:
            values = json.loads(text)
        except ValueError:
            values = {}
        keys: list[Key] = []
        redacted = False
        for name, value in values.items() if isinstance(values, dict) else ():
            if name in self.identifying and isinstance(value, str) and value:
                if value == REDACTED:
                    redacted = True
                else:
                    keys.append((name, value))
        found = (tuple(keys), redacted)
        if len(self.cache) >= CACHE_MAX:
            self.cache.clear()
        self.cache[text] = found
        return found

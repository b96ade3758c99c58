"""What erasure does to each category of the personal-data registry, a bounded batch at a time.

Every statement is SQLAlchemy Core over `registry.where`, so the engine finds exactly the rows
export shows. A batch takes the subject's first rows still to be done (deleted rows are gone,
blanked ones no longer match), so running a batch again after a crash simply goes on: no cursor
has to survive the crash.

Order (`batched()`): sessions first (the person is signed out everywhere at once), then the
identifiers, which is the cut-off for ingest (their keyed hashes are remembered as erased in the
same transaction, so no later log line or site event is tied to the person again, see
portal/subjects/suppression.py), then everything else in the registry's foreign-key order. What
names or reaches the person (their requests' free text and contact address, the merges that make up
their subject tree, the account with its address, the subject rows) is left to the final
transaction (`final()`), so every batch before it can still find all of their rows.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType

from portal.core.context import Ctx
from portal.models import metadata
from portal.subjects import deletion, identity, registry, suppression, tally

FIRST = ("sessions", "link_tokens", registry.IDENTIFIERS_KEY)
FINAL = ("request_notes", "request_timeline", "requests", "subject_links", "account", "subject")
# The engine's own audit entries (counts, no personal data) keep their details: they say what it did.
ENGINE_ACTIONS = "erasure."


def batched() -> list[registry.Category]:
    order = [c for c in registry.erasure_order() if c.erasure != "keep" and c.key not in FINAL]
    return sorted(order, key=lambda c: FIRST.index(c.key) if c.key in FIRST else len(FIRST))


def final() -> list[registry.Category]:
    return [c for c in registry.erasure_order() if c.key in FINAL]


def _pk(category: registry.Category) -> Any:
    (pk,) = category.sa_table.primary_key.columns
    return pk


def pending(category: registry.Category) -> ColumnElement[bool]:
    """The subject's rows of `category` that erasure has still to delete or blank, over the
    parameters of `registry.params` (built once per category: see `registry.bound`)."""
    return _pending(category.key)


# Conditions and statements below are built once (functools.cache): their SQLAlchemy cache key is
# then computed once too (it is memoized on the object), where building a dozen subqueries per call
# cost milliseconds.
@functools.cache
def _pending(key: str) -> ColumnElement[bool]:
    category = registry.by_key(key)
    c = category.sa_table.c
    where = registry.bound(category)
    if category.key == "audit_details":
        entries = metadata.tables["audit_entry"]
        about = select(entries.c.seq).where(
            entries.c.subject_ref.in_(bindparam("refs", expanding=True)),
            not_(entries.c.action.startswith(ENGINE_ACTIONS)),
        )
        return and_(c.seq.in_(about), c.erased_at.is_(None))
    if category.erasure == "blank":
        return and_(where, or_(*(c[name].is_not(None) for name in category.personal)))
    return where


def every() -> list[registry.Category]:
    return [*batched(), *final()]


KEYS = tuple(c.key for c in every())


def counts(
    ctx: Ctx, found: registry.Scope, keys: tuple[str, ...], *, kept: bool = False, cap: int | None = None
) -> dict[str, int]:
    """The subject's rows of each category in `keys` still to delete or blank (`kept`: all of
    them, for the categories erasure keeps), all in one statement of scalar subqueries: one round
    trip where a statement per category cost one each. With `cap`, a count stops there (a count
    of `cap` means "at least")."""
    stmt = _counts(keys, kept, cap)
    row = ctx.session.execute(stmt, registry.params(found)).one()
    return {key: int(n) for key, n in row._mapping.items()}


@functools.cache
def _counts(keys: tuple[str, ...], kept: bool, cap: int | None) -> Select[Any]:
    selected = []
    for key in keys:
        category = registry.by_key(key)
        table = category.sa_table
        where = registry.bound(category) if kept else pending(category)
        if cap is None:
            counted = select(func.count()).select_from(table).where(where)
        else:
            # In the order a batch takes them, so the store walks the same index as the batch (and
            # stops at `cap`) instead of scanning the table for a subject it guesses to be dense.
            first = select(literal(1)).where(where).order_by(*(table.c[n] for n in category.order_by))
            counted = select(func.count()).select_from(first.limit(cap).subquery())
        selected.append(counted.scalar_subquery().label(key))
    return select(*selected)


def left(ctx: Ctx, found: registry.Scope, cap: int | None = None) -> dict[str, int]:
    """The subject's rows still to delete or blank, per category (every one), counted up to `cap`."""
    return counts(ctx, found, KEYS, cap=cap)


def take(ctx: Ctx, category: registry.Category, found: registry.Scope, limit: int | None) -> int:
    """Delete or blank up to `limit` (None: all) of the subject's remaining rows of `category`;
    returns how many."""
    table, pk = category.sa_table, _pk(category)
    which, values = pending(category), registry.params(found)
    if limit is not None:
        which = and_(which, _first(ctx, category, which, values, limit))
    chosen: Select[Any] = select(pk).where(which)
    if category.key == registry.IDENTIFIERS_KEY:
        return _identifiers(ctx, chosen, values)
    if category.key == "site_accounts":
        _forget_site_users(ctx, chosen, values)
    elif category.key == "exports":
        deletion.withdraw_exports(ctx, found.subject_id)  # the files first: they hold copies of everything
    if category.erasure != "delete":
        stmt: Any = update(table).where(which).values(_blanks(ctx, category))
    elif limit is None:  # the common case, built once
        stmt = _delete_all(category.key)
    else:
        stmt = delete(table).where(which)
    done = ctx.session.execute(stmt, values, execution_options={"synchronize_session": False})
    n = int(done.rowcount or 0)  # type: ignore[attr-defined]
    if category.key == registry.LOG_KEY:  # found by subject_id = the subject alone
        tally.add(ctx.session, {found.subject_id: -n})
    return n


@functools.cache
def _delete_all(key: str) -> Any:
    category = registry.by_key(key)
    return delete(category.sa_table).where(pending(category))


def _first(
    ctx: Ctx, category: registry.Category, which: ColumnElement[bool], values: dict[str, Any], limit: int
) -> ColumnElement[bool]:
    """The first `limit` rows of `which` in the category's order, as a range of that order: up to
    the last one's sort key. The batch then walks the subject's index from its start and stops
    there. Matching keys instead (`pk IN (first keys)`) made PostgreSQL probe its primary key for
    every row, and in a 10M-record store that index no longer stays in its cache."""
    table = category.sa_table
    # As stored, not as Python sees them: a time read back and bound again must compare equal to
    # itself (SQLite keeps times as text), or a batch could take nothing and the run never end.
    order = [type_coerce(table.c[n], NullType()) for n in category.order_by]
    nth = select(*order).where(which).order_by(*order).offset(limit - 1).limit(1)
    last = ctx.session.execute(nth, values).first()
    if last is None:  # fewer rows than that: all of them
        return true()
    return tuple_(*order) <= tuple_(*(literal(v, NullType()) for v in last))


def _blanks(ctx: Ctx, category: registry.Category) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(category.personal)
    if category.key == "audit_details":
        # Erased as the verifier expects of an erasure (issue 10's `audit.erase_details`): the salt
        # goes with the details, so the salted hash left in the chain cannot be brute-forced back,
        # and erased_at tells an erasure apart from a deleted or tampered row.
        values.update(salt=None, erased_at=ctx.now)
    return values


def _identifiers(ctx: Ctx, chosen: Select[Any], values: dict[str, Any]) -> int:
    """Delete identifier rows, remembering their keyed hashes as erased in the same transaction."""
    table = metadata.tables["identifier"]
    # Wait for ingest batches in flight (PostgreSQL): none may link a line through these afterwards.
    suppression.exclude_ingest(ctx.session)
    gone = ctx.session.execute(
        delete(table)
        .where(table.c.id.in_(chosen), table.c.subject_id.in_(bindparam("tree", expanding=True)))
        .returning(table.c.kind, table.c.name, table.c.value_hash),
        values,
    ).all()
    if gone:
        suppression.forget_identifiers(ctx, [(r.kind, r.name, r.value_hash) for r in gone])
    return len(gone)


def _forget_site_users(ctx: Ctx, chosen: Select[Any], values: dict[str, Any]) -> None:
    """A site account always has its site-user identifier; remember the id as erased even if not."""
    table = metadata.tables["site_account"]
    users = ctx.session.scalars(select(table.c.site_user_id).where(table.c.id.in_(chosen)), values).all()
    suppression.forget_identifiers(
        ctx, [("site_user", "", identity.value_hash(ctx, "site_user", "", u)) for u in users]
    )

"""The one registry of personal data (DESIGN.md §4 rule 10): where a subject's data lives.

The contents are in portal/subjects/categories.py; this module is how the rest of the portal
uses them, so export, deletion and erasure find a subject's rows the same way and can never
drift apart:

    scope = registry.scope(conn, secret, subject_id)        # where this subject's rows are
    for category in registry.erasure_order():               # dependents before what they reference
        registry.where(category, scope)                     # WHERE clause of its rows
        registry.keys(category, scope)                      # SELECT of their primary keys, in order
        category.personal, category.copies, category.erasure
    registry.statement(category, scope)                     # the exported columns (export)
    registry.copies()                                       # every (category, column, kind) of copies

`scope` works on a Connection or a Session; every statement is SQLAlchemy Core, so callers can
run it in batches (keyset over `keys`) on either store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Column, ColumnElement, Select, TypeDecorator, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from portal.audit import subject_ref
from portal.models import metadata
from portal.subjects.categories import (
    AUDIT_KEY,
    CATEGORIES,
    IDENTIFIERS_KEY,
    LOG_KEY,
    OTHER_TABLES,
    TERMS_KEY,
    UNLINKED,
    Category,
    Copy,
    Origin,
)

__all__ = [
    "AUDIT_KEY", "CATEGORIES", "IDENTIFIERS_KEY", "LOG_KEY", "OTHER_TABLES", "TERMS_KEY", "UNLINKED",
    "Category", "Copy", "Origin", "Scope", "bound", "by_key", "copies", "erasure_order", "exported", "keys",
    "ordered", "params", "scope", "statement", "value_type", "where",
]  # fmt: skip


@dataclass(frozen=True)
class Scope:
    """Everything needed to find one subject's rows in every category."""

    subject_id: int
    tree: tuple[int, ...]  # the subject and every subject merged into it, directly or not
    refs: tuple[str, ...]  # their audit pseudonyms (entries keep the pseudonym of their time)
    account_id: int | None
    email: str | None
    former_emails: tuple[str, ...] = ()  # the account's addresses before an email change

    @property
    def emails(self) -> tuple[str, ...]:
        """Every address the account had: mail sent to any of them is the person's."""
        return (*self.former_emails, *([self.email] if self.email else []))


def scope(conn: Connection | Session, secret: bytes, subject_id: int) -> Scope:
    links, accounts = metadata.tables["subject_link"], metadata.tables["account"]
    tree, frontier = [subject_id], [subject_id]
    while frontier:  # subject_link is indexed by the survivor; each merge wrote one row
        merged = conn.execute(select(links.c.merged_id).where(links.c.subject_id.in_(frontier))).scalars()
        frontier = [m for m in merged if m not in tree]
        tree.extend(frontier)
    account = conn.execute(
        select(accounts.c.id, accounts.c.email, accounts.c.former_emails).where(
            accounts.c.subject_id == subject_id
        )
    ).first()
    account_id, email = (account[0], account[1]) if account else (None, None)
    former = tuple(a for a in (account[2] or "").split(", ") if a) if account else ()
    refs = tuple(ref for ref in (subject_ref(secret, i) for i in tree) if ref is not None)
    return Scope(subject_id, tuple(tree), refs, account_id, email, former)


def where(category: Category, found: Scope) -> ColumnElement[bool]:
    """The rows of `category` that belong to the subject of `found`."""
    values = params(found)
    return _condition(
        category, lambda name: bindparam(name, values[name], expanding=name in _LISTS, unique=True)
    )


def bound(category: Category) -> ColumnElement[bool]:
    """`where` over named parameters, which `params(found)` supplies. A statement built on it once
    serves every subject: the erasure engine runs the same few statements for each one, and
    building and cache-keying them anew cost it more Python than the database spent on them."""
    return _bound(category.key)


@functools.cache
def _bound(key: str) -> ColumnElement[bool]:
    return _condition(by_key(key), lambda name: bindparam(name, expanding=name in _LISTS))


def params(found: Scope) -> dict[str, Any]:
    """The parameters of `bound` conditions for one subject. No account (or no address) matches
    nothing: `account_id = NULL` is never true, and an empty IN list matches no row."""
    return {
        "subject": found.subject_id,
        "tree": list(found.tree),
        "refs": list(found.refs),
        "account": found.account_id,
        "emails": list(found.emails),
    }


_LISTS = frozenset({"tree", "refs", "emails"})


def _condition(category: Category, value: Callable[[str], BindParameter[Any]]) -> ColumnElement[bool]:
    c = category.sa_table.c
    match category.found_by:
        case "subject":
            return c.subject_id == value("subject")
        case "tree":
            return c.subject_id.in_(value("tree"))
        case "self":
            return c.id.in_(value("tree"))
        case "account":
            return c.account_id == value("account")
        case "email":
            return c.to_addr.in_(value("emails"))
        case "audit":
            return c.subject_ref.in_(value("refs"))
        case "audit_detail":
            entries = metadata.tables["audit_entry"]
            return c.seq.in_(select(entries.c.seq).where(entries.c.subject_ref.in_(value("refs"))))
    raise ValueError(f"{category.key}: unknown finder {category.found_by!r}")


def keys(category: Category, found: Scope) -> Select[Any]:
    """The primary keys of the subject's rows, in key order: page through them (keyset) to change
    or delete a subject's rows in bounded batches."""
    table = category.sa_table
    pk = list(table.primary_key.columns)
    return select(*pk).where(where(category, found)).order_by(*pk)


def statement(category: Category, found: Scope) -> Select[Any]:
    """The exported columns of the subject's rows of one category, in a stable order."""
    table = category.sa_table
    cols = [col.label(name) for name, col in category.columns()]
    order = [table.c[name] for name in category.order_by]
    if category.key == AUDIT_KEY:
        detail = metadata.tables["audit_detail"]
        return (
            select(*cols)
            .select_from(table.outerjoin(detail, detail.c.seq == table.c.seq))
            .where(where(category, found))
            .order_by(*order)
        )
    return select(*cols).where(where(category, found)).order_by(*order)


def value_type(column: Column[object]) -> type:
    """The Python type of a column's values (int, bool, str, datetime …), seen through decorated types."""
    sa_type = column.type
    if isinstance(sa_type, TypeDecorator):
        sa_type = sa_type.impl_instance
    try:
        return sa_type.python_type
    except NotImplementedError:
        return object


def by_key(key: str) -> Category:
    return next(c for c in CATEGORIES if c.key == key)


def exported() -> list[Category]:
    return [c for c in CATEGORIES if c.exported]


def ordered() -> list[Category]:
    """Exported categories, provided data first, then observed: the order of data.json, the CSV
    files and index.html."""
    return sorted(exported(), key=lambda c: c.origin != "provided")  # stable: keeps the list's order


def erasure_order() -> list[Category]:
    """Every category, rows that reference others before the rows they reference (foreign keys)."""
    position = {t.name: i for i, t in enumerate(metadata.sorted_tables)}
    return sorted(CATEGORIES, key=lambda c: -position[c.table])


def copies() -> Iterable[tuple[Category, str, Copy]]:
    """Every text column that can carry copies of cookie values or search terms, with its kind."""
    for category in CATEGORIES:
        for column, kind in category.copies.items():
            yield category, column, kind

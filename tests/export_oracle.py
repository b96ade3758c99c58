"""An independent oracle for exports: which rows of each table belong to a subject, worked out in
Python from every row of the store, without the registry's queries (so a wrong filter there shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.audit import subject_ref
from portal.models import metadata
from tests.conftest import Store


def _all(store: Store, table: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(metadata.tables[table]))]


def merged_into(store: Store, subject_id: int) -> set[int]:
    """The subject and every subject whose chain of merges (subject.merged_into_id) ends in it."""
    parent = {r["id"]: r["merged_into_id"] for r in _all(store, "subject")}

    def root(s: int) -> int:
        while parent.get(s) is not None:
            s = parent[s]
        return s

    return {s for s in parent if root(s) == subject_id}


def owned_rows(store: Store, table: str, subject_id: int) -> list[dict[str, Any]]:
    """Every row of `table` that is about the subject (or about a subject merged into it)."""
    tree = merged_into(store, subject_id)
    accounts = [a for a in _all(store, "account") if a["subject_id"] == subject_id]
    rows = _all(store, table)
    if table == "audit_entry":
        refs = {subject_ref(store.settings.secret_key, s) for s in tree}
        details = {d["seq"]: d for d in _all(store, "audit_detail")}
        found = [r for r in rows if r["subject_ref"] in refs]
        for r in found:
            detail = details.get(r["seq"], {})
            r["details"], r["details_erased_at"] = detail.get("details"), detail.get("erased_at")
        return found
    if table == "outbox_mail":
        return [r for r in rows if any(r["to_addr"] == a["email"] for a in accounts)]
    if table == "subject_link":
        return [r for r in rows if r["subject_id"] in tree]
    if table in ("web_session", "link_token"):
        return [r for r in rows if any(r["account_id"] == a["id"] for a in accounts)]
    if table == "subject":
        return [r for r in rows if r["id"] in tree]
    if table == "audit_detail":
        seqs = {r["seq"] for r in owned_rows(store, "audit_entry", subject_id)}
        return [r for r in rows if r["seq"] in seqs]
    return [r for r in rows if r["subject_id"] == subject_id]


def normal(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value

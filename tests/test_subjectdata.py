"""The one list of tables holding a subject's data covers every such table and every column."""

from __future__ import annotations

from pathlib import Path

from portal.core.settings import load
from portal.models import metadata
from portal.subjects import registry

PERSON_TABLES = {"subject", "account"}


def _ties_to_a_person(table_name: str) -> bool:
    table = metadata.tables[table_name]
    if "subject_id" in table.c or "subject_ref" in table.c:
        return True
    return any(fk.column.table.name in PERSON_TABLES for fk in table.foreign_keys)


def test_every_table_tied_to_a_subject_is_listed() -> None:
    covered = {c.table for c in registry.CATEGORIES} | set(registry.NOT_EXPORTED)
    tied = {name for name in metadata.tables if _ties_to_a_person(name)}
    assert tied, "the check found no tables at all"
    missing = tied - covered
    assert not missing, f"add these tables to portal/subjects/registry.py (CATEGORIES or NOT_EXPORTED): {missing}"


def test_every_column_is_exported_or_left_out_with_a_reason() -> None:
    for category in registry.CATEGORIES:
        table = category.sa_table
        assert set(category.omitted) <= set(table.c.keys()), category.key
        exported = {col.name for name, col in category.columns() if col.table is table}
        assert exported | set(category.omitted) == set(table.c.keys()), category.key
        assert all(reason.strip() for reason in category.omitted.values())


def test_categories_are_described_and_marked() -> None:
    keys = [c.key for c in registry.CATEGORIES]
    assert len(keys) == len(set(keys))
    for c in registry.CATEGORIES:
        assert c.origin in ("provided", "observed")
        assert all([c.title, c.description, c.purpose, c.legal_basis, c.retention]), c.key
        assert set(c.order_by) <= set(c.sa_table.c.keys())
    origins = [c.origin for c in registry.ordered()]
    assert origins == sorted(origins, key=lambda o: o != "provided")


def test_log_retention_follows_the_setting(tmp_path: Path) -> None:
    settings = load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_LOG_RETENTION_DAYS": "90", "PORTAL_SECRET_KEY": "k" * 40})
    assert registry.by_key("log_records").retention_text(settings) == "90 days after the visit."

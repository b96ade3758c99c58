"""The one registry of personal data covers every table, every subject reference and every column
that looks like personal data; its queries find a subject's rows in every category."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import String, Text, func, select

from portal.core.settings import load
from portal.models import metadata
from portal.subjects import identity, registry
from tests import sitedata_factory as f
from tests.conftest import Store
from tests.export_oracle import owned_rows

PERSON_TABLES = {"subject", "account"}
# Column names that hold personal data wherever they appear (text columns only): a table that has
# one must say so in the registry, or say why it is not personal there.
PERSONAL_NAMES = {
    "ip", "email", "to_addr", "user_agent", "last_user_agent", "referrer", "referrer_domain", "path",
    "cookies", "value", "term", "raw", "body", "details", "campaign", "site_user_id", "email_hash",
    "flash", "reason",
}  # fmt: skip


def _refers_to_a_subject(table_name: str) -> bool:
    table = metadata.tables[table_name]
    if "subject_id" in table.c or "subject_ref" in table.c:
        return True
    return any(fk.column.table.name in PERSON_TABLES for fk in table.foreign_keys)


def test_every_table_is_in_the_registry_once() -> None:
    categories = [c.table for c in registry.CATEGORIES]
    listed = categories + list(registry.OTHER_TABLES) + list(registry.UNLINKED)
    assert len(listed) == len(set(listed)), "a table is described twice"
    missing = set(metadata.tables) - set(listed)
    assert not missing, f"describe these tables in portal/subjects/categories.py: {missing}"
    assert set(listed) <= set(metadata.tables)


def test_every_table_with_a_subject_reference_is_a_category() -> None:
    tied = {name for name in metadata.tables if _refers_to_a_subject(name)}
    assert tied, "the check found no tables at all"
    missing = tied - {c.table for c in registry.CATEGORIES}
    assert not missing, f"these tables refer to a subject; make them categories: {missing}"


def test_every_personal_looking_column_is_declared() -> None:
    undeclared = []
    for table in metadata.tables.values():
        texts = {c.name for c in table.columns if isinstance(c.type, String | Text)}
        for name in sorted(texts & PERSONAL_NAMES):
            declared = (
                any(c.table == table.name and name in c.personal for c in registry.CATEGORIES)
                or (table.name in registry.UNLINKED and name in registry.UNLINKED[table.name].personal)
                or (table.name in registry.OTHER_TABLES and name in registry.OTHER_TABLES[table.name].columns)
            )
            if not declared:
                undeclared.append(f"{table.name}.{name}")
    assert not undeclared, f"declare these personal-data columns in portal/subjects/categories.py: {undeclared}"
    for category in registry.CATEGORIES:
        assert set(category.personal) <= set(category.sa_table.c.keys()), category.key
        assert set(category.copies) <= set(category.personal), category.key


def test_every_exported_column_is_exported_or_left_out_with_a_reason() -> None:
    for category in registry.exported():
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
        assert c.erasure in ("delete", "blank", "keep")
        assert c.erasure != "blank" or c.personal, c.key
    origins = [c.origin for c in registry.ordered()]
    assert origins == sorted(origins, key=lambda o: o != "provided")
    order = [c.table for c in registry.erasure_order()]
    assert order.index("web_session") < order.index("account") < order.index("subject")


def test_log_retention_follows_the_setting(tmp_path: Path) -> None:
    settings = load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_LOG_RETENTION_DAYS": "90", "PORTAL_SECRET_KEY": "k" * 40})
    assert registry.by_key("log_records").retention_text(settings) == "90 days after the visit."


def test_the_registry_finds_exactly_a_subjects_rows_in_every_category(store: Store) -> None:
    """A subject merged from two others, next to a stranger: keys() of every category (what
    erasure pages through) name exactly the rows the independent oracle attributes to it."""
    src = f.source(store)
    me, merged_in, via = f.subject(store, "site"), f.subject(store, "browser"), f.subject(store, "browser")
    stranger = f.subject(store, "browser")
    for who, value in ((me, "mine"), (merged_in, "merged"), (via, "via"), (stranger, "theirs")):
        f.cookie(store, who, "site_id", f"cookie-{value}")
        f.preference(store, who, f"term {value}")
        f.log_records(store, who, 3, source_id=src)
    with store.ctx() as ctx:
        identity.merge(ctx, via, merged_in, "test: a merge into a subject that is merged later")
        identity.merge(ctx, me, via, "test")
    with store.engine.connect() as conn:
        found = registry.scope(conn, store.settings.secret_key, me)
        got = {c.key: {tuple(r) for r in conn.execute(registry.keys(c, found))} for c in registry.CATEGORIES}
        total = conn.execute(select(func.count()).select_from(metadata.tables["log_record"])).scalar()
    assert set(found.tree) == {me, merged_in, via} and total == 12
    for category in registry.CATEGORIES:
        pk = [c.name for c in category.sa_table.primary_key.columns]
        want = {tuple(r[n] for n in pk) for r in owned_rows(store, category.table, me)}
        assert got[category.key] == want, category.key
    assert len(got["log_records"]) == 9 and len(got["subject_links"]) == 2

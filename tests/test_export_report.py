"""The export's index.html reads like a report: a section per category saying what it is and where it
came from, column names in words, times to the second in the person's time zone, long tables folded
behind their count, user agents as browser and system with the whole string on demand, audit actions
in words. data.json and the CSV files keep their stored names and UTC times (tests/test_export.py)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update

from portal.export.report import LABELS, OPEN_ROWS, SOURCES
from portal.models import Account
from portal.subjects import registry
from tests.conftest import Portal
from tests.export_seed import export_zip, seed, subject_of

A = "alice@example.com"


def _report(portal: Portal, zone: str = "Europe/Paris", logs: int = 25) -> tuple[str, str, str]:
    alice = portal.client()
    portal.verified_user(alice, A)
    sa = subject_of(portal.store, A)
    seed(portal.store, sa, "alicemark", logs=logs)
    with portal.store.engine.begin() as conn:
        conn.execute(update(Account).where(Account.email == A).values(time_zone=zone))  # type: ignore[arg-type]
    zf = export_zip(portal, alice)
    page = zf.read("index.html").decode()
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    return page, text, zf.read("observed/log_records.csv").decode("utf-8-sig")


def test_each_category_says_what_it_is_and_where_it_came_from(portal: Portal) -> None:
    page, text, _ = _report(portal)
    for category in registry.ordered():
        assert category.key in SOURCES, category.key
        assert f'id="cat-{category.key}"' in page
        assert f"{category.description} {SOURCES[category.key]}" in text, category.key
    assert "From the site's web server access logs" in text
    assert "25 log records" not in text and "Records 25 records" in text  # the count agrees with its noun
    assert "Records no records" in text or "Records 1 record" in text


def test_column_names_are_words_never_stored_names(portal: Portal) -> None:
    page, _, csv = _report(portal)
    headers = re.findall(r'<th scope="col">([^<]*)</th>', page)
    assert "Two-step login set up" in headers and "Email address confirmed" in headers and "IP address" in headers
    assert not [h for h in headers if "_" in h], headers
    assert "totp_enabled_at" not in page.split("</style>")[1]
    for category in registry.ordered():
        for name in [name for name, _ in category.columns()] + list(category.omitted or {}):
            assert name in LABELS, (category.key, name)
    omitted = page[page.index("Stored but not included"):]
    assert "Two-step login secret:" in omitted and "totp" not in omitted.lower()
    # The CSV keeps its stored names.
    assert csv.splitlines()[0].startswith("id,at,ip,method,path")


def test_times_to_the_second_in_the_persons_time_zone(portal: Portal) -> None:
    page, text, csv = _report(portal, "Asia/Kolkata")
    assert "Times on this page are in the Asia/Kolkata time zone" in text
    stamps = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert len(stamps) > 25
    for instant, shown in stamps:
        moment = datetime.fromisoformat(instant)
        assert shown == moment.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%d %b %Y, %H:%M:%S"), (instant, shown)
    assert re.search(r"\d\d:\d\d:\d\d", text)
    # The CSV still says UTC, in ISO 8601.
    first = csv.splitlines()[1].split(",")[1]
    assert datetime.fromisoformat(first).utcoffset() == datetime.now(UTC).utcoffset()


def test_long_tables_fold_behind_their_count_short_ones_stay_open(portal: Portal) -> None:
    page, text, _ = _report(portal, logs=OPEN_ROWS + 5)
    logs = page[page.index('id="cat-log_records"'):page.index('id="cat-search_preferences"')]
    assert f"<summary>Show all {OPEN_ROWS + 5} records</summary>" in logs
    terms = page[page.index('id="cat-search_preferences"'):]
    terms = terms[:terms.index("</section>")]
    assert "<table>" in terms and "<summary>Show" not in terms  # three terms: shown as they are


def test_user_agents_show_browser_and_system_with_the_raw_string_on_demand(portal: Portal) -> None:
    page, _, _ = _report(portal)
    ids = page[page.index('id="cat-identifiers"'):page.index('id="cat-site_accounts"')]
    assert "Chrome 120 on Windows<details><summary>Full text</summary>" in ids
    assert "<code>Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0</code>" in ids


def test_audit_actions_read_as_words(portal: Portal) -> None:
    page, text, _ = _report(portal)
    audit = text[text.index("Audit entries about you"):]
    assert "Created your account" in audit and "Stopped marketing use of your data" in audit
    assert "Prepared a download" in audit
    assert "account.register" not in audit and "consent.marketing.off" not in audit and "export.create" not in audit

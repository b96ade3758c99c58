"""Deadline arithmetic as a table (each row checked against a calendar by hand), the command that
prints it, and stored due dates that follow the calendar settings."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from portal.cli import main
from portal.core.errors import ConfigError, ValidationError
from portal.core.settings import load
from portal.requests import deadlines, filing, queue
from portal.requests.deadlines import Calendar
from tests.conftest import Store
from tests.request_util import account_subject

DE, US_CA, WEEKENDS = Calendar("DE"), Calendar("US-CA"), Calendar("")
D = date.fromisoformat

# (received, regime, calendar, kind, extension (months, days), due, words the explanation must hold)
TABLE = [
    # 31 January: no 31 February, so the last day of February, in a common and in leap years.
    ("2025-01-31", "gdpr", DE, "access", (0, 0), "2025-02-28", ["no 31 February", "last day of that month"]),
    ("2024-01-31", "gdpr", DE, "erasure", (0, 0), "2024-02-29", ["last day of that month: 2024-02-29"]),
    ("2028-01-31", "gdpr", DE, "access", (0, 0), "2028-02-29", ["last day of that month: 2028-02-29"]),
    # ... and when that last day is a Sunday, the next working day.
    ("2027-01-31", "gdpr", DE, "access", (0, 0), "2027-03-01", ["2027-02-28", "a Sunday", "next working day"]),
    # Same date next month is a Saturday: Monday.
    ("2027-04-08", "gdpr", DE, "access", (0, 0), "2027-05-10", ["same date next month", "a Saturday", "a Sunday"]),
    # Easter Sunday, then Easter Monday (a public holiday in Germany): Tuesday.
    ("2027-02-28", "gdpr", DE, "access", (0, 0), "2027-03-30", ["a Sunday", "public holiday (Easter Monday)"]),
    # ... the same date with weekends only: Monday.
    ("2027-02-28", "gdpr", WEEKENDS, "access", (0, 0), "2027-03-29", ["a Sunday", "next working day: 2027-03-29"]),
    # Christmas Day and the second day on Saturday and Sunday: Monday 27th.
    ("2027-11-25", "gdpr", DE, "access", (0, 0), "2027-12-27", ["Christmas Day", "next working day: 2027-12-27"]),
    # Received on the Friday before Whit Monday: the holiday after receipt changes nothing.
    ("2027-05-14", "gdpr", DE, "access", (0, 0), "2027-06-14", ["same date next month: 2027-06-14"]),
    # Extension: one month plus one or two, counted from receipt by the same rule.
    ("2027-01-31", "gdpr", DE, "access", (1, 0), "2027-03-31", ["same date 2 months later: 2027-03-31"]),
    ("2027-01-31", "gdpr", DE, "access", (2, 0), "2027-04-30", ["no 31 April", "2027-04-30"]),
    # CCPA: 45 calendar days, not moved for a Sunday; 90 with the extension.
    ("2027-01-29", "ccpa", US_CA, "access", (0, 0), "2027-03-15", ["45 calendar days later"]),
    ("2027-01-21", "ccpa", US_CA, "erasure", (0, 0), "2027-03-07", ["2027-03-07"]),
    ("2027-01-29", "ccpa", US_CA, "erasure", (0, 45), "2027-04-29", ["90 calendar days later"]),
    # CCPA opt-out: 15 business days from the Friday before Memorial Day, Juneteenth (observed) skipped.
    ("2027-05-28", "ccpa", US_CA, "objection", (0, 0), "2027-06-22", ["15 business days", "Memorial Day"]),
    ("2027-05-28", "ccpa", WEEKENDS, "unsubscribe", (0, 0), "2027-06-18", ["skipping 6 weekend days"]),
]


@pytest.mark.parametrize(("received", "regime", "cal", "kind", "extension", "due", "words"), TABLE)
def test_deadline_table(
    received: str, regime: str, cal: Calendar, kind: str, extension: tuple[int, int], due: str, words: list[str]
) -> None:
    found = deadlines.due(D(received), regime, cal, kind=kind, extension_months=extension[0], extension_days=extension[1])
    assert found.due == D(due), found.explain()
    for word in words:
        assert word in found.explain(), (word, found.explain())
    assert found.explain().startswith(f"received {received} (")


@pytest.mark.parametrize(
    ("received", "cal", "ack"),
    [
        ("2027-05-28", US_CA, "2027-06-14"),  # a Friday before Memorial Day: ten business days skip it
        ("2027-05-28", WEEKENDS, "2027-06-11"),
        ("2027-06-07", US_CA, "2027-06-22"),  # Juneteenth observed on Friday 18 June
    ],
)
def test_ccpa_acknowledgement_counts_business_days(received: str, cal: Calendar, ack: str) -> None:
    assert deadlines.acknowledgement_due(D(received), "ccpa", cal) == D(ack)
    assert deadlines.acknowledgement_due(D(received), "gdpr", cal) is None


@pytest.mark.parametrize(
    ("regime", "kind", "months", "days", "ok"),
    [
        ("gdpr", "access", 1, 0, True),
        ("gdpr", "erasure", 2, 0, True),
        ("gdpr", "access", 3, 0, False),
        ("gdpr", "access", 0, 0, False),
        ("gdpr", "access", 0, 30, False),
        ("ccpa", "access", 0, 45, True),
        ("ccpa", "access", 0, 46, False),
        ("ccpa", "access", 1, 0, False),
        ("ccpa", "objection", 0, 10, False),  # opt-outs are never extended
    ],
)
def test_extension_limits(regime: str, kind: str, months: int, days: int, ok: bool) -> None:
    if ok:
        deadlines.check_extension(regime, kind, months, days)
    else:
        with pytest.raises(ValidationError):
            deadlines.check_extension(regime, kind, months, days)


def test_receipt_date_is_counted_in_the_request_time_zone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_REQUEST_TIME_ZONE": "Europe/Berlin"})
    late = datetime(2027, 1, 30, 23, 30, tzinfo=UTC)  # already the 31st in Berlin
    assert deadlines.local_date(settings, late) == D("2027-01-31")
    assert deadlines.local_date(replace(settings, request_time_zone="UTC"), late) == D("2027-01-30")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_HOLIDAY_COUNTRY": "XX"}, "knows no country"),
        ({"PORTAL_HOLIDAY_COUNTRY": "DE-ZZ"}, "no subdivision"),
        ({"PORTAL_REQUEST_REGIME": "lgpd"}, "PORTAL_REQUEST_REGIME"),
        ({"PORTAL_REQUEST_TIME_ZONE": "Mars/Olympus"}, "PORTAL_REQUEST_TIME_ZONE"),
        ({"PORTAL_ERASURE_WAIT_DAYS": "-1"}, "PORTAL_ERASURE_WAIT_DAYS"),
        ({"PORTAL_ERASURE_REVIEW": "sometimes"}, "PORTAL_ERASURE_REVIEW"),
    ],
)
def test_bad_request_settings_are_refused(tmp_path, env: dict[str, str], message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        load({"PORTAL_VAR_DIR": str(tmp_path), **env})
    assert load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_HOLIDAY_COUNTRY": "de-by"}).holiday_country == "DE-BY"
    assert load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_ERASURE_WAIT_DAYS": "0"}).erasure_wait_days == 0


# -- the command ---------------------------------------------------------------------------


def _deadline(*args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    result = CliRunner().invoke(main, ["requests", "deadline", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_deadline_command_prints_the_date_alone_then_how_it_was_reached() -> None:
    lines = _deadline("2027-01-31", "--country", "DE")
    assert lines[0] == "2027-03-01"
    assert "Regulation 1182/71" in lines[1] and "DE" in lines[1]
    assert lines[2] == (
        "received 2027-01-31 (Sunday) → same date next month → no 31 February → last day of that month: "
        "2027-02-28 → a Sunday → next working day: 2027-03-01"
    )
    assert _deadline("2027-01-31", "--country", "DE", "--extended")[0] == "2027-04-30"
    assert _deadline("2027-04-08")[0] == "2027-05-10"  # default: gdpr, weekends only
    ccpa = _deadline("2027-05-28", "--regime", "ccpa", "--country", "US-CA")
    assert ccpa[0] == "2027-07-12" and "45 calendar days later" in ccpa[2]
    assert ccpa[3] == "receipt to be confirmed by 2027-06-14 (10 business days)"
    assert _deadline("2027-05-28", "--regime", "ccpa", "--extended")[0] == "2027-08-26"
    assert _deadline("2027-05-28", "--regime", "ccpa", "--kind", "unsubscribe")[0] == "2027-06-18"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2027-02-30"], "not a date like"),
        (["2027-01-31", "--regime", "lgpd"], "lgpd"),
        (["2027-01-31", "--country", "XX"], "knows no country"),
        (["2027-01-31", "--regime", "ccpa", "--kind", "objection", "--extended"], "cannot be extended"),
    ],
)
def test_deadline_command_refuses_bad_input_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["requests", "deadline", *args])
    assert result.exit_code == 2 and message in result.output, result.output


# -- stored due dates -----------------------------------------------------------------------


def test_stored_due_dates_follow_changed_calendar_settings(store: Store) -> None:
    store.clock._now = datetime(2027, 4, 27, 10, tzinfo=UTC)  # due 27 May 2027: Thursday  # noqa: SLF001
    subject = account_subject(store, "ada@example.com")
    with store.ctx() as ctx:
        row, _, _ = filing.file(ctx, subject, "rectification", details="My name is Ada, not Ava.")
        closed, _, _ = filing.file(ctx, subject, "restriction", details="Pause it please.")
        closed.closed_at, closed.status = ctx.now, "cancelled"
        request_id, closed_id = row.id, closed.id
    assert str(store.scalar("SELECT due_on FROM data_request WHERE id = :i", i=request_id)) == "2027-05-27"
    # Corpus Christi (27 May 2027) is a holiday in Bavaria, not in Berlin: open requests follow, closed ones keep theirs.
    bavaria = replace(store.settings, holiday_country="DE-BY")
    with store.ctx() as ctx:
        ctx.settings = bavaria
        assert queue.refresh(ctx) == 1
        assert queue.refresh(ctx) == 0  # nothing stale any more
    assert str(store.scalar("SELECT due_on FROM data_request WHERE id = :i", i=request_id)) == "2027-05-28"
    assert str(store.scalar("SELECT due_on FROM data_request WHERE id = :i", i=closed_id)) == "2027-05-27"
    assert "DE-BY" in str(store.scalar("SELECT deadline_basis FROM data_request WHERE id = :i", i=request_id))

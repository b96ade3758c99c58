"""Legal deadlines of requests, computed from the date of receipt, with the steps that reached them.

- gdpr: one month (GDPR Art. 12(3)) counted per Regulation (EEC, Euratom) No 1182/71: Art. 3(2)(c)
  ends a period of months on the same date in the last month, or on that month's last day when it
  has no such date; Art. 3(4) moves an end on a Saturday, Sunday or public holiday to the next
  working day. Extendable once by up to two further months: the period is then counted as one
  month plus the extension from the receipt itself, the same rule applied once.
- ccpa: 45 calendar days after receipt (Cal. Code Regs. tit. 11 § 7021(b)), once +45 with notice
  (90 in all); receipt confirmed within 10 business days (§ 7021(a)); opt-outs (objection,
  unsubscribe) answered within 15 business days (§ 7026(f)). Calendar-day ends are not moved for
  weekends: the regulations count calendar days, and an answer before the end is never late.

Holidays come from the `holidays` library for PORTAL_HOLIDAY_COUNTRY ("" = weekends only); dates
are calendar dates in PORTAL_REQUEST_TIME_ZONE.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from portal.core.errors import ValidationError
from portal.core.settings import Settings
from portal.core.words import count as counted

# Bumped whenever the arithmetic below changes, so stored due dates are recomputed (refresh()).
RULES_VERSION = 1
GDPR_MAX_EXTENSION_MONTHS = 2
CCPA_DAYS = 45
CCPA_MAX_EXTENSION_DAYS = 45
CCPA_ACK_BUSINESS_DAYS = 10
CCPA_OPT_OUT_BUSINESS_DAYS = 15
CCPA_OPT_OUT_KINDS = ("objection", "unsubscribe")
RULE_TEXT = {
    "gdpr": "GDPR Art. 12(3): one month from receipt, counted per Regulation 1182/71",
    "ccpa": "CCPA regulations § 7021(b): 45 calendar days after receipt",
}
_WEEKEND = {5: "a Saturday", 6: "a Sunday"}


@dataclass(frozen=True)
class Deadline:
    due: date
    rule: str
    steps: tuple[str, ...]

    def explain(self) -> str:
        """ "received 2027-01-31 → same date next month → … → next working day: 2027-03-01"."""
        return " → ".join(self.steps)


class Calendar:
    """Working days: Monday to Friday, less the public holidays of one country (or subdivision)."""

    def __init__(self, country: str = "") -> None:
        self.country = country
        self._holidays: Any = _holidays(country) if country else None

    def holiday(self, day: date) -> str | None:
        return None if self._holidays is None else self._holidays.get(day)

    def closed(self, day: date) -> str | None:
        """Why `day` is not a working day ("a Sunday", "a public holiday (Christmas Day)"), or None."""
        name = self.holiday(day)
        if name:
            return f"a public holiday ({name})"
        return _WEEKEND.get(day.weekday())


@functools.lru_cache(maxsize=16)
def _holidays(country: str) -> Any:
    code, _, subdivision = country.partition("-")
    return holidays.country_holidays(code, subdiv=subdivision or None)


def add_months(start: date, months: int) -> tuple[date, list[str]]:
    """Regulation 1182/71 Art. 3(2)(c): the same date `months` later, else that month's last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    words = "same date next month" if months == 1 else f"same date {months} months later"
    last = calendar.monthrange(year, month)[1]
    if start.day <= last:
        end = date(year, month, start.day)
        return end, [f"{words}: {end}"]
    end = date(year, month, last)
    return end, [words, f"no {start.day} {calendar.month_name[month]}", f"last day of that month: {end}"]


def next_working_day(day: date, cal: Calendar) -> tuple[date, list[str]]:
    """Regulation 1182/71 Art. 3(4): an end on a Saturday, Sunday or public holiday moves on."""
    steps: list[str] = []
    while reason := cal.closed(day):
        steps.append(reason)
        day += timedelta(days=1)
    if steps:
        steps.append(f"next working day: {day}")
    return day, steps


def add_business_days(start: date, count: int, cal: Calendar) -> tuple[date, list[str]]:
    """The `count`th working day after `start` (the day of receipt itself is not counted)."""
    day, skipped = start, 0
    holidays_skipped: list[str] = []
    for _ in range(count):
        day += timedelta(days=1)
        while reason := cal.closed(day):
            skipped += 1
            if reason.startswith("a public holiday"):
                holidays_skipped.append(f"{day} {reason[2:]}")
            day += timedelta(days=1)
    steps = [f"{count} business days later"]
    if skipped:
        steps.append(
            f"skipping {counted(skipped, 'weekend day or holiday', 'weekend days and holidays')}"
            + (f" ({'; '.join(holidays_skipped)})" if holidays_skipped else "")
        )
    steps.append(str(day))
    return day, steps


def due(
    received: date,
    regime: str,
    cal: Calendar,
    *,
    kind: str = "access",
    extension_months: int = 0,
    extension_days: int = 0,
) -> Deadline:
    """The deadline of a request received on `received`, and how it was reached."""
    steps = [f"received {received} ({received.strftime('%A')})"]
    if regime == "gdpr":
        end, words = add_months(received, 1 + extension_months)
        if extension_months:
            steps.append(f"one month plus the extension of {extension_months}")
        moved, more = next_working_day(end, cal)
        return Deadline(moved, RULE_TEXT["gdpr"], tuple(steps + words + more))
    if regime != "ccpa":
        raise ValidationError(f"Unknown regime {regime!r}: gdpr or ccpa.", "regime")
    if kind in CCPA_OPT_OUT_KINDS:
        end, words = add_business_days(received, CCPA_OPT_OUT_BUSINESS_DAYS, cal)
        rule = f"CCPA regulations § 7026(f): opt-outs within {CCPA_OPT_OUT_BUSINESS_DAYS} business days"
        return Deadline(end, rule, tuple(steps + words))
    days = CCPA_DAYS + extension_days
    end = received + timedelta(days=days)
    extra = f" ({CCPA_DAYS} plus the extension of {extension_days})" if extension_days else ""
    return Deadline(end, RULE_TEXT["ccpa"], tuple([*steps, f"{days} calendar days later{extra}", str(end)]))


def acknowledgement_due(received: date, regime: str, cal: Calendar) -> date | None:
    """CCPA: receipt is confirmed within 10 business days; GDPR sets no separate step."""
    if regime != "ccpa":
        return None
    return add_business_days(received, CCPA_ACK_BUSINESS_DAYS, cal)[0]


def check_extension(regime: str, kind: str, months: int, days: int) -> None:
    """Refuse an extension the regime does not allow (ValidationError naming the field)."""
    if regime == "gdpr":
        if days or not 1 <= months <= GDPR_MAX_EXTENSION_MONTHS:
            raise ValidationError("Under the GDPR a deadline can be extended by one or two months.", "months")
        return
    if kind in CCPA_OPT_OUT_KINDS:
        raise ValidationError("Under the CCPA an opt-out cannot be extended.", "days")
    if months or not 1 <= days <= CCPA_MAX_EXTENSION_DAYS:
        raise ValidationError(
            f"Under the CCPA a deadline can be extended by 1 to {CCPA_MAX_EXTENSION_DAYS} days.", "days"
        )


def max_extension(regime: str) -> tuple[int, int]:
    """(months, days) of the longest extension a regime allows: what `--extended` means."""
    return (GDPR_MAX_EXTENSION_MONTHS, 0) if regime == "gdpr" else (0, CCPA_MAX_EXTENSION_DAYS)


# -- settings and stored requests ------------------------------------------------------------


def calendar_of(settings: Settings) -> Calendar:
    return Calendar(settings.holiday_country)


def local_date(settings: Settings, at: datetime) -> date:
    """The calendar date of a moment where requests are counted."""
    return at.astimezone(ZoneInfo(settings.request_time_zone)).date()


def basis(settings: Settings) -> str:
    """What a stored due date depends on besides the request itself; a change means recompute."""
    country = settings.holiday_country or "weekends"
    return f"rules {RULES_VERSION}; {country}; {settings.request_time_zone}; holidays {holidays.__version__}"


def of_request(settings: Settings, row: Any, *, unextended: bool = False) -> Deadline:
    """The deadline of a stored request (`row` has regime, kind, received_at and its extension)."""
    return due(
        local_date(settings, row.received_at),
        row.regime,
        calendar_of(settings),
        kind=row.kind,
        extension_months=0 if unextended else row.extension_months,
        extension_days=0 if unextended else row.extension_days,
    )


def acknowledgement_of(settings: Settings, row: Any) -> date | None:
    return acknowledgement_due(local_date(settings, row.received_at), row.regime, calendar_of(settings))


def stamp(settings: Settings, row: Any) -> Deadline:
    """Write a request's current deadline and its basis onto the row; returns the deadline."""
    deadline = of_request(settings, row)
    row.due_on = deadline.due
    row.deadline_basis = basis(settings)
    return deadline

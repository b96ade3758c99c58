"""An account's own settings that change no security: the time zone its pages show times in."""

from __future__ import annotations

import functools
from zoneinfo import available_timezones

from portal import audit
from portal.accounts.accounts import get
from portal.core.context import Ctx
from portal.core.errors import ValidationError

DEFAULT_ZONE = "UTC"
# tzdata also ships legacy aliases ("US/Pacific", "EST5EDT", "Etc/GMT+5": whose sign is inverted),
# and files that are no zone at all ("Factory", "localtime"): a person picks from the region names.
_LEGACY = ("Etc/", "SystemV/", "US/", "posix/", "right/", "Canada/", "Mexico/", "Brazil/", "Chile/")


@functools.cache
def zones() -> tuple[str, ...]:
    """The zones a person may choose, sorted: region/city names and UTC."""
    names = {z for z in available_timezones() if "/" in z and not z.startswith(_LEGACY)}
    return (DEFAULT_ZONE, *sorted(names))


def grouped() -> list[tuple[str, list[tuple[str, str]]]]:
    """The zones by region, for a select's option groups: [("Europe", [("Europe/Berlin", "Berlin")])]."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in zones()[1:]:
        region, _, place = name.partition("/")
        groups.setdefault(region, []).append((name, place.replace("_", " ").replace("/", " – ")))
    return sorted(groups.items())


def check_zone(raw: str) -> str:
    zone = raw.strip()
    if zone not in zones():
        raise ValidationError("Choose a time zone from the list.", "time_zone")
    return zone


def set_time_zone(ctx: Ctx, account_id: int, raw: str) -> int | None:
    """Show the account's pages in another zone; the audit entry's number (its receipt), None if unchanged."""
    zone = check_zone(raw)
    account = get(ctx, account_id)
    if zone == account.time_zone:
        return None
    account.time_zone = zone
    entry = audit.record(ctx, "account.time_zone", subject_id=account.subject_id, details={"time_zone": zone})
    return entry.seq

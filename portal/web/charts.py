"""Geometry for the server-rendered SVG activity chart (no scripts; the template draws it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from portal.core import words
from portal.subjects.logbrowse import Activity

WIDTH = 600
HEIGHT = 160
AXIS = 20  # room under the bars for the first and last date


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: int
    bars: list[Bar]
    first: str
    last: str
    summary: str
    rows: list[tuple[str, int]]  # days with activity, for the table alternative


def _day(d: object) -> str:
    return f"{d:%d %b %Y}"


def activity_chart(activity: Activity, tz: ZoneInfo) -> Chart:
    days = activity.days
    top = max((d.count for d in days), default=0) or 1
    slot = WIDTH / max(len(days), 1)
    plot = HEIGHT - AXIS
    bars = []
    for i, d in enumerate(days):
        h = plot * d.count / top
        bars.append(
            Bar(
                round(i * slot + slot * 0.1, 2),
                round(plot - h, 2),
                round(slot * 0.8, 2),
                round(h, 2),
                f"{_day(d.day)}: {words.count(d.count, 'request')}",
            )
        )
    first, last = (_day(days[0].day), _day(days[-1].day)) if days else ("", "")
    if activity.busiest is not None:
        summary = (
            f"{words.count(activity.total, 'request')} between {first} and {last}; the busiest day was "
            f"{_day(activity.busiest.day)} with {activity.busiest.count}."
        )
    else:
        summary = f"No requests between {first} and {last}."
    summary += f" Days are in the {tz.key} time zone."
    return Chart(
        WIDTH, HEIGHT, plot, bars, first, last, summary, [(_day(d.day), d.count) for d in days if d.count]
    )


@dataclass(frozen=True)
class PairChart:
    """Two counts per day side by side (e.g. revocations and unsubscribes), with the same words as a table."""

    width: int
    height: int
    baseline: int
    first_bars: list[Bar]
    second_bars: list[Bar]
    first: str
    last: str
    summary: str
    rows: list[tuple[str, int, int]]


def pair_chart(days: list[tuple[date, int, int]], names: tuple[str, str]) -> PairChart:
    top = max((max(a, b) for _, a, b in days), default=0) or 1
    slot = WIDTH / max(len(days), 1)
    plot = HEIGHT - AXIS
    firsts: list[Bar] = []
    seconds: list[Bar] = []
    for i, (day, a, b) in enumerate(days):
        for bars, count, offset, name in ((firsts, a, 0.1, names[0]), (seconds, b, 0.5, names[1])):
            h = plot * count / top
            bars.append(
                Bar(round(i * slot + slot * offset, 2), round(plot - h, 2), round(slot * 0.4, 2), round(h, 2),
                    f"{_day(day)}: {count} {name}")  # fmt: skip
            )
    first, last = (_day(days[0][0]), _day(days[-1][0])) if days else ("", "")
    totals = [sum(d[1] for d in days), sum(d[2] for d in days)]
    summary = f"{totals[0]} {names[0]} and {totals[1]} {names[1]} between {first} and {last}."
    rows = [(_day(d), a, b) for d, a, b in days if a or b]
    return PairChart(WIDTH, HEIGHT, plot, firsts, seconds, first, last, summary, rows)

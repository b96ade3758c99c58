"""Cells a spreadsheet would run as formulas (OWASP "CSV injection"): the one place that neutralises them.

Every CSV the portal writes (exports, the quarantine, staff reports) passes its text cells through
`neutralise` or `neutralise_column`, which put an apostrophe in front of a cell that a spreadsheet
would read as a formula. Spreadsheets skip leading blanks before they look for `=`, and some read
full-width and small-form lookalikes as the ASCII sign, so a cell counts as a formula when, after
any leading whitespace or invisible characters, it starts with one of TRIGGERS.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

# ASCII triggers from OWASP and ASVS 1.2.10 (tab, carriage return, NUL included), line feed, and the
# full-width (U+FF1D, U+FF0B, U+FF0D, U+FF20) and small-form (U+FE66, U+FE62, U+FE63, U+FE6B) signs.
TRIGGERS = frozenset("=+-@\t\r\n\0\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b")
# Blanks a spreadsheet may skip before the sign: every Unicode space (no-break, ideographic …) and the
# zero-width characters that show nothing.
BLANKS = "".join(ch for ch in map(chr, range(0x3100)) if ch.isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
_SUSPECT_FIRST = TRIGGERS | frozenset(BLANKS)
_first = itemgetter(0)


def is_formula(value: str) -> bool:
    if not value:
        return False
    if value[0] in TRIGGERS:
        return True
    rest = value.lstrip(BLANKS) if value[0] in _SUSPECT_FIRST else ""
    return bool(rest) and rest[0] in TRIGGERS


def neutralise(value: str) -> str:
    """A text cell a spreadsheet shows as text: a formula-looking cell gets a leading apostrophe."""
    return "'" + value if is_formula(value) else value


def neutralise_column(values: Sequence[Any]) -> Sequence[Any]:
    """`neutralise` over one column's values (None and non-text left alone); the same object back when
    nothing needed a change, which is nearly always: first characters are gathered in C."""
    try:
        if _SUSPECT_FIRST.isdisjoint(map(_first, filter(None, values))):
            return values
    except TypeError:  # a number among the values: take the careful path
        pass
    # Inline for the common cases: only a cell that starts with a blank needs is_formula's look past it.
    return [
        "'" + v
        if v and isinstance(v, str) and (v[0] in TRIGGERS or (v[0] in _SUSPECT_FIRST and is_formula(v)))
        else v
        for v in values
    ]

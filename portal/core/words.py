"""Numbers that agree with their nouns: "1 search term", "no search terms", "7 cookie records".

One helper for pages (the `count` filter in portal/web/templating.py and the export's index.html)
and for flash messages built in Python, so no text says "the 0 search terms" or "record(s)".
"""

from __future__ import annotations

_ES_ENDINGS = ("s", "x", "z", "ch", "sh")
_VOWELS = "aeiou"


def plural(noun: str) -> str:
    """The regular English plural of a noun phrase's last word (irregular ones: pass `many`)."""
    if noun.endswith(_ES_ENDINGS):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in _VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def count(n: int, one: str, many: str | None = None, *, none: str = "no") -> str:
    """`n` and the noun in agreement; zero reads as "no search terms" (pass none="0" for a figure).

    Thousands are grouped ("12,345 log records") so large numbers read at a glance.
    """
    if n == 1:
        return f"1 {one}"
    noun = many if many is not None else plural(one)
    if n == 0:
        return f"{none} {noun}"
    return f"{n:,} {noun}"

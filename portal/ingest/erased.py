"""Lines and events about erased people: ingest ties nothing to them again.

A log line carrying an erased person's identifying cookie is **stored unlinked**, that value
REDACTED: the site's record of the request stays whole for what the site keeps logs for (operating
and securing it; counts stay right), yet it names nobody — no subject, no identifier row, no search
preference — and, as every unlinked record, its IP is masked after PORTAL_IP_MASK_DAYS and it is
deleted after PORTAL_LOG_RETENTION_DAYS. Other identifying cookies on the same line still link it as
usual. A site event naming an erased identifier (its site user id or identification cookie) is
**dropped**: an event exists only to tie identifiers to people, and storing it unlinked would keep
nothing but the erased value. See portal/subjects/suppression.py for the erased identifiers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from portal.core.context import Ctx
from portal.ingest.batches import Batch, CookieGroup, Cookies
from portal.ingest.events import AccountEvent, CookieSetEvent, Event, LoginEvent
from portal.subjects import suppression
from portal.subjects.cookies import REDACTED, CookieCatalog


def strip(
    ctx: Ctx,
    batch: Batch,
    unknown: Sequence[tuple[str, str]],
    hash_of: Callable[[str, str], str],
    cookies_at: int,
) -> int:
    """Take erased cookie values out of the batch's linking and REDACT them in its rows; `unknown`
    are the batch's identifying (name, value) pairs no identifier row holds (only those can be
    erased ones: erasure deletes the rows). Returns how many lines lost a value."""
    by_name: dict[str, dict[str, str]] = {}
    for name, value in unknown:
        by_name.setdefault(name, {})[hash_of(name, value)] = value
    gone: set[tuple[str, str]] = set()
    for name, values in by_name.items():
        for digest in suppression.erased_among(ctx.session, "cookie", name, list(values)):
            gone.add((name, values[digest]))
    if not gone:
        return 0
    groups: dict[Cookies, CookieGroup] = {}
    renamed: dict[Cookies, Cookies] = {}
    redacted = 0
    texts: dict[str, str] = {}
    for cookies, group in batch.cookie_groups.items():
        kept = tuple(k for k in cookies if k not in gone)
        renamed[cookies] = kept
        if len(kept) != len(cookies):
            redacted += _redact(
                batch.rows, group.indices, [k for k in cookies if k in gone], cookies_at, texts
            )
        if not kept:
            continue  # the lines stay in the batch, linked to nobody
        into = groups.get(kept)
        if into is None:
            groups[kept] = group
        else:
            _absorb(into, group)
    batch.cookie_groups = groups
    batch.referrer_terms = [(renamed[c], term, at) for c, term, at in batch.referrer_terms if renamed[c]]
    return redacted


def _redact(
    rows: list[tuple[Any, ...]],
    indices: list[int],
    gone: list[tuple[str, str]],
    at: int,
    texts: dict[str, str],
) -> int:
    for index in indices:
        row = rows[index]
        old = row[at]
        if not old:
            continue
        new = texts.get(old)
        if new is None:
            values = json.loads(old)
            for name, value in gone:
                if values.get(name) == value:
                    values[name] = REDACTED
            new = texts[old] = json.dumps(values, separators=(",", ":"))
        rows[index] = (*row[:at], new, *row[at + 1 :])
    return len(indices)


def _absorb(into: CookieGroup, other: CookieGroup) -> None:
    """Two groups that now carry the same identifying cookies become one."""
    into.indices.extend(other.indices)
    into.first_at = min(into.first_at, other.first_at)
    if (other.last_at, other.last_index) > (into.last_at, into.last_index):
        into.last_at, into.last_index, into.last_ua = other.last_at, other.last_index, other.last_ua
    for prefs, (times, earliest, latest) in other.prefs.items():
        seen = into.prefs.get(prefs)
        if seen is None:
            into.prefs[prefs] = [times, earliest, latest]
        else:
            seen[0], seen[1], seen[2] = seen[0] + times, min(seen[1], earliest), max(seen[2], latest)


def names_erased(ctx: Ctx, event: Event, catalog: CookieCatalog) -> bool:
    """Does this site event name an erased person's site user id or identifying cookie?"""
    checks: list[tuple[str, str, str]] = []
    if isinstance(event, AccountEvent | CookieSetEvent | LoginEvent) and event.site_user_id:
        checks.append(("site_user", "", event.site_user_id))
    if isinstance(event, CookieSetEvent) and event.name in catalog.secret_names:
        checks.append(("cookie", event.name, event.value))
    if isinstance(event, LoginEvent):
        checks.append(("cookie", ctx.settings.id_cookie, event.cookie_value))
    return any(suppression.is_erased(ctx, *check) for check in checks if check[2])

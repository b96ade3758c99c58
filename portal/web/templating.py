"""Jinja2 templates with block fragments for htmx, and the context every page gets."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment
from jinja2_fragments.starlette import Jinja2Blocks
from markupsafe import Markup, _escape_inner
from starlette.applications import Starlette
from starlette.requests import Request

from portal import __version__
from portal.audit.actions import words as action_words
from portal.core.words import count

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
HTMX_FILE = "htmx-2.0.11.min.js"


def _page_context(request: Request) -> dict[str, Any]:
    state = request.scope.get("portal", {})
    current = state.get("current")
    account = current.account if current else None
    return {
        "current_account": account,
        "account_tz": account_zone(account.time_zone if account else None),
        "csrf_token": state.get("csrf_token", ""),
        "flashes": state.get("flashes", []),
        "settings": request.app.state.settings,
        "htmx_file": HTMX_FILE,
        "version": __version__,
    }


def make_templates(app: Starlette, *, reload: bool = False) -> Jinja2Blocks:
    """`reload`: look at each template file's time on every render and recompile it when it changed
    (for editing templates under `make run`); otherwise each is compiled once and never stat()ed."""
    templates = Jinja2Blocks(directory=str(TEMPLATES_DIR), context_processors=[_page_context])
    templates.env.autoescape = True
    templates.env.auto_reload = reload
    templates.env.globals["url_for"] = _url_paths(app)
    # A filter ({{ moment | in_zone(tz) }}), not a global: Jinja calls a filter directly and a global
    # through Context.call, which cost a fifth of a page of fifty log records.
    templates.env.filters["in_zone"] = time_tag
    # For a table of hundreds of values written under {% autoescape false %} (log rows): escapes
    # exactly as autoescape does (MarkupSafe's own C escaper), without a Markup object per value.
    templates.env.filters["escape_text"] = _escape_inner
    # Numbers agree with nouns ({{ n | count("search term") }}) and actions read as words, never codes.
    templates.env.filters["count"] = count
    templates.env.globals["action_words"] = action_words
    kept = _kept(templates.env, cached=not reload)
    templates.env.globals["kept"] = kept
    templates.env.globals["subnav"] = _subnavs(kept)
    return templates


def _kept(env: Environment, *, cached: bool) -> Callable[..., Markup]:
    """`kept(template, macro, *args)`: what a macro of `template` writes for `args` (hashable), written
    once and kept. For parts of a page that are the same for everyone who sees them, never for
    anything personal: a section's navigation (a tenth of every My data page's rendering), the log
    page's filter form while no filter is set (a third of that page's rendering besides its rows).
    Not kept while templates reload, so an edited macro shows at once."""

    def kept(template: str, name: str, *args: Hashable) -> Markup:
        return cast(Markup, getattr(env.get_template(template).module, name)(*args))  # an autoescaping env's

    # Pages with ids in their paths (a request's page) are many: the cache keeps the recent ones.
    return functools.lru_cache(maxsize=256)(kept) if cached else kept


def _subnavs(kept: Callable[..., Markup]) -> Callable[..., Markup]:
    """A section's navigation (the `subnav` macro of _subnav.html), written once per page it marks."""

    def subnav(sections: tuple[tuple[str, str], ...], label: str, here: str) -> Markup:
        return kept("_subnav.html", "subnav", sections, label, here)

    return subnav


def _url_paths(app: Starlette) -> Callable[..., str]:
    """`url_for` for templates: paths, never absolute URLs (a forged Host header must not reach a page).

    Bound to the app rather than read from the request, so macros need no template context: a macro
    file imported without context is compiled into a module once, not re-run on every render.
    """

    # One app's route table never changes, and finding a name walks it: a page has a dozen links.
    @functools.lru_cache(maxsize=1024)
    def find(name: str, params: tuple[tuple[str, Any], ...]) -> str:
        return str(app.url_path_for(name, **dict(params)))

    def url_for(name: str, /, **params: Any) -> str:
        return find(name, tuple(params.items()))

    return url_for


@functools.lru_cache(maxsize=64)
def account_zone(name: str | None) -> ZoneInfo:
    """The zone an account's pages show times in; UTC for none or a name tzdata no longer knows."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def time_tag(moment: datetime | None, tz: tzinfo) -> Markup:
    """A moment in the reader's time zone, with the exact instant for machines; a dash for none."""
    if not moment:
        return Markup("—")
    # The offset is part of the key: moments with different offsets compare equal when they are the
    # same instant, but their isoformat() differs.
    return _time_tag(moment, moment.utcoffset(), tz)


# Pages show the same rows again and again (a person reloading their log records), and formatting a
# moment costs ~4 µs: a hundred dates on a page cost more than the rest of its rows. A few thousand
# entries of ~150 bytes each.
@functools.lru_cache(maxsize=4096)
def _time_tag(moment: datetime, _offset: timedelta | None, tz: tzinfo) -> Markup:
    shown = moment.astimezone(tz).strftime("%d %b %Y, %H:%M")
    # Nothing to escape: isoformat() writes digits and -:.+T, this strftime digits, letters, ", :"
    # (the C locale's month names). Pages show up to a hundred dates; escaping doubled their cost.
    return Markup(f'<time datetime="{moment.isoformat()}">{shown}</time>')  # noqa: S704

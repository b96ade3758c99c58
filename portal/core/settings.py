"""Configuration is data: every setting, its default and a line of help, read from the environment."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.core.errors import ConfigError
from portal.core.files import private_dir
from portal.core.searchengines import DEFAULT_ENGINES, SearchEngine, load_engines


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("PORTAL_VAR_DIR", "var", "Directory for the embedded store, keys and exports."),
    Setting(
        "PORTAL_DATABASE_URL",
        "",
        "SQLAlchemy URL of the store; default is the SQLite file VAR_DIR/portal.db. "
        "Production: postgresql+psycopg://user@host/db",
    ),
    Setting(
        "PORTAL_SECRET_KEY",
        "",
        "Server secret for token and pseudonym HMACs; if unset, generated once into "
        "VAR_DIR/secret.key (mode 0600).",
    ),
    Setting(
        "PORTAL_BASE_URL",
        "http://127.0.0.1:8000",
        "Public URL of the portal; links in emails are built only from it.",
    ),
    Setting(
        "PORTAL_SMTP_URL",
        "",
        "smtp://[user:pass@]host:port (or smtps://); unset: mail stays in the outbox and is printed.",
    ),
    Setting("PORTAL_MAIL_FROM", "privacy@portal.invalid", "Sender address of the portal's mail."),
    Setting(
        "PORTAL_AUDIT_KEY_PATH",
        "",
        "Ed25519 private key that signs audit checkpoints; default VAR_DIR/audit-ed25519.key.",
    ),
    Setting(
        "PORTAL_AUDIT_WITNESS_PATH",
        "",
        "Append-only file where every signed audit checkpoint is also written (the witness that makes "
        "truncation and rewrites visible); default VAR_DIR/audit-witness.jsonl. Best kept on other "
        "storage than the store.",
    ),
    Setting("PORTAL_AUDIT_ORIGIN", "", "Origin line of signed checkpoints; default: the base URL's host."),
    Setting("PORTAL_ID_COOKIE", "site_id", "Name of the site's identification cookie (written at login)."),
    Setting("PORTAL_PREF_COOKIE", "search_pref", "Name of the site's search-preference cookie."),
    Setting(
        "PORTAL_COOKIE_DOMAIN",
        "",
        "The site's cookie domain when the portal shares it (e.g. .example.com); lets the portal "
        "clear the preference cookie. Empty: not shared.",
    ),
    Setting(
        "PORTAL_SEARCH_ENGINES",
        "",
        "TOML file of extra search engines ([[engine]] name, domains, params) whose referrers "
        "yield search terms; empty: the built-in list.",
    ),
    Setting("PORTAL_LOG_RETENTION_DAYS", "180", "Log records older than this are deleted."),
    Setting(
        "PORTAL_IP_MASK_DAYS",
        "30",
        "IPs of log records linked to nobody are masked (IPv4 /16, IPv6 /48) after this; 0: never.",
    ),
    Setting(
        "PORTAL_TRUSTED_PROXIES",
        "",
        "Comma-separated addresses or networks (e.g. 127.0.0.1,10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For/-Proto headers `portal serve` believes; empty: none, the peer address is the "
        "client's.",
    ),
    Setting("PORTAL_DEMO", "0", "1 enables demo mode (demo logins on the login page, /demo-site/)."),
    Setting(
        "PORTAL_REQUEST_REGIME",
        "gdpr",
        "Law whose deadlines new data-subject requests get: gdpr (one month, Regulation 1182/71) or "
        "ccpa (45 days). A request keeps the regime it was received under.",
    ),
    Setting(
        "PORTAL_HOLIDAY_COUNTRY",
        "",
        "Public holidays that move a deadline to the next working day: a country code, optionally with "
        "a subdivision (DE, DE-BY, US-CA), from the holidays library. Empty: Saturdays and Sundays only "
        "(never a later deadline than any calendar).",
    ),
    Setting(
        "PORTAL_REQUEST_TIME_ZONE",
        "UTC",
        "Time zone whose calendar dates receipt and deadlines of requests are counted in "
        "(e.g. Europe/Berlin).",
    ),
    Setting(
        "PORTAL_ERASURE_WAIT_DAYS",
        "7",
        "Days an erasure request waits, cancellable by the person, before it runs; 0: no wait.",
    ),
    Setting(
        "PORTAL_ERASURE_REVIEW",
        "auto",
        "auto: an erasure runs by itself after the wait; always: staff review every erasure first.",
    ),
    Setting(
        "PORTAL_ERASURE_BATCH",
        "20000",
        "Rows the erasure engine deletes or blanks per transaction (each commits on its own, so a "
        "stopped run resumes where it was); 1-100000.",
    ),
    Setting(
        "PORTAL_REQUEST_REMINDER_DAYS",
        "5",
        "Staff are mailed a reminder this many days before an open request's deadline.",
    ),
    Setting(
        "PORTAL_FOUR_EYES",
        "1",
        "1: an erasure staff approved runs, and a copy of data staff prepared is sent, only after a second "
        "member of staff confirms. 0 turns this off for a team of one admin; it applies again as soon as "
        "a second staff account is active.",
    ),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    secret_key: bytes
    base_url: str
    smtp_url: str
    mail_from: str
    audit_key_path: Path
    audit_origin: str
    demo: bool
    id_cookie: str = "site_id"
    pref_cookie: str = "search_pref"
    cookie_domain: str = ""
    log_retention_days: int = 180
    ip_mask_days: int = 30
    search_engines: tuple[SearchEngine, ...] = DEFAULT_ENGINES
    request_regime: str = "gdpr"
    holiday_country: str = ""
    request_time_zone: str = "UTC"
    erasure_wait_days: int = 7
    erasure_review: str = "auto"
    erasure_batch: int = 20000
    request_reminder_days: int = 5
    trusted_proxies: tuple[str, ...] = ()
    audit_witness_path: Path | None = None
    four_eyes: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def session_cookie(self) -> str:
        # The __Host- prefix pins the cookie to this exact origin; browsers only accept it over https.
        return "__Host-portal_session" if self.https else "portal_session"

    @property
    def witness_path(self) -> Path:
        return self.audit_witness_path or self.var_dir / "audit-witness.jsonl"

    @property
    def device_cookie(self) -> str:
        """The browser's device tokens (portal/accounts/devices.py), pinned to the origin like the session."""
        return "__Host-portal_device" if self.https else "portal_device"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def exports_dir(self) -> Path:
        """Where prepared "download my data" archives wait for their single download."""
        return self.var_dir / "exports"


def _bool(env: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{env} must be 0 or 1, not {raw!r}")


def _secret(env: Mapping[str, str], var_dir: Path) -> bytes:
    raw = env.get("PORTAL_SECRET_KEY", "")
    if raw:
        if len(raw) < 32:
            raise ConfigError("PORTAL_SECRET_KEY must be at least 32 characters")
        return raw.encode()
    path = var_dir / "secret.key"
    if not path.exists():
        private_dir(var_dir)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"PORTAL_BASE_URL must be an http(s) URL without query, not {raw!r}")
    return raw.rstrip("/")


def _database_url(raw: str, var_dir: Path) -> str:
    if not raw:
        private_dir(var_dir)
        return f"sqlite:///{(var_dir / 'portal.db').resolve()}"
    if not raw.startswith(("sqlite:///", "postgresql+psycopg://")):
        raise ConfigError(
            "PORTAL_DATABASE_URL must start with sqlite:/// or postgresql+psycopg://, "
            f"not {raw.split(':', 1)[0]!r}"
        )
    return raw


def _cookie_name(env: str, raw: str) -> str:
    if not raw or any(c in raw for c in ";=, \t\"") or len(raw) > 128:
        raise ConfigError(f"{env} must be a cookie name, not {raw!r}")
    return raw


def _days(env: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{env} must be a whole number of days, not {raw!r}") from None
    if not minimum <= value <= 36500:
        raise ConfigError(f"{env} must be between {minimum} and 36500")
    return value


def _count(env: str, raw: str, minimum: int, maximum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{env} must be a whole number, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{env} must be between {minimum} and {maximum}")
    return value


def _engines(raw: str) -> tuple[SearchEngine, ...]:
    if not raw:
        return DEFAULT_ENGINES
    try:
        return load_engines(Path(raw))
    except ValueError as exc:
        raise ConfigError(f"PORTAL_SEARCH_ENGINES: {exc}") from None


def _choice(env: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{env} must be one of {', '.join(choices)}, not {raw!r}")
    return value


def holiday_country(raw: str) -> str:
    """"DE", "de-by" → "DE-BY"; checked against the holidays library's own list."""
    value = raw.strip().upper()
    if not value:
        return ""
    import holidays  # only here: a store that never counts deadlines does not pay for the import

    country, _, subdivision = value.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ConfigError(f"PORTAL_HOLIDAY_COUNTRY: the holidays library knows no country {country!r}")
    if subdivision and subdivision not in supported[country]:
        raise ConfigError(
            f"PORTAL_HOLIDAY_COUNTRY: {country} has no subdivision {subdivision!r} "
            f"(known: {', '.join(supported[country]) or 'none'})"
        )
    return value


def _time_zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"PORTAL_REQUEST_TIME_ZONE must be a time zone name like Europe/Berlin, not {raw!r}"
        ) from None
    return raw
def _proxies(raw: str) -> tuple[str, ...]:
    """Addresses or networks; a typo must not quietly trust nobody (or everybody)."""
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                f"PORTAL_TRUSTED_PROXIES must list IP addresses or networks, not {item!r}"
            ) from None
    return items


def _smtp_url(raw: str) -> str:
    if raw and urlsplit(raw).scheme not in ("smtp", "smtps"):
        raise ConfigError("PORTAL_SMTP_URL must start with smtp:// or smtps://")
    return raw


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from `env` (default: the process environment); raise ConfigError on a bad one."""
    env = dict(os.environ if env is None else env)
    get: Callable[[str], str] = lambda name: env.get(name) or next(  # noqa: E731
        s.default for s in SETTINGS if s.env == name
    )
    var_dir = Path(get("PORTAL_VAR_DIR"))
    base_url = _base_url(get("PORTAL_BASE_URL"))
    values: dict[str, Any] = dict(
        var_dir=var_dir,
        database_url=_database_url(env.get("PORTAL_DATABASE_URL", ""), var_dir),
        secret_key=_secret(env, var_dir),
        base_url=base_url,
        smtp_url=_smtp_url(env.get("PORTAL_SMTP_URL", "")),
        mail_from=get("PORTAL_MAIL_FROM"),
        audit_key_path=Path(env.get("PORTAL_AUDIT_KEY_PATH") or var_dir / "audit-ed25519.key"),
        audit_origin=env.get("PORTAL_AUDIT_ORIGIN") or urlsplit(base_url).netloc,
        audit_witness_path=Path(env.get("PORTAL_AUDIT_WITNESS_PATH") or var_dir / "audit-witness.jsonl"),
        demo=_bool("PORTAL_DEMO", get("PORTAL_DEMO")),
        id_cookie=_cookie_name("PORTAL_ID_COOKIE", get("PORTAL_ID_COOKIE")),
        pref_cookie=_cookie_name("PORTAL_PREF_COOKIE", get("PORTAL_PREF_COOKIE")),
        cookie_domain=env.get("PORTAL_COOKIE_DOMAIN", ""),
        log_retention_days=_days("PORTAL_LOG_RETENTION_DAYS", get("PORTAL_LOG_RETENTION_DAYS"), 1),
        ip_mask_days=_days("PORTAL_IP_MASK_DAYS", get("PORTAL_IP_MASK_DAYS"), 0),
        search_engines=_engines(get("PORTAL_SEARCH_ENGINES")),
        request_regime=_choice("PORTAL_REQUEST_REGIME", get("PORTAL_REQUEST_REGIME"), ("gdpr", "ccpa")),
        holiday_country=holiday_country(get("PORTAL_HOLIDAY_COUNTRY")),
        request_time_zone=_time_zone(get("PORTAL_REQUEST_TIME_ZONE")),
        erasure_wait_days=_days("PORTAL_ERASURE_WAIT_DAYS", get("PORTAL_ERASURE_WAIT_DAYS"), 0),
        erasure_review=_choice("PORTAL_ERASURE_REVIEW", get("PORTAL_ERASURE_REVIEW"), ("auto", "always")),
        erasure_batch=_count("PORTAL_ERASURE_BATCH", get("PORTAL_ERASURE_BATCH"), 1, 100_000),
        request_reminder_days=_days("PORTAL_REQUEST_REMINDER_DAYS", get("PORTAL_REQUEST_REMINDER_DAYS"), 0),
        trusted_proxies=_proxies(get("PORTAL_TRUSTED_PROXIES")),
        four_eyes=_bool("PORTAL_FOUR_EYES", get("PORTAL_FOUR_EYES")),
    )
    values.update(overrides)
    return Settings(**values)


def describe() -> str:
    """The settings table printed by `portal settings` and copied into the README."""
    width = max(len(s.env) for s in SETTINGS)
    return "\n".join(
        f"{s.env:<{width}}  {s.help} (default: {s.default or 'see help'})" for s in SETTINGS
    )

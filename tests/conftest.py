"""Fixtures: a migrated store on SQLite and PostgreSQL, an app with a movable clock, an HTTP client.

PostgreSQL tests run when PORTAL_TEST_DATABASE_URL is set. The suite creates its own uniquely
named database from that connection, migrates it once and drops it at the end; between tests
every table is emptied. With CI=true a missing PostgreSQL or Chromium is an error, not a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from portal.accounts import mailrequests
from portal.core import migrations
from portal.core.clock import FrozenClock
from portal.core.context import Ctx
from portal.core.settings import Settings, load
from portal.core.store import make_engine, session_factory, transaction
from portal.models import metadata
from portal.subjects import tally

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET = "t" * 48


def pytest_report_header(config: pytest.Config) -> list[str]:
    if PG_URL:
        return [f"stores: SQLite, PostgreSQL via {make_url(PG_URL).render_as_string()}"]
    return ["stores: SQLite; PostgreSQL SKIPPED (set PORTAL_TEST_DATABASE_URL to run it)"]


def require_postgres() -> None:
    if not PG_URL:
        if IN_CI:
            pytest.fail("CI=true but PORTAL_TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL tests skipped: PORTAL_TEST_DATABASE_URL is not set")


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run, dropped at the end."""
    require_postgres()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"portal_test_{worker}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "portal.db"
    engine = make_engine(f"sqlite:///{path}")
    migrations.upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


@dataclass
class Store:
    """A migrated, empty store and the settings that point at it."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    clock: FrozenClock

    @property
    def kind(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def ctx(self, actor: str = "system") -> Iterator[Ctx]:
        with transaction(self.factory) as session:
            yield Ctx(session=session, settings=self.settings, now=self.clock.now(), actor=actor)

    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()


def _empty_all_tables(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The migrated store, on each engine in turn."""
    var_dir = tmp_path / "var"
    var_dir.mkdir(mode=0o700)  # as the portal makes it (portal db check warns about looser modes)
    if request.param == "sqlite":
        db = var_dir / "portal.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db)
        url = f"sqlite:///{db}"
    else:
        url = request.getfixturevalue("pg_database_url")
    settings = load(
        {
            "PORTAL_VAR_DIR": str(var_dir),
            "PORTAL_DATABASE_URL": url,
            "PORTAL_SECRET_KEY": TEST_SECRET,
            "PORTAL_BASE_URL": "http://testserver",
        }
    )
    engine = make_engine(url)
    if request.param == "postgres":
        _empty_all_tables(engine)
    try:
        yield Store(settings, engine, session_factory(engine), FrozenClock())
        _tallies_are_right(engine)
    finally:
        engine.dispose()


def _tallies_are_right(engine: Engine) -> None:
    """Each subject's tally of log records matches its records after every store test: a writer of
    log records that forgets the tally (portal/subjects/tally.py) fails whichever test drives it."""
    with engine.connect() as conn:
        wrong = tally.mismatches(conn)
    assert not wrong, f"(subject, tally, records) left wrong by this test: {wrong[:5]}"


@pytest.fixture
def cli_env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The store, with the environment a `portal` command run in a subprocess needs to use it."""
    for name, value in {
        "PORTAL_VAR_DIR": str(store.settings.var_dir),
        "PORTAL_DATABASE_URL": store.settings.database_url,
        "PORTAL_SECRET_KEY": store.settings.secret_key.decode(),
        "PORTAL_BASE_URL": store.settings.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    return store


@pytest.fixture
def sqlite_store(tmp_path: Path, sqlite_template: Path) -> Iterator[Store]:
    """SQLite only, for tests about SQLite itself."""
    var_dir = tmp_path / "var"
    var_dir.mkdir(mode=0o700)  # as the portal makes it (portal db check warns about looser modes)
    db = var_dir / "portal.db"
    shutil.copy(sqlite_template, db)
    settings = load(
        {
            "PORTAL_VAR_DIR": str(var_dir),
            "PORTAL_DATABASE_URL": f"sqlite:///{db}",
            "PORTAL_SECRET_KEY": TEST_SECRET,
            "PORTAL_BASE_URL": "http://testserver",
        }
    )
    engine = make_engine(settings.database_url)
    try:
        yield Store(settings, engine, session_factory(engine), FrozenClock())
        _tallies_are_right(engine)
    finally:
        engine.dispose()


# -- the web app ---------------------------------------------------------------------------

import re  # noqa: E402

from starlette.testclient import TestClient  # noqa: E402

from portal.web.app import create_app  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
LINK_RE = re.compile(r"http://testserver(/\S+)")
STRONG_PASSWORD = "violet-tractor-harbour-77"


class Client(TestClient):
    """A TestClient that fills in the CSRF token the way a browser submitting the form would."""

    def csrf(self, path: str = "/login") -> str:
        match = CSRF_RE.search(self.get(path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def submit(self, path: str, data: dict[str, str] | None = None, *, form_page: str | None = None, **kw):  # type: ignore[no-untyped-def]
        token = self.csrf(form_page or ("/login" if path.startswith("/logout") else path))
        return self.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=False, **kw)


@dataclass
class Portal:
    """The app on a store, with helpers to read the outbox and make accounts."""

    store: Store
    app: object

    def client(self, ip: str = "203.0.113.7") -> Client:
        return Client(self.app, base_url="http://testserver", client=(ip, 50000))  # type: ignore[arg-type]

    def send_requested_mail(self) -> None:
        """What the background sender does each round in `portal serve`: carry out the mail that
        registration and reset forms queued (they never do it themselves, see mailrequests.py)."""
        with self.store.ctx() as ctx:
            mailrequests.process(ctx)

    def outbox(self, to: str) -> list[tuple[str, str]]:
        self.send_requested_mail()
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT subject, body FROM outbox_mail WHERE to_addr = :to ORDER BY id"), {"to": to}
            ).all()
        return [(r[0], r[1]) for r in rows]

    def last_link(self, to: str) -> str:
        subject, body = self.outbox(to)[-1]
        match = LINK_RE.search(body)
        assert match, f"no link in mail {subject!r}"
        return match.group(1)

    def register(self, client: Client, email: str, password: str = STRONG_PASSWORD) -> None:
        r = client.submit("/register", {"email": email, "password": password})
        assert r.status_code == 303, r.text
        self.send_requested_mail()  # the account exists once the background sender has done its round

    def verified_user(self, client: Client, email: str, password: str = STRONG_PASSWORD) -> None:
        """Register, confirm the emailed link and log in."""
        self.register(client, email, password)
        link = self.last_link(email)
        assert client.submit(link).status_code == 303
        r = client.submit("/login", {"email": email, "password": password})
        assert r.status_code == 303, r.text


@pytest.fixture
def portal(store: Store) -> Iterator[Portal]:
    app = create_app(store.settings, clock=store.clock, background=False)
    yield Portal(store, app)
    app.state.engine.dispose()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    """Say loudly what did not run; with CI=true nothing may be skipped: a skip turns the run red."""
    if not PG_URL:
        terminalreporter.write_sep("!", "PostgreSQL NOT TESTED", yellow=True, bold=True)
        terminalreporter.write_line(
            "PORTAL_TEST_DATABASE_URL is not set: every PostgreSQL test was skipped, among them the audit "
            "append lock across processes. Set it, e.g. "
            "PORTAL_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make test",
            yellow=True,
            bold=True,
        )
    skipped = terminalreporter.stats.get("skipped", [])
    if IN_CI and skipped:
        terminalreporter.write_line(f"CI=true: {len(skipped)} test(s) were skipped; failing the run", red=True)
        terminalreporter._session.exitstatus = 1  # noqa: SLF001

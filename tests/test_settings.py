"""Settings: defaults, the generated secret, and one clear line for a bad setting."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from portal.core.errors import ConfigError
from portal.core.settings import SETTINGS, load


def test_defaults_create_var_dir_sqlite_and_a_private_secret(tmp_path: Path) -> None:
    var = tmp_path / "var"
    s = load({"PORTAL_VAR_DIR": str(var)})
    assert s.database_url == f"sqlite:///{(var / 'portal.db').resolve()}"
    key = var / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load({"PORTAL_VAR_DIR": str(var)}).secret_key == s.secret_key  # generated once
    assert s.base_url == "http://127.0.0.1:8000" and not s.https and not s.smtp_url


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_BASE_URL": "ftp://example.org"}, "PORTAL_BASE_URL"),
        ({"PORTAL_BASE_URL": "https://example.org/?x=1"}, "PORTAL_BASE_URL"),
        ({"PORTAL_DATABASE_URL": "mysql://root@localhost/x"}, "PORTAL_DATABASE_URL"),
        ({"PORTAL_SECRET_KEY": "short"}, "PORTAL_SECRET_KEY"),
        ({"PORTAL_SMTP_URL": "http://mail"}, "PORTAL_SMTP_URL"),
        ({"PORTAL_DEMO": "maybe"}, "PORTAL_DEMO"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load({"PORTAL_VAR_DIR": str(tmp_path), **env})


def test_search_engines_come_from_a_toml_file(tmp_path: Path) -> None:
    extra = tmp_path / "engines.toml"
    extra.write_text('[[engine]]\nname = "Mojeek"\ndomains = ["mojeek.com"]\nparams = ["q"]\n')
    engines = load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_SEARCH_ENGINES": str(extra)}).search_engines
    assert engines[0].name == "Mojeek" and "Google" in {e.name for e in engines}  # added to the defaults
    extra.write_text('replace = true\n[[engine]]\nname = "Intranet"\ndomains = ["search.corp.example"]\nparams = ["s"]\n')
    only = load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_SEARCH_ENGINES": str(extra)}).search_engines
    assert [e.name for e in only] == ["Intranet"]
    for bad in ('[[engine]]\nname = "X"\n', '[[engine]]\nname = "X"\ndomains = "x.com"\nparams = ["q"]\n', "not = [toml"):
        extra.write_text(bad)
        with pytest.raises(ConfigError, match="PORTAL_SEARCH_ENGINES"):
            load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_SEARCH_ENGINES": str(extra)})
    with pytest.raises(ConfigError, match="cannot read"):
        load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_SEARCH_ENGINES": str(tmp_path / "missing.toml")})


def test_a_bad_setting_stops_the_command_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PORTAL_VAR_DIR": str(tmp_path), "PORTAL_BASE_URL": "not a url"}
    r = subprocess.run([sys.executable, "-m", "portal", "serve"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "PORTAL_BASE_URL" in r.stderr
    assert "Traceback" not in r.stderr


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for setting in SETTINGS:
        assert setting.env in readme, setting.env


def test_every_command_has_help() -> None:
    from click.testing import CliRunner

    from portal.cli import main

    runner = CliRunner()

    def walk(group, prefix):  # type: ignore[no-untyped-def]
        for name, command in group.commands.items():
            args = [*prefix, name]
            result = runner.invoke(main, [*args, "--help"])
            assert result.exit_code == 0 and "Usage:" in result.output, args
            assert command.help, f"portal {' '.join(args)} has no help text"
            if hasattr(command, "commands"):
                walk(command, args)

    walk(main, [])

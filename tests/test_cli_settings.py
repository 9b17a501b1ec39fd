"""The CLI's quick settings (cli/_settings) are ``Settings`` whenever they answer, and step aside otherwise.

The failure this prevents: ``betpipe bets list`` (which reads its store without pydantic-settings) listing another
store than ``Settings`` names, logging at another level, or running while a setting ``Settings`` refuses is set
(every other command exits 2 on it). Each environment and TOML file below is read both ways.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from betpipe import config
from betpipe.cli import _settings, app
from betpipe.cli._settings import QuickSettings, quick_settings
from betpipe.config import Settings

NAMES = (
    "BETPIPE_DATA_DIR", "betpipe_data_dir", "BETPIPE_Data_Dir", "BETPIPE_DATABASE_URL", "BETPIPE_LOG_LEVEL",
    "BETPIPE_RISK__MAX_STAKE", "BETPIPE_COMPUTE__THREADS", "BETPIPE_COMPUTE", "BETPIPE_DATA_DIR__X", "BETPIPE_FOO",
    "BETPIPE_SHARED_DATA", "BETPIPE_", "OTHER_DATA_DIR",
)  # fmt: skip
VALUES = ("", "x", "/tmp/store", "debug", "20", "abc", "null", "sqlite:///a.sqlite", '{"threads": 1}')
TOMLS = (
    None,
    "",
    'data_dir = "/toml/store"\nlog_level = "warning"\n',
    'DATA_DIR = "/toml/upper"\n',
    'database_url = "sqlite:///toml.sqlite"\nunknown = 3\n[other]\nx = 1\n',
    "data_dir = 5\n",
    'data_dir = "/a"\nDATA_DIR = "/b"\n',
    '[risk]\nmax_stake = "20"\n',
    '[bankroll]\nbankroll = "100"\n',  # below the default floor: Settings refuses it
    "this is not toml",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.lower().startswith("betpipe_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _same_as_settings(quick: QuickSettings) -> None:
    full = Settings()
    assert (quick.data_dir, quick.database_url, quick.log_level) == (full.data_dir, full.database_url, full.log_level)
    assert quick.model_fields_set == full.model_fields_set
    assert quick.compute.threads == full.compute.threads
    assert quick.effective_database_url == full.effective_database_url


def _check(env: dict[str, str], toml: str | None, where: Path) -> QuickSettings | None:
    toml_file = where / "betpipe.toml"
    toml_file.unlink(missing_ok=True)
    if toml is not None:
        toml_file.write_text(toml)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        quick = quick_settings()
        if quick is not None:
            _same_as_settings(quick)
        return quick
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_lists_copied_to_stay_light_are_settings_own() -> None:
    assert frozenset(Settings.model_fields) == _settings.SETTINGS_FIELDS
    assert _settings.QUICK_FIELDS <= _settings.SETTINGS_FIELDS
    for name in _settings.QUICK_FIELDS:  # plain values with no check that could fail
        assert Settings.model_fields[name].metadata == []
    assert _settings.DEFAULT_DATA_DIR == config.DEFAULT_DATA_DIR == Settings.model_fields["data_dir"].default
    assert Settings.model_fields["log_level"].default == _settings.DEFAULT_LOG_LEVEL
    assert Settings.model_fields["database_url"].default is None
    assert _settings.CONFIG_FILE_ENV == config.CONFIG_FILE_ENV


@pytest.mark.parametrize(
    ("env", "toml", "answers"),
    [
        ({}, None, True),
        ({"BETPIPE_DATA_DIR": "/tmp/s", "BETPIPE_LOG_LEVEL": "debug"}, None, True),
        ({"betpipe_database_url": "sqlite:///x.sqlite", "BETPIPE_SHARED_DATA": "/data"}, None, True),
        ({"BETPIPE_DATA_DIR": ""}, None, True),
        ({}, 'data_dir = "/toml/store"\nlog_level = "warning"\n', True),
        ({"BETPIPE_DATA_DIR": "/env"}, 'data_dir = "/toml"\n', True),  # the environment wins
        ({}, 'DATA_DIR = "/toml/upper"\nunknown = 1\n', True),
        ({"BETPIPE_RISK__MAX_STAKE": "20"}, None, False),  # another setting: only Settings can check it
        ({"BETPIPE_COMPUTE__THREADS": "1"}, None, False),
        ({"BETPIPE_DATA_DIR": "/a", "betpipe_data_dir": "/b"}, None, False),  # one name spelt twice
        ({}, "data_dir = 5\n", False),
        ({}, '[pipeline]\nbook = "bet365"\n', False),
        ({}, "not toml at all", False),
    ],
)
def test_known_cases(clean_env: Path, env: dict[str, str], toml: str | None, answers: bool) -> None:
    assert (_check(env, toml, clean_env) is not None) is answers


def test_the_file_named_by_betpipe_config_is_read(clean_env: Path) -> None:
    named = clean_env / "elsewhere.toml"
    named.write_text('data_dir = "/named"\n')
    quick = _check({"BETPIPE_CONFIG": str(named)}, 'data_dir = "/ignored"\n', clean_env)
    assert quick is not None
    assert quick.data_dir == Path("/named")


@given(
    env=st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=4),
    toml=st.sampled_from(TOMLS),
)
def test_any_mix_of_environment_and_file_reads_as_settings_reads_it(env: dict[str, str], toml: str | None) -> None:
    import tempfile

    saved_cwd = Path.cwd()
    saved_env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name in list(os.environ):
                if name.lower().startswith("betpipe_"):
                    del os.environ[name]
            os.chdir(tmp)
            _check(env, toml, Path(tmp))
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)


def _invoke(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def test_a_bad_setting_still_stops_bets_list(clean_env: Path) -> None:
    """bets list takes the quick path only when nothing else is set; a setting Settings refuses is exit 2 here too."""
    store = {"BETPIPE_DATA_DIR": str(clean_env / "data")}
    assert _invoke(store, "db", "upgrade").exit_code == 0
    assert _invoke(store, "bets", "list").exit_code == 0
    refused = _invoke({**store, "BETPIPE_BANKROLL__BANKROLL": "100"}, "bets", "list")  # below the 500 floor
    assert refused.exit_code == 2, refused.output
    assert "bankroll_floor" in refused.output
    refused = _invoke({**store, "BETPIPE_RISK__MAX_STAKE": "lots"}, "bets", "list")
    assert refused.exit_code == 2, refused.output
    assert "max_stake" in refused.output

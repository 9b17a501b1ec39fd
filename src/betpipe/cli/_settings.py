"""The settings a light command needs (store, log level, threads), read without pydantic when nothing else is set.

Importing and building ``betpipe.config.Settings`` (pydantic-settings) costs about a quarter of ``betpipe bets
list``'s CPU (docs/benchmarks.md, CLI start-up). When the environment and the TOML file set nothing but ``data_dir``,
``database_url`` and ``log_level``, every other setting keeps its default, so ``Settings`` would validate (the
defaults are valid) and hold exactly these values, read here by its rules: ``BETPIPE_`` variables named in any case,
the environment over ``betpipe.toml`` (or the file ``BETPIPE_CONFIG`` names), TOML keys in any case, unknown names
ignored. Anything else configured, or anything unusual (a TOML value that is not a string, one name spelt twice, a
file that does not parse), gives None: the caller then builds ``Settings``, which checks everything and says what is
wrong. tests/test_cli_settings.py checks the two agree. Never a replacement for ``Settings`` in library code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["QuickCompute", "QuickSettings", "quick_settings"]

# Settings' top-level fields (tests/test_cli_settings.py checks the list against Settings.model_fields).
SETTINGS_FIELDS = frozenset(
    {
        "data_dir", "database_url", "log_level", "odds_api", "football_data", "bankroll", "risk", "compute",
        "serving", "scheduler", "pipeline", "monitoring",
    }
)  # fmt: skip
QUICK_FIELDS = frozenset({"data_dir", "database_url", "log_level"})
"""Plain strings with no constraint in ``Settings``: any value read for them is valid."""
ENV_PREFIX = "betpipe_"
CONFIG_FILE_ENV = "BETPIPE_CONFIG"  # config.CONFIG_FILE_ENV
DEFAULT_DATA_DIR = Path("betpipe-data")  # config.DEFAULT_DATA_DIR
DEFAULT_LOG_LEVEL = "INFO"


@dataclass(frozen=True)
class QuickCompute:
    """``ComputeSettings`` at its default: every CPU."""

    threads: int = 0


@dataclass(frozen=True)
class QuickSettings:
    """The part of ``Settings`` a light command reads, with the same names and meaning."""

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    log_level: str = DEFAULT_LOG_LEVEL
    model_fields_set: frozenset[str] = frozenset()
    compute: QuickCompute = field(default_factory=QuickCompute)

    @property
    def effective_database_url(self) -> str:
        """``Settings.effective_database_url``: the configured URL, else a SQLite file under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'betpipe.sqlite').as_posix()}"


def _quick_values(pairs: Mapping[str, object]) -> dict[str, str] | None:
    """The quick fields among ``pairs`` (names matched in any case, unknown names ignored), or None when another
    setting, a non-string value or a name spelt twice means only ``Settings`` can tell."""
    found: dict[str, str] = {}
    for key, value in pairs.items():
        name = key.lower()
        if name.split("__", 1)[0] not in SETTINGS_FIELDS:
            continue  # not a setting: Settings ignores it too
        if name not in QUICK_FIELDS or name in found or not isinstance(value, str):
            return None
        found[name] = value
    return found


def quick_settings(environ: Mapping[str, str] | None = None) -> QuickSettings | None:
    """The settings as ``Settings`` would read them when only the quick fields are set, else None (see above)."""
    environ = os.environ if environ is None else environ
    from_env = _quick_values({k[len(ENV_PREFIX) :]: v for k, v in environ.items() if k.lower().startswith(ENV_PREFIX)})
    if from_env is None:
        return None
    from_file: dict[str, str] | None = {}
    path = Path(environ.get(CONFIG_FILE_ENV, "betpipe.toml"))
    if path.is_file():
        import tomllib  # here only: most stores have no file, and every command starts through this

        try:
            from_file = _quick_values(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):  # unreadable, not UTF-8, not TOML
            return None  # Settings reads it again and reports the problem
    if from_file is None:
        return None
    values = {**from_file, **from_env}  # the environment wins
    return QuickSettings(
        data_dir=Path(values.get("data_dir", DEFAULT_DATA_DIR)),
        database_url=values.get("database_url"),
        log_level=values.get("log_level", DEFAULT_LOG_LEVEL).upper(),
        model_fields_set=frozenset(values),
    )

"""Typed settings, read once from ``BETPIPE_*`` environment variables and an optional ``betpipe.toml``.

One ``Settings`` object is built at the edge (CLI, service, test) and passed down; library code never reads the
environment itself, so a test or a backtest can run with a different configuration in the same process.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path("betpipe-data")
CONFIG_FILE_ENV = "BETPIPE_CONFIG"


class OddsApiSettings(BaseModel):
    """The Odds API v4 client; the key is a secret and is never logged or printed."""

    api_key: SecretStr | None = None
    base_url: str = "https://api.the-odds-api.com"
    regions: str = "eu"
    requests_per_second: float = Field(default=2.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)


class FootballDataSettings(BaseModel):
    base_url: str = "https://www.football-data.co.uk/mmz4281"
    requests_per_second: float = Field(default=1.0, gt=0)


class BankrollSettings(BaseModel):
    """Money settings. Decimal, never float: these end up in the ledger."""

    bankroll: Decimal = Decimal("1000.00")
    currency: str = "EUR"
    kelly_fraction: Decimal = Decimal("0.25")
    max_stake_fraction: Decimal = Decimal("0.02")
    daily_loss_limit: Decimal = Decimal("50.00")
    max_open_exposure: Decimal = Decimal("200.00")
    max_event_exposure: Decimal = Decimal("40.00")


class Settings(BaseSettings):
    """Effective configuration: defaults < betpipe.toml < environment (``BETPIPE_...``, nested with ``__``)."""

    model_config = SettingsConfigDict(
        env_prefix="BETPIPE_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    log_level: str = "INFO"
    odds_api: OddsApiSettings = OddsApiSettings()
    football_data: FootballDataSettings = FootballDataSettings()
    bankroll: BankrollSettings = BankrollSettings()

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get(CONFIG_FILE_ENV, "betpipe.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        """The configured URL, else a SQLite file under the data dir (the embedded default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'betpipe.sqlite').as_posix()}"

    @property
    def artifact_dir(self) -> Path:
        return self.data_dir / "artifacts"

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data with secrets and URL passwords masked, for display."""
        data = self.model_dump(mode="json")
        data["database_url"] = mask_url(self.effective_database_url)
        key = self.odds_api.api_key
        data["odds_api"]["api_key"] = None if key is None else mask_secret(key.get_secret_value())
        return data


def mask_secret(secret: str) -> str:
    """Show only enough of a secret to tell two keys apart."""
    if len(secret) <= 4:
        return "****"
    return "****" + secret[-4:]


def mask_url(url: str) -> str:
    """Hide the password part of a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown as configured minus anything after '@'
        return url.rsplit("@", maxsplit=1)[-1]


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)

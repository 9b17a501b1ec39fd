"""Typed settings, read once from ``BETPIPE_*`` environment variables and an optional ``betpipe.toml``.

One ``Settings`` object is built at the edge (CLI, service, test) and passed down; library code never reads the
environment itself, so a test or a backtest can run with a different configuration in the same process.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from betpipe.accounts import account_problem  # the one account-name rule, also the CLI options'; loads no pydantic

DEFAULT_DATA_DIR = Path("betpipe-data")
CONFIG_FILE_ENV = "BETPIPE_CONFIG"


def _valid_account(name: str) -> str:
    problem = account_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


Account = Annotated[str, AfterValidator(_valid_account)]
"""A ledger account name, checked by ``account_problem`` wherever a setting names one."""


class OddsApiSettings(BaseModel):
    """The Odds API v4 client; the key is a secret and is never logged or printed."""

    api_key: SecretStr | None = None
    base_url: str = "https://api.the-odds-api.com"
    regions: str = "eu"
    requests_per_second: float = Field(default=2.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)  # per read (httpx): a trickled body never trips it
    deadline_seconds: float = Field(default=60.0, gt=0)  # one attempt, request sent to last body byte
    max_response_bytes: int = Field(default=64 * 1024 * 1024, gt=0)  # decoded; larger responses are refused
    max_attempts: int = Field(default=5, ge=1)

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_no_key(cls, value: object) -> object:
        """An empty ``BETPIPE_ODDS_API__API_KEY`` (compose passes one when unset) means no key, not a key ''."""
        if isinstance(value, str) and not value.strip():
            return None
        return value


class FootballDataSettings(BaseModel):
    base_url: str = "https://www.football-data.co.uk/mmz4281"
    requests_per_second: float = Field(default=1.0, gt=0)


class BankrollSettings(BaseModel):
    """Money settings. Decimal, never float: these end up in the ledger."""

    bankroll: Decimal = Field(default=Decimal("1000.00"), gt=0, allow_inf_nan=False)
    currency: str = "EUR"  # ISO 4217: what the ledger's amounts are in
    kelly_fraction: Decimal = Field(default=Decimal("0.25"), gt=0, le=1, allow_inf_nan=False)
    max_stake_fraction: Decimal = Field(default=Decimal("0.02"), gt=0, le=1, allow_inf_nan=False)
    daily_loss_limit: Decimal = Field(default=Decimal("50.00"), ge=0, allow_inf_nan=False)
    max_open_exposure: Decimal = Field(default=Decimal("200.00"), ge=0, allow_inf_nan=False)
    max_event_exposure: Decimal = Field(default=Decimal("40.00"), ge=0, allow_inf_nan=False)

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        """``eur`` and ``EUR`` are the same currency; an empty code would label every amount with nothing."""
        code = value.strip().upper()
        if not re.fullmatch("[A-Z]{3}", code):
            raise ValueError(f"{value!r} is not a three-letter currency code such as EUR")
        return code


class RiskSettings(BaseModel):
    """Risk limits beyond the bankroll-wide ones (betting/risk.py); enforced in the transaction that records a bet."""

    max_stake: Decimal = Field(default=Decimal("50.00"), ge=0, allow_inf_nan=False)
    max_competition_exposure: Decimal = Field(default=Decimal("100.00"), ge=0, allow_inf_nan=False)
    max_bets_per_day: int = Field(default=50, ge=0)
    max_bets_per_event: int = Field(default=1, ge=0)
    bankroll_floor: Decimal = Field(default=Decimal("500.00"), allow_inf_nan=False)  # below bankroll.bankroll
    max_price_age_seconds: float = Field(default=6 * 3600.0, gt=0)
    # An event's stakes across its markets, as a fraction of the current bankroll (0: off); docs/betting.md.
    max_correlated_exposure: Decimal = Field(default=Decimal(0), ge=0, le=1, allow_inf_nan=False)


class ServingSettings(BaseModel):
    """The prediction service (``betpipe serve``); ``api_token`` guards POST /bets and the ledger reads, ``read_token``
    the reads only (docs/serving.md); neither is ever logged."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_token: SecretStr | None = None
    ab_challenger_share: float = Field(default=0.0, ge=0.0, le=1.0)
    alias_poll_seconds: float = Field(default=2.0, gt=0)
    read_token: SecretStr | None = None  # GET /bets, /opportunities, /metrics (api_token opens them too)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)  # a 20,000-fixture batch fits (docs/serving.md)


class ComputeSettings(BaseModel):
    """Thread pools (OpenMP/LightGBM, BLAS, numba, polars), applied once at the edge by ``betpipe.threads``.

    ``threads = 0`` means every CPU this process may run on. A deployed betpipe shares its host, and OpenMP threads
    that spin while waiting double the CPU time under contention, so waiting threads sleep (``OMP_WAIT_POLICY``).
    """

    threads: int = Field(default=0, ge=0)


class WebhookSettings(BaseModel):
    """A Slack-compatible incoming webhook (POST JSON ``{"text": ...}``); the URL carries a secret and is masked."""

    url: SecretStr | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)
    min_severity: str = "warning"


class EmailSettings(BaseModel):
    """SMTP alert mail; off while ``host`` or ``recipients`` is empty. The password is never logged or printed."""

    host: str | None = None
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "betpipe@localhost"
    recipients: list[str] = Field(default_factory=list)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0)
    min_severity: str = "warning"


class MonitoringSettings(BaseModel):
    """Monitoring cycle (``betpipe monitor run``): windows, drift thresholds, check limits and alert channels.

    Drift: PSI and KS decide for live samples under ``drift_large_sample`` rows, Wasserstein (in reference standard
    deviations) and Jensen-Shannon distance (base 2) above it. See docs/monitoring.md.
    """

    accounts: list[Account] = Field(default_factory=lambda: ["paper"])
    metrics_lookback_days: int = Field(default=7, ge=1)
    drift_window_days: int = Field(default=7, ge=1)
    drift_min_rows: int = Field(default=30, ge=2)
    drift_large_sample: int = Field(default=1000, ge=2)
    psi_threshold: float = Field(default=0.2, gt=0)
    ks_pvalue: float = Field(default=0.01, gt=0, lt=1)
    wasserstein_threshold: float = Field(default=0.25, gt=0)
    js_threshold: float = Field(default=0.1, gt=0, le=1)
    max_odds_age_hours: float = Field(default=24.0, gt=0)
    max_ingest_age_hours: float = Field(default=36.0, gt=0)
    freshness_sources: list[str] = Field(default_factory=list)  # empty: every source seen in the tables
    job_failure_window_hours: float = Field(default=24.0, gt=0)
    clv_window_bets: int = Field(default=200, ge=2)
    clv_min_bets: int = Field(default=50, ge=2)
    loss_streak: int = Field(default=10, ge=2)
    exposure_warn_fraction: Decimal = Decimal("0.8")
    dedup_window_hours: float = Field(default=24.0, gt=0)
    max_delivery_attempts: int = Field(default=100, ge=1)
    log_channel: bool = True
    webhook: WebhookSettings = WebhookSettings()
    email: EmailSettings = EmailSettings()


class SchedulerSettings(BaseModel):
    """``betpipe run``: how often each job of the live pipeline runs; the job store lives in the database.

    ``close_retrain`` decides whether the ``close_retrain`` job (every ``close_retrain_days``) refits the model of the
    close: ``auto`` only while the live strategy prices with it (``model = "close_model"``), so a store without
    closing prices is never asked to; ``on`` always (a close-model strategy about to be promoted); ``off`` never
    (``betpipe close-model train`` by hand). A refit becomes champion only by the outcome retrain's gate.
    """

    odds_minutes: float = Field(default=30.0, gt=0)
    results_hours: float = Field(default=24.0, gt=0)
    features_hours: float = Field(default=6.0, gt=0)
    predictions_hours: float = Field(default=6.0, gt=0)
    betting_minutes: float = Field(default=60.0, gt=0)
    retrain_days: float = Field(default=7.0, gt=0)
    monitoring_minutes: float = Field(default=15.0, gt=0)  # the monitoring cycle (metrics, drift, checks, alerts)
    close_retrain: str = Field(default="auto", pattern="^(auto|on|off)$")  # the model of the close's refit job
    close_retrain_days: float = Field(default=7.0, gt=0)
    misfire_grace_seconds: int = Field(default=3600, ge=1)


class PipelineSettings(BaseModel):
    """What the live pipeline refreshes, and the knobs of the built-in default strategy.

    ``source``: ``auto`` is The Odds API when a key is set, else football-data downloads of ``football_data_leagues``,
    else nothing (the sample league / demo); ``none`` never fetches. A promoted strategy (``betpipe strategy
    promote``) is what the live run bets with; without one it bets ``betting.strategy_spec.DEFAULT_STRATEGY`` with
    these knobs: ``book`` (empty: line shopping over the default's five soft books; a name: that one book only),
    ``sharp_book``, ``strategy`` (its source), ``staking``, ``min_edge`` and ``market_weight``.
    """

    source: str = Field(default="auto", pattern="^(auto|odds_api|football_data|none)$")
    odds_api_sports: list[str] = Field(default_factory=list)  # e.g. soccer_epl
    football_data_leagues: list[str] = Field(default_factory=list)  # e.g. E0
    football_data_season: str | None = None  # e.g. 2025-2026
    sport: str = "soccer"
    competitions: list[str] = Field(default_factory=list)  # empty: every competition with scheduled events
    account: Account = "paper"
    book: str = ""
    sharp_book: str = "pinnacle"
    strategy: str = Field(default="market", pattern="^(model|market|blend)$")
    staking: str = "kelly:0.25"
    min_edge: float = Field(default=0.02, ge=0)
    market_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    retrain_model: str = "elo_logit"
    retrain_holdout_days: float = Field(default=28.0, gt=0)


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
    risk: RiskSettings = RiskSettings()
    compute: ComputeSettings = ComputeSettings()
    serving: ServingSettings = ServingSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    pipeline: PipelineSettings = PipelineSettings()
    monitoring: MonitoringSettings = MonitoringSettings()

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _floor_below_bankroll(self) -> Settings:
        """A floor at or above the starting bankroll halts the first bet: the two settings contradict each other."""
        floor, bankroll = self.risk.bankroll_floor, self.bankroll.bankroll
        if floor >= bankroll:
            raise ValueError(f"risk.bankroll_floor ({floor}) must be below bankroll.bankroll ({bankroll})")
        return self

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
        token = self.serving.api_token
        data["serving"]["api_token"] = None if token is None else mask_secret(token.get_secret_value())
        read = self.serving.read_token
        data["serving"]["read_token"] = None if read is None else mask_secret(read.get_secret_value())
        hook, mail_password = self.monitoring.webhook.url, self.monitoring.email.password
        data["monitoring"]["webhook"]["url"] = None if hook is None else mask_secret(hook.get_secret_value())
        data["monitoring"]["email"]["password"] = None if mail_password is None else "****"
        return data


def mask_secret(secret: str) -> str:
    """Show only enough of a secret to tell two keys apart."""
    if len(secret) <= 4:
        return "****"
    return "****" + secret[-4:]


# Query parameters of a database URL that carry credentials (libpq's ``password``/``sslpassword``, tokens, keys).
_SECRET_QUERY_KEY = re.compile(r"(?i)(pass|pwd|secret|token|key|credential|auth)")


def mask_url(url: str) -> str:
    """Hide the credentials of a database URL: the password part and secret-like query parameters
    (``?password=...`` is as good a place for a password as ``user:password@``, and libpq accepts both)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # an unparseable URL is shown as configured minus anything after '@' and any query
        return url.rsplit("@", maxsplit=1)[-1].split("?", maxsplit=1)[0]
    query = {key: ("***" if _SECRET_QUERY_KEY.search(key) else value) for key, value in parsed.query.items()}
    # The renderer percent-encodes the mask; show it as the password mask reads.
    return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)

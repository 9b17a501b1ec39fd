"""What every dashboard page shares: where to read (store, ledger files, account), cached engines and loaders,
and the sentences for empty states.

The configuration comes from the environment ``betpipe dashboard`` sets for the Streamlit process
(``BETPIPE_DASHBOARD_ACCOUNT``, ``BETPIPE_DASHBOARD_LEDGER_URLS``, newline-separated) on top of the usual
settings. Loaders are cached with a time-to-live, keyed by URLs and account only (never by an engine), so a page
switch is instant and data is at most ``TTL_SECONDS`` old. Must never write, and never show a traceback: a store
that cannot be read is one sentence on the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from betpipe.betting import RiskLimits
from betpipe.clock import SYSTEM_CLOCK, as_utc_instant
from betpipe.config import Settings, mask_url
from betpipe.monitoring import dashboard_bets as ledger
from betpipe.monitoring import dashboard_data as data
from betpipe.monitoring import dashboard_system as system
from betpipe.monitoring.dashboard_bets import BetFilters

ACCOUNT_ENV = "BETPIPE_DASHBOARD_ACCOUNT"
LEDGER_URLS_ENV = "BETPIPE_DASHBOARD_LEDGER_URLS"
TTL_SECONDS = 60
BACKTEST_ACCOUNTS = "backtest:*"


@dataclass(frozen=True)
class Source:
    """Where the dashboard reads: the store (models, metrics, alerts, ingest, jobs) and the ledger(s) with bets."""

    store_url: str
    ledger_urls: tuple[str, ...]
    account: str

    @property
    def ledger_label(self) -> str:
        if self.ledger_urls == (self.store_url,):
            return "the store"
        if len(self.ledger_urls) > 2:
            return f"{len(self.ledger_urls)} ledger files"
        return ", ".join(mask_url(u).rsplit("/", 1)[-1] for u in self.ledger_urls)


def current_source() -> Source:
    """The store from the settings; ledgers from the environment, else the store itself.

    Without ``--account``: the first monitored account for the store's own ledger, every backtest run for
    backtest ledger files (each run books under ``backtest:<run id>``).
    """
    settings = Settings()
    store = settings.effective_database_url
    ledgers = tuple(u for u in os.environ.get(LEDGER_URLS_ENV, "").splitlines() if u.strip())
    default = BACKTEST_ACCOUNTS if ledgers else (settings.monitoring.accounts or ["paper"])[0]
    return Source(store, ledgers or (store,), os.environ.get(ACCOUNT_ENV) or default)


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    return data.read_only_engine(url)


def ledgers(source: Source) -> list[Engine]:
    return [engine(u) for u in source.ledger_urls]


def now_minute() -> datetime:
    """The wall clock, to the minute: the dashboard is the application edge, and a minute keeps caches useful."""
    return as_utc_instant(SYSTEM_CLOCK.now()).replace(second=0, microsecond=0)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def bets(source: Source) -> pl.DataFrame:
    """Every booked bet of the source, with its match (teams) from the store where the store knows the event."""
    frame = data.load_bets(ledgers(source), source.account)
    return ledger.with_matches(frame, _labels(source, frame["event_id"].unique().to_list()))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def rejections(source: Source) -> pl.DataFrame:
    frame = ledger.load_rejections(ledgers(source), source.account)
    return ledger.with_matches(frame, _labels(source, frame["event_id"].unique().to_list()))


def _labels(source: Source, event_ids: list[int]) -> pl.DataFrame:
    """Match names from the store; a store without events (or unreadable) leaves ids, never fails the page."""
    try:
        return ledger.event_labels(engine(source.store_url), event_ids)
    except (SQLAlchemyError, FileNotFoundError):
        return pl.DataFrame(schema={"event_id": pl.Int64, "match": pl.String})


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def trends(source: Source) -> pl.DataFrame:
    return data.metric_trends(engine(source.store_url))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def aliases(source: Source) -> pl.DataFrame:
    return data.champion_vs_challenger(engine(source.store_url), trends(source))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def prediction_calibration(source: Source) -> pl.DataFrame:
    return data.prediction_calibration(engine(source.store_url))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def risk(source: Source, now: datetime) -> list[data.AccountRisk]:
    return data.account_risk(ledgers(source), source.account, limits(), now)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def freshness(source: Source, now: datetime) -> pl.DataFrame:
    return system.freshness(engine(source.store_url), now)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def job_runs(source: Source) -> pl.DataFrame | None:
    return system.job_runs(engine(source.store_url))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def alerts(source: Source) -> pl.DataFrame:
    return system.recent_alerts(engine(source.store_url))


def limits() -> RiskLimits:
    return RiskLimits.from_settings(Settings())


def currency() -> str:
    """The ledger's currency (``[bankroll] currency``): every amount on every page is labelled with it."""
    return Settings().bankroll.currency


FILTERS_KEY = "betpipe_filters"


def filters() -> BetFilters:
    """What the sidebar chose (``app.sidebar_filters`` stores it each run); nothing chosen means no filter."""
    chosen = st.session_state.get(FILTERS_KEY)
    return chosen if isinstance(chosen, BetFilters) else BetFilters()


def sidebar_filters(source: Source) -> None:
    """Account, competition, market, book and kickoff dates, offered from what the ledger holds."""
    frame = bets(source)
    if frame.is_empty():
        st.session_state[FILTERS_KEY] = BetFilters()
        return
    st.subheader("Filters")

    def pick(label: str, column: str) -> tuple[str, ...]:
        options = sorted(frame[column].drop_nulls().unique().to_list())
        if len(options) < 2:
            return ()
        return tuple(st.multiselect(label, options, key=f"filter_{column}", placeholder="all"))

    chosen = (
        pick("Account", "account"),
        pick("Competition", "competition"),
        pick("Market", "market"),
        pick("Book", "book"),
    )
    first, last = frame["kickoff"].min(), frame["kickoff"].max()
    start: date | None = None
    end: date | None = None
    if isinstance(first, datetime) and isinstance(last, datetime) and first.date() < last.date():
        picked = st.date_input(
            "Kickoff between",
            value=(first.date(), last.date()),
            min_value=first.date(),
            max_value=last.date(),
            key="filter_dates",
        )
        days = [d for d in (picked if isinstance(picked, tuple) else (picked,)) if isinstance(d, date)]
        start = days[0] if days and days[0] > first.date() else None
        end = days[-1] if len(days) > 1 and days[-1] < last.date() else None
    st.session_state[FILTERS_KEY] = BetFilters(*chosen, start=start, end=end)


def filtered_bets(source: Source) -> pl.DataFrame:
    return filters().apply(bets(source))


def filter_caption(what: str = "bets") -> None:
    """Say on the page when the sidebar narrows it, so a figure is never read as the whole ledger's."""
    chosen = filters()
    if chosen.active:
        st.caption(f"Filtered {what} ({chosen.describe()}).")


def no_bets_sentence(source: Source) -> str:
    return f"No bets yet in account `{source.account}` of {source.ledger_label}: nothing to show here."


@contextmanager
def readable(what: str) -> Iterator[None]:
    """A store that is missing, unmigrated or unreachable becomes one sentence saying what to do."""
    try:
        yield
    except FileNotFoundError as error:
        st.error(f"Cannot show {what}: {error}. Run `betpipe db upgrade`, or check `--ledger-url`.")
    except SQLAlchemyError as error:
        first = str(error).splitlines()[0][:300]
        st.error(f"Cannot read {what} from the database ({first}). Has `betpipe db upgrade` been run?")


def fmt_money(value: Any) -> str:
    return f"{float(value):,.2f} {currency()}"


def fmt_share(value: Any) -> str:
    """A yield or a CLV as the CLI prints it: ``+1.23 %``."""
    return "n/a" if value is None else f"{float(value) * 100:+.2f} %"


CHART_FRAME_PX = 90
"""Title, legend and axis labels around a plot. The report's height is the plot's; Streamlit fits the whole chart,
frame included, into that height, which left a legend's chart a 50 px strip of plot."""


def chart(drawn: Any) -> None:
    """A ``betpipe.charts`` chart at the page's width, its plot as tall as in the HTML report (same definition)."""
    height = getattr(drawn, "height", None)
    if isinstance(height, int):
        drawn = drawn.properties(height=height + CHART_FRAME_PX)
    st.altair_chart(drawn, width="stretch")


PERCENT_COLUMNS = ("yield", "hit_rate", "mean_clv", "clv", "edge")
"""Shares shown as percentages: scaled by 100 for display only, so the printf formats can print ``+1.23 %``."""


_NARROW = ("competition", "market", "selection")


def _columns() -> dict[str, Any]:
    """One name and format per figure on every table: money with the currency, CLV and yield as ``+x.xx %``."""
    unit = currency()
    money = {"stake": "stake", "turnover": "turnover", "pnl": "P&L", "stake_refused": "stake asked"}
    config: dict[str, Any] = {
        column: st.column_config.NumberColumn(f"{label} ({unit})", format="%.2f") for column, label in money.items()
    }
    signed = {"yield": "yield", "mean_clv": "mean CLV", "clv": "CLV", "edge": "edge"}
    config |= {column: st.column_config.NumberColumn(label, format="%+.2f %%") for column, label in signed.items()}
    config["yield"] = st.column_config.NumberColumn("yield", format="%+.2f %%", help="P&L / turnover")
    config["hit_rate"] = st.column_config.NumberColumn("hit rate", format="%.1f %%", help="won / bets not void")
    config["price"] = st.column_config.NumberColumn("price", format="%.2f", width="small")
    for column, label in (("kickoff", "kickoff (UTC)"), ("created_at", "decided (UTC)")):
        config[column] = st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm")
    scores = {"log_loss": "log loss", "brier": "Brier", "rps": "RPS"}
    config |= {column: st.column_config.NumberColumn(label, format="%.4f") for column, label in scores.items()}
    config["settled_events"] = st.column_config.NumberColumn("settled events")
    config["model_type"] = st.column_config.TextColumn("model type")
    config |= {column: st.column_config.TextColumn(column, width="small") for column in _NARROW}
    config |= {
        "match": st.column_config.TextColumn("match", width="medium"),
        "state": st.column_config.TextColumn("result"),
        "reason": st.column_config.TextColumn("reason", width="medium"),
        "latest_reason": st.column_config.TextColumn("latest reason", width="large"),
    }
    return config


def table(frame: pl.DataFrame, **options: Any) -> None:
    """A bet table with the shared column names and formats, across the page; an ``account`` column that names one
    account only (the sidebar says which) is left out, so the bet's own columns fit."""
    if "account" in frame.columns and frame["account"].n_unique() <= 1:
        frame = frame.drop("account")
    shown = frame.with_columns(pl.col(c) * 100 for c in PERCENT_COLUMNS if c in frame.columns)
    config = {k: v for k, v in _columns().items() if k in frame.columns}
    st.dataframe(shown, hide_index=True, column_config=config, width="stretch", **options)

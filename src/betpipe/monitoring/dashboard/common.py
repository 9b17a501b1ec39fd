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
from datetime import datetime
from typing import Any

import polars as pl
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from betpipe.betting import RiskLimits
from betpipe.clock import SYSTEM_CLOCK, as_utc_instant
from betpipe.config import Settings, mask_url
from betpipe.monitoring import dashboard_data as data

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
    return data.load_bets(ledgers(source), source.account)


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
    return data.freshness(engine(source.store_url), now)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def job_runs(source: Source) -> pl.DataFrame | None:
    return data.job_runs(engine(source.store_url))


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def alerts(source: Source) -> pl.DataFrame:
    return data.recent_alerts(engine(source.store_url))


def limits() -> RiskLimits:
    return RiskLimits.from_settings(Settings())


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
    return f"{float(value):,.2f}"


def fmt_share(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):+.2%}"


def _x(x: str, frame: pl.DataFrame) -> Any:
    """Dates read as year-month (a multi-season ledger would otherwise show only month names)."""
    import altair as alt

    name = x.split(":", maxsplit=1)[0]
    if name in frame.columns and frame[name].dtype in (pl.Date, pl.Datetime):
        return alt.X(x, title=None, axis=alt.Axis(format="%Y-%m"))
    return alt.X(x, title=None)


def line_chart(frame: pl.DataFrame, x: str, y: str, color: str | None = None, *, y_title: str = "") -> None:
    """A line per ``color`` value; a single point gets a visible dot instead of an invisible zero-length line."""
    import altair as alt

    encoding: dict[str, Any] = {"x": _x(x, frame), "y": alt.Y(y, title=y_title or y)}
    if color is not None:
        encoding["color"] = alt.Color(color, title=None, legend=alt.Legend(orient="bottom"))
    chart = alt.Chart(frame).mark_line(point=frame.height < 60).encode(**encoding)
    st.altair_chart(chart, width="stretch")


def bar_chart(frame: pl.DataFrame, x: str, y: str, color: str | None = None, *, y_title: str = "") -> None:
    import altair as alt

    encoding: dict[str, Any] = {"x": _x(x, frame), "y": alt.Y(y, title=y_title or y)}
    if color is not None:
        encoding["color"] = alt.Color(color, title=None, legend=alt.Legend(orient="bottom"))
    st.altair_chart(alt.Chart(frame).mark_bar().encode(**encoding), width="stretch")


def calibration_chart(frame: pl.DataFrame) -> None:
    """Observed frequency against mean prediction per bin, with the diagonal a calibrated model sits on."""
    import altair as alt

    diagonal = alt.Chart(pl.DataFrame({"p": [0.0, 1.0]})).mark_line(strokeDash=[4, 4], color="gray")
    diagonal = diagonal.encode(x="p:Q", y="p:Q")
    points = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(size=60))
        .encode(
            x=alt.X("predicted:Q", title="predicted probability", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("observed:Q", title="observed frequency", scale=alt.Scale(domain=[0, 1])),
            tooltip=["predicted", "observed", "rows"],
        )
    )
    st.altair_chart((diagonal + points).properties(height=320), width="stretch")

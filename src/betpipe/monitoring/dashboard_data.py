"""The dashboard's data layer: plain functions from the store and the ledger to polars frames, no Streamlit here.

Each loader runs one set-based query; the shaping (curves, breakdowns, histograms, calibration bins) is vectorised
polars/numpy on the loaded frame, so the pages only draw. Must never write to any table: the dashboard opens its
engines read-only (``read_only_engine``) and these functions only ``SELECT``. Money arrives as integer cents and
is turned into currency units only for display. Nothing here reads the wall clock: callers pass ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, event, select
from sqlalchemy.engine import make_url

from betpipe.betting import RiskLimits, account_status
from betpipe.clock import FixedClock, as_utc_instant
from betpipe.db import make_engine
from betpipe.db.schema_betting import bets, risk_state
from betpipe.db.schema_monitoring import model_daily_metrics
from betpipe.db.schema_registry import model_aliases, model_versions
from betpipe.monitoring.metrics import SETTLED_STATES, _utc_series, load_predictions
from betpipe.registry.shadow import OUTCOMES

__all__ = [
    "BET_COLUMNS",
    "BET_DETAILS",
    "AccountRisk",
    "account_risk",
    "at_midnight",
    "bet_calibration",
    "breakdown",
    "champion_vs_challenger",
    "exposure_curve",
    "load_bets",
    "metric_trends",
    "open_bets",
    "pnl_curve",
    "prediction_calibration",
    "read_only_engine",
]

UTC_TIME = pl.Datetime("us", "UTC")
BET_SCHEMA: dict[str, Any] = {
    "account": pl.String,
    "event_id": pl.Int64,
    "competition": pl.String,
    "market": pl.String,
    "selection": pl.String,
    "book": pl.String,
    "price_e4": pl.Int64,
    "stake_cents": pl.Int64,
    "probability": pl.Float64,
    "edge": pl.Float64,
    "model_version": pl.Int64,
    "state": pl.String,
    "kickoff": UTC_TIME,
    "placed_at": UTC_TIME,
    "settled_at": UTC_TIME,
    "pnl_cents": pl.Int64,
    "clv": pl.Float64,
}
BOOKED_STATES = ("placed", *SETTLED_STATES)  # proposed and rejected bets never held money
WON_STATES = ("won", "half_won")
BET_COLUMNS = ("kickoff", "match", "selection", "book", "price", "stake")
"""What every bet table (open, settled, refused) shows first, in this order: the one list of a bet's columns."""
BET_DETAILS = ("market", "competition")
"""Shown after a table's own figures: at a page's width the figures (P&L, CLV, rule) must not scroll out of view."""
CALIBRATION_BINS = 10


def read_only_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite with ``query_only``, PostgreSQL with read-only transactions.

    A SQLite file that does not exist is refused instead of being created empty by the first connection.
    """
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database not in (None, "", ":memory:") and not Path(str(parsed.database)).is_file():
        raise FileNotFoundError(f"no database file at {parsed.database}")
    engine = make_engine(url)
    statement = "PRAGMA query_only = ON" if sqlite else "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        if not sqlite:
            dbapi_connection.commit()

    return engine


def _account_filter(pattern: str) -> Any:
    """``backtest:*`` matches every backtest run of a ledger; a plain name matches itself only."""
    if "*" in pattern:
        return bets.c.account.like(pattern.replace("%", r"\%").replace("_", r"\_").replace("*", "%"), escape="\\")
    return bets.c.account == pattern


def _frame(rows: list[Any], schema: dict[str, Any]) -> pl.DataFrame:
    frame = pl.DataFrame([tuple(r) for r in rows], schema=list(schema), orient="row")
    return frame.with_columns(
        pl.col(name).map_batches(_utc_series, return_dtype=UTC_TIME) if dtype == UTC_TIME else pl.col(name).cast(dtype)
        for name, dtype in schema.items()
    )


def load_bets(ledgers: list[Engine], account: str) -> pl.DataFrame:
    """Every bet that held money (placed or settled) of the matching accounts, from one or more ledger files."""
    query = select(*[bets.c[name] for name in BET_SCHEMA]).where(
        _account_filter(account), bets.c.state.in_(BOOKED_STATES)
    )
    frames = []
    for ledger in ledgers:
        with ledger.connect() as conn:
            frames.append(_frame(list(conn.execute(query)), BET_SCHEMA))
    frame = pl.concat(frames) if frames else _frame([], BET_SCHEMA)
    return frame.with_columns(
        (pl.col("price_e4") / 10_000).alias("price"),
        (pl.col("stake_cents") / 100).alias("stake"),
        (pl.col("pnl_cents") / 100).alias("pnl"),
        pl.col("clv").fill_nan(None),
        pl.col("edge").fill_nan(None),
    )


def _settled(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("state").is_in(SETTLED_STATES) & pl.col("settled_at").is_not_null())


def pnl_curve(frame: pl.DataFrame) -> pl.DataFrame:
    """Per settlement day: P&L, and CLV as money (stake x CLV: what the closing line says the bets were worth)."""
    settled = _settled(frame)
    daily = (
        settled.group_by(pl.col("settled_at").dt.date().alias("day"))
        .agg(
            pl.len().alias("bets"),
            pl.col("pnl").sum(),
            (pl.col("stake") * pl.col("clv")).sum().alias("clv_value"),
        )
        .sort("day")
    )
    return daily.with_columns(
        pl.col("pnl").cum_sum().alias("cumulative_pnl"),
        pl.col("clv_value").cum_sum().alias("cumulative_clv"),
    )


def breakdown(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """Bets, turnover, P&L, yield (P&L / turnover), hit rate (of bets not void) and mean CLV per ``by``
    (competition, market or book): the report's names for the same figures."""
    settled = _settled(frame)
    decided = pl.col("state") != "void"
    return (
        settled.group_by(by)
        .agg(
            pl.len().alias("bets"),
            pl.col("stake").sum().alias("turnover"),
            pl.col("pnl").sum(),
            (pl.col("state").is_in(WON_STATES) & decided).sum().alias("wins"),
            decided.sum().alias("decided"),
            pl.col("clv").mean().alias("mean_clv"),
        )
        .with_columns(
            pl.when(pl.col("turnover") > 0).then(pl.col("pnl") / pl.col("turnover")).alias("yield"),
            pl.when(pl.col("decided") > 0).then(pl.col("wins") / pl.col("decided")).alias("hit_rate"),
        )
        .drop("wins", "decided")
        .sort("bets", descending=True)
    )


def open_bets(frame: pl.DataFrame) -> pl.DataFrame:
    """Placed, unsettled bets by kickoff; the match (teams) when the frame carries one, else ``event <id>``."""
    shown = frame if "match" in frame.columns else frame.with_columns(pl.format("event {}", "event_id").alias("match"))
    return (
        shown.filter(pl.col("state") == "placed").select(*BET_COLUMNS, "edge", *BET_DETAILS, "account").sort("kickoff")
    )


def at_midnight(frame: pl.DataFrame, day: str = "day") -> pl.DataFrame:
    """``frame`` with ``at``, the UTC instant starting each ``day``: the shared charts draw UTC datetimes."""
    return frame.with_columns(pl.col(day).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("at"))


def exposure_curve(frame: pl.DataFrame) -> pl.DataFrame:
    """Open stakes over time, as the maximum of each day. A bet is open from placement until it is settled, and
    never before its kickoff: a backtest ledger may stamp placement and settlement at the same simulated step."""
    placed = frame.filter(pl.col("placed_at").is_not_null())
    steps = pl.concat(
        [
            placed.select(pl.col("placed_at").alias("at"), pl.col("stake_cents").alias("change")),
            placed.filter(pl.col("settled_at").is_not_null()).select(
                pl.max_horizontal("settled_at", "kickoff").alias("at"), (-pl.col("stake_cents")).alias("change")
            ),
        ]
    ).sort("at", "change")
    daily = (
        steps.with_columns((pl.col("change").cum_sum() / 100).alias("level"))
        .group_by(pl.col("at").dt.date().alias("day"))
        .agg(pl.col("level").max().alias("peak"), pl.col("level").last().alias("close"))
        .sort("day")
    )
    # A day starts at the previous day's closing level: bets still open overnight count towards its maximum.
    carried = pl.max_horizontal("peak", pl.col("close").shift(1).fill_null(0.0))
    return daily.select("day", carried.alias("open_exposure"))


@dataclass(frozen=True)
class AccountRisk:
    account: str
    halted: bool
    halted_reason: str | None
    open_exposure: Decimal
    open_bets: int
    loss_today: Decimal
    bankroll: Decimal


def account_risk(ledgers: list[Engine], account: str, limits: RiskLimits, now: datetime) -> list[AccountRisk]:
    """``betting.account_status`` (the numbers the ledger enforces) for every account matching ``account``."""
    found: list[AccountRisk] = []
    clock = FixedClock(as_utc_instant(now))
    for ledger in ledgers:
        with ledger.connect() as conn:
            names = {str(a) for a in conn.execute(select(bets.c.account).distinct()).scalars()}
            names |= {str(a) for a in conn.execute(select(risk_state.c.account)).scalars()}
        for name in sorted(n for n in names if fnmatchcase(n, account)):
            status = account_status(ledger, name, limits=limits, clock=clock)
            found.append(
                AccountRisk(
                    name,
                    status.halted,
                    status.halted_reason,
                    status.open_exposure,
                    status.open_bets,
                    status.loss_today,
                    status.bankroll,
                )
            )
    return found


def metric_trends(store: Engine) -> pl.DataFrame:
    """Per day and model version, over all competitions: predictions, settled events and the scores, each score
    weighted by its competition's settled events (a NULL score, nothing settled, stays NULL)."""
    query = select(
        model_daily_metrics.c.day,
        model_daily_metrics.c.version_id,
        model_daily_metrics.c.predictions,
        model_daily_metrics.c.settled_events,
        model_daily_metrics.c.brier,
        model_daily_metrics.c.log_loss,
        model_daily_metrics.c.rps,
        model_daily_metrics.c.ece,
    ).where(model_daily_metrics.c.predictions > 0)
    schema: dict[str, Any] = {"day": pl.Date, "version_id": pl.Int64, "predictions": pl.Int64}
    schema |= {"settled_events": pl.Int64} | dict.fromkeys(("brier", "log_loss", "rps", "ece"), pl.Float64)
    with store.connect() as conn:
        rows = list(conn.execute(query))
        labels = {int(r.id): f"v{r.version} {r.model_type} (id {r.id})" for r in conn.execute(_version_query())}
    frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
    scores = ("brier", "log_loss", "rps", "ece")
    weight = pl.when(pl.col("brier").is_not_null()).then(pl.col("settled_events")).otherwise(0)
    daily = (
        frame.with_columns(weight.alias("w"), *[pl.col(c).fill_nan(None) for c in scores])
        .group_by("day", "version_id")
        .agg(
            pl.col("predictions").sum(),
            pl.col("settled_events").sum(),
            *[
                pl.when(pl.col("w").sum() > 0).then((pl.col(c).fill_null(0) * pl.col("w")).sum() / pl.col("w").sum())
                for c in scores
            ],
        )
        .sort("day", "version_id")
    )
    names = pl.DataFrame(
        {"version_id": list(labels), "model": list(labels.values())},
        schema={"version_id": pl.Int64, "model": pl.String},
    )
    return daily.join(names, on="version_id", how="left").with_columns(
        pl.col("model").fill_null(pl.format("version id {}", pl.col("version_id")))
    )


def _version_query() -> Any:
    return select(model_versions.c.id, model_versions.c.version, model_versions.c.model_type)


def champion_vs_challenger(store: Engine, trends: pl.DataFrame) -> pl.DataFrame:
    """Each alias of each sport/market with its version's totals over the stored days (settled-weighted scores)."""
    query = (
        select(
            model_aliases.c.sport,
            model_aliases.c.market,
            model_aliases.c.alias,
            model_aliases.c.version_id,
            model_versions.c.version,
            model_versions.c.model_type,
        )
        .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
        .order_by(model_aliases.c.sport, model_aliases.c.market, model_aliases.c.alias)
    )
    with store.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    names = ["sport", "market", "alias", "version_id", "version", "model_type"]
    aliases = pl.DataFrame(rows, schema=names, orient="row").with_columns(pl.col("version_id").cast(pl.Int64))
    scores = ("brier", "log_loss", "rps")
    w = pl.when(pl.col("brier").is_not_null()).then(pl.col("settled_events")).otherwise(0)
    totals = (
        trends.with_columns(w.alias("w"))
        .group_by("version_id")
        .agg(
            pl.col("predictions").sum(),
            pl.col("settled_events").sum(),
            *[
                pl.when(pl.col("w").sum() > 0).then((pl.col(c).fill_null(0) * pl.col("w")).sum() / pl.col("w").sum())
                for c in scores
            ],
        )
        if trends.height
        else pl.DataFrame(
            schema={"version_id": pl.Int64, "predictions": pl.Int64, "settled_events": pl.Int64}
            | dict.fromkeys(scores, pl.Float64)
        )
    )
    return aliases.join(totals, on="version_id", how="left").with_columns(
        pl.col("predictions", "settled_events").fill_null(0)
    )


def _reliability(p: np.ndarray[Any, Any], hit: np.ndarray[Any, Any]) -> pl.DataFrame:
    """Ten equal-width bins of predicted probability: mean prediction, observed frequency and rows per bin."""
    cells = pl.DataFrame({"bin": np.clip((p * CALIBRATION_BINS).astype(np.int64), 0, CALIBRATION_BINS - 1)})
    cells = cells.with_columns(pl.Series("p", p), pl.Series("hit", hit.astype(np.float64)))
    return (
        cells.group_by("bin")
        .agg(pl.col("p").mean().alias("predicted"), pl.col("hit").mean().alias("observed"), pl.len().alias("rows"))
        .sort("bin")
    )


def prediction_calibration(store: Engine) -> pl.DataFrame:
    """Reliability of every served prediction with a result, all outcomes pooled."""
    predictions = load_predictions(store, datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)).filter(
        (pl.col("status") == "finished") & pl.col("home_score").is_not_null() & pl.col("away_score").is_not_null()
    )
    ps: list[np.ndarray[Any, Any]] = []
    hits: list[np.ndarray[Any, Any]] = []
    for (market,), rows in predictions.partition_by("market", as_dict=True).items():
        outcome = OUTCOMES.get(str(market))
        if outcome is None:
            continue
        labels = outcome(rows)
        width = int(np.max(rows["probabilities"].list.len().to_numpy()))
        keep = (labels >= 0) & (rows["probabilities"].list.len() == width).to_numpy()
        if not keep.any():
            continue
        p = np.asarray(rows.filter(pl.Series(keep))["probabilities"].to_list(), dtype=np.float64)
        observed = np.zeros_like(p)
        observed[np.arange(p.shape[0]), labels[keep]] = 1.0
        finite = np.isfinite(p)
        ps.append(p[finite])
        hits.append(observed[finite])
    if not ps:
        return _reliability(np.empty(0), np.empty(0))
    return _reliability(np.concatenate(ps), np.concatenate(hits))


def bet_calibration(frame: pl.DataFrame) -> pl.DataFrame:
    """Reliability of the probabilities the bets were placed at (void bets left out: neither hit nor miss)."""
    decided = _settled(frame).filter(pl.col("state") != "void", pl.col("probability").is_finite())
    won = decided["state"].is_in(WON_STATES).to_numpy()
    return _reliability(decided["probability"].to_numpy(), won)

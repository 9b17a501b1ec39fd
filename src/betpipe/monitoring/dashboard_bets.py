"""The dashboard's ledger views: filters, the bankroll and its drawdown, the settled-bet history with teams, and the
bets the risk controls refused, with the rule that refused each.

Pure functions over the frame ``dashboard_data.load_bets`` returns, plus two read-only loaders (rejections from a
ledger, match names from the store). A backtest ledger file holds no events, so teams come from the store and a bet
whose event the store does not know keeps a readable ``event <id>`` label. Never writes; never reads the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from betpipe.db.schema import events, teams
from betpipe.db.schema_betting import bet_transitions, bets
from betpipe.monitoring.dashboard_data import (
    BET_COLUMNS,
    BET_DETAILS,
    UTC_TIME,
    _account_filter,
    _frame,
    _settled,
    at_midnight,
)

__all__ = [
    "MAX_ACCOUNT_LINES",
    "BetFilters",
    "account_names",
    "bankroll_curve",
    "equity_frame",
    "event_labels",
    "load_rejections",
    "period_frame",
    "rejection_counts",
    "rejection_list",
    "settled_history",
    "with_matches",
]

MAX_ACCOUNT_LINES = 8  # more accounts than this are drawn as one pooled bankroll: nine lines are a tangle
REJECTION_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "account": pl.String,
    "event_id": pl.Int64,
    "competition": pl.String,
    "market": pl.String,
    "selection": pl.String,
    "book": pl.String,
    "price_e4": pl.Int64,
    "stake_cents": pl.Int64,
    "kickoff": UTC_TIME,
    "created_at": UTC_TIME,
    "reason": pl.String,
}
_ID_CHUNK = 5_000  # below every backend's bound-parameter limit


@dataclass(frozen=True)
class BetFilters:
    """What the sidebar narrows every page to. An empty tuple means "all"; dates bound the kickoff (inclusive)."""

    accounts: tuple[str, ...] = ()
    competitions: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()
    books: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None

    @property
    def active(self) -> bool:
        return self != BetFilters()

    def apply(self, frame: pl.DataFrame, *, dates: bool = True) -> pl.DataFrame:
        """The rows that pass; ``dates=False`` keeps earlier bets (a bankroll at the window's start needs them)."""
        keep = pl.lit(True)
        for column, chosen in (
            ("account", self.accounts),
            ("competition", self.competitions),
            ("market", self.markets),
            ("book", self.books),
        ):
            if chosen and column in frame.columns:
                keep &= pl.col(column).is_in(list(chosen))
        if dates:
            day = pl.col("kickoff").dt.date()
            if self.start is not None:
                keep &= day >= self.start
            if self.end is not None:
                keep &= day <= self.end
        return frame.filter(keep)

    def describe(self) -> str:
        """One line for a caption: which filters narrow what is shown."""
        parts = [
            f"{name}: {', '.join(chosen)}"
            for name, chosen in (
                ("account", self.accounts),
                ("competition", self.competitions),
                ("market", self.markets),
                ("book", self.books),
            )
            if chosen
        ]
        if self.start is not None or self.end is not None:
            parts.append(f"kickoff {self.start or '…'} to {self.end or '…'}")
        return "; ".join(parts) or "no filter"


def bankroll_curve(frame: pl.DataFrame, starting: Decimal, filters: BetFilters = BetFilters()) -> pl.DataFrame:
    """Per account and settlement day: the bankroll (starting bankroll + settled P&L so far), its running peak and
    the drawdown from that peak, in currency units and as a share of the peak.

    ``frame`` holds the bets matching every filter but the dates: the bankroll at the window's first day includes
    the P&L settled before it, and the peak is the peak since the start. More than ``MAX_ACCOUNT_LINES`` accounts
    are pooled into one line whose starting bankroll is the sum of theirs.
    """
    settled = _settled(frame)
    schema = {"account": pl.String, "day": pl.Date, "bets": pl.UInt32, "pnl": pl.Float64, "bankroll": pl.Float64}
    schema |= {"peak": pl.Float64, "drawdown": pl.Float64, "drawdown_share": pl.Float64}
    if settled.is_empty():
        return pl.DataFrame(schema=schema)
    accounts = settled["account"].n_unique()
    start = float(starting)
    if accounts > MAX_ACCOUNT_LINES:
        settled = settled.with_columns(pl.lit(f"all {accounts} accounts").alias("account"))
        start *= accounts
    daily = (
        settled.group_by("account", pl.col("settled_at").dt.date().alias("day"))
        .agg(pl.len().alias("bets"), pl.col("pnl").sum())
        .sort("account", "day")
    )
    curve = daily.with_columns((start + pl.col("pnl").cum_sum().over("account")).alias("bankroll"))
    curve = curve.with_columns(pl.max_horizontal(pl.col("bankroll").cum_max().over("account"), start).alias("peak"))
    curve = curve.with_columns((pl.col("bankroll") - pl.col("peak")).alias("drawdown"))
    curve = curve.with_columns((pl.col("drawdown") / pl.col("peak")).alias("drawdown_share"))
    if filters.start is not None:
        curve = curve.filter(pl.col("day") >= filters.start)
    if filters.end is not None:
        curve = curve.filter(pl.col("day") <= filters.end)
    return curve.cast(schema)  # type: ignore[arg-type]


def equity_frame(curve: pl.DataFrame, *, from_start: bool) -> pl.DataFrame:
    """``bankroll_curve`` in the shape ``charts.equity_curve`` and ``charts.drawdown_chart`` draw (as the report's
    ``equity_frame``): ``at``, ``bankroll``, ``drawdown`` (a positive share of the peak) and ``account``.

    ``from_start`` adds each account's starting bankroll (its first bankroll less that day's P&L) the day before its
    first settlement, so a loss on day one shows as a drop; a date window that starts later begins where the
    bankroll stood.
    """
    shown = curve.select("account", "day", "bankroll", (-pl.col("drawdown_share")).alias("drawdown"))
    if from_start and curve.height:
        first = curve.sort("day").group_by("account", maintain_order=True).first()
        start = first.select(
            "account",
            pl.col("day") - pl.duration(days=1),
            (pl.col("bankroll") - pl.col("pnl")).alias("bankroll"),
            pl.lit(0.0).alias("drawdown"),
        )
        shown = pl.concat([start.cast(shown.schema), shown]).sort("account", "day")  # type: ignore[arg-type]
    return at_midnight(shown).select("at", "bankroll", "drawdown", "account")


def period_frame(frame: pl.DataFrame, starting: Decimal, every: str) -> pl.DataFrame:
    """Settled P&L per calendar period (``"1mo"``, ``"1y"``) by settlement date, with the return on the bankroll
    at the period's start (every account's starting bankroll plus the P&L before it), as the report's
    ``period_frame``: ``period`` (UTC), ``bets``, ``pnl``, ``return``."""
    settled = _settled(frame)
    start = float(starting) * max(1, settled["account"].n_unique())
    grouped = (
        settled.group_by(pl.col("settled_at").dt.truncate(every).alias("period"))
        .agg(pl.len().alias("bets"), pl.col("pnl").sum())
        .sort("period")
    )
    opening = pl.col("pnl").cum_sum().shift(1, fill_value=0.0) + start
    return grouped.with_columns(pl.when(opening > 0).then(pl.col("pnl") / opening).alias("return"))


def account_names(frame: pl.DataFrame) -> dict[str, str]:
    """Legend names: a backtest run's opaque id gets the competitions it bet on in front (``E0 · backtest:8cb02c``)."""
    names: dict[str, str] = {}
    for account, competitions in frame.group_by("account").agg(pl.col("competition").unique().sort()).iter_rows():
        short = account[: len("backtest:") + 6] if account.startswith("backtest:") else account
        names[account] = f"{', '.join(competitions)} · {short}" if account.startswith("backtest:") else short
    return names


def event_labels(store: Engine, event_ids: Sequence[int]) -> pl.DataFrame:
    """``Home v Away`` per event id the store knows (a backtest ledger holds only ids)."""
    home, away = aliased(teams), aliased(teams)
    query = (
        select(events.c.id, home.c.name, away.c.name)
        .join(home, home.c.id == events.c.home_team_id)
        .join(away, away.c.id == events.c.away_team_id)
    )
    ids = sorted({int(i) for i in event_ids})
    rows: list[tuple[Any, ...]] = []
    with store.connect() as conn:
        for first in range(0, len(ids), _ID_CHUNK):
            chunk = ids[first : first + _ID_CHUNK]
            rows += [tuple(r) for r in conn.execute(query.where(events.c.id.in_(chunk)))]
    frame = pl.DataFrame(rows, schema={"event_id": pl.Int64, "home": pl.String, "away": pl.String}, orient="row")
    return frame.select("event_id", pl.format("{} v {}", "home", "away").alias("match"))


def with_matches(frame: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with a ``match`` column; an event the store does not know reads ``event <id>``."""
    joined = frame.join(labels, on="event_id", how="left")
    return joined.with_columns(pl.col("match").fill_null(pl.format("event {}", pl.col("event_id"))))


def settled_history(frame: pl.DataFrame) -> pl.DataFrame:
    """Settled bets, newest settlement first, in the columns a bettor reads: never a bare event id."""
    return (
        _settled(frame)
        .sort("settled_at", "kickoff", descending=True)
        .select(*BET_COLUMNS, "state", "pnl", "clv", *BET_DETAILS, "account")
    )


def load_rejections(ledgers: list[Engine], account: str) -> pl.DataFrame:
    """Bets the ledger refused, with ``rule``: the control its last rejection names (``input``, a limit such as
    ``daily_loss``, or ``book``), else the reason's prefix before the first colon."""
    query = select(*[bets.c[name] for name in REJECTION_SCHEMA]).where(
        _account_filter(account), bets.c.state == "rejected"
    )
    steps = (
        select(bet_transitions.c.bet_id, bet_transitions.c.details)
        .join(bets, bets.c.id == bet_transitions.c.bet_id)
        .where(_account_filter(account), bets.c.state == "rejected", bet_transitions.c.to_state == "rejected")
        .order_by(bet_transitions.c.id)
    )
    frames = []
    for ledger in ledgers:
        with ledger.connect() as conn:
            found = _frame(list(conn.execute(query)), REJECTION_SCHEMA)
            rules: dict[int, str] = {}
            for bet_id, details in conn.execute(steps):  # the last rejection of a bet wins
                control = details.get("control") if isinstance(details, dict) else None
                if isinstance(control, str):
                    rules[int(bet_id)] = control
        named = pl.DataFrame(
            {"id": list(rules), "control": list(rules.values())}, schema={"id": pl.Int64, "control": pl.String}
        )
        frames.append(found.join(named, on="id", how="left"))
    frame = pl.concat(frames) if frames else _frame([], REJECTION_SCHEMA).with_columns(control=pl.lit(None, pl.String))
    prefix = pl.col("reason").fill_null("no reason recorded").str.split(":").list.first()
    return frame.with_columns(
        pl.col("control").fill_null(prefix).alias("rule"),
        (pl.col("price_e4") / 10_000).alias("price"),
        (pl.col("stake_cents") / 100).alias("stake"),
    ).drop("control")


def rejection_counts(rejections: pl.DataFrame) -> pl.DataFrame:
    """Refusals per rule, most frequent first, with the newest reason as an example of the wording."""
    return (
        rejections.sort("created_at")
        .group_by("rule")
        .agg(
            pl.len().alias("bets"),
            pl.col("stake").sum().alias("stake_refused"),
            pl.col("reason").last().alias("latest_reason"),
        )
        .sort("bets", "rule", descending=[True, False])
    )


def rejection_list(rejections: pl.DataFrame) -> pl.DataFrame:
    """Each refusal, newest first: when it was decided, the bet asked for, and the rule with its wording."""
    return rejections.sort("created_at", descending=True).select(
        "created_at", *BET_COLUMNS[:2], "rule", "reason", *BET_COLUMNS[2:], *BET_DETAILS, "account"
    )

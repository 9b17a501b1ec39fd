"""Market features: margin-free pre-match probabilities from executable books, overround and the books' spread.

Input is one row per quoted market (event, book, market, kind, capture instant) with its home/draw/away prices,
pivoted by the SQL load. A complete market (every selection priced) is made margin-free with
``betpipe.odds.remove_margin`` (Shin by default; ``betpipe.features.demargin`` runs the same Shin solve compiled);
an event's snapshot at instant T averages each book's latest market captured at or before T and is known from T.
Never uses closing or in-play prices, prices captured at or after kickoff, or aggregate books (max/avg/consensus)
as a feature; those only fill the ``bench_`` label columns. When a pre-match price is known is decided by
``betpipe.features.prematch`` alone, for features and bench columns alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from numba import njit
from numpy.typing import NDArray

from betpipe.features.definitions import Market
from betpipe.features.demargin import fair_probabilities, shin_warm_up
from betpipe.features.prematch import complete_prices, lexical_code, prematch_known, with_kickoffs
from betpipe.features.timeline import left_join_on_event, rows_increasing, run_order

SNAPSHOT_COLUMNS = (
    "f_market_p_home",
    "f_market_p_draw",
    "f_market_p_away",
    "f_market_overround",
    "f_market_book_spread",
    "f_market_n_books",
)
QUOTE_COLUMNS = (
    "event_id",
    "bookmaker",
    "is_aggregate",
    "market",
    "kind",
    "captured_at",
    "home",
    "draw",
    "away",
    "line",
)


def selections(market: str) -> tuple[str, ...]:
    return ("home", "draw", "away") if market == "1x2" else ("home", "away")


@dataclass(frozen=True)
class MarketResult:
    snapshots: pl.DataFrame  # event_id, known_at, f_market_* (f_market_p_draw null for two-way markets)
    incomplete: int  # book markets skipped because a selection was unpriced
    invalid: int  # book markets skipped for a price that is not a finite decimal > 1 (ingest should quarantine)


def market_snapshots(quotes: pl.DataFrame, kickoffs: pl.DataFrame, definition: Market) -> MarketResult:
    """Event-level snapshots at every instant an executable book's prices changed before kickoff."""
    names = selections(definition.market)
    usable = with_kickoffs(quotes, kickoffs).filter(
        pl.col("market") == definition.market,
        pl.col("kind").is_in(list(definition.kinds)),
        ~pl.col("is_aggregate"),
        prematch_known(),
    )
    missing = pl.any_horizontal(pl.col(n).is_null() for n in names)
    bad = pl.any_horizontal(~(pl.col(n).is_finite() & (pl.col(n) > 1.0)) for n in names)
    incomplete = usable.filter(missing).height
    invalid = usable.filter(~missing & bad).height
    # Sorted by (event_id, bookmaker, captured_at, kind) through lexical integer codes of the two text columns
    # (the same order as sorting the text, a fraction of its cost); the last row of each (event, book, instant).
    # Stored quotes come sorted: strictly increasing in the leading three keys, the sort is the rows as they are.
    coded = usable.filter(~missing & ~bad).with_columns(
        lexical_code(pl.col("bookmaker"), usable["bookmaker"]).alias("_book")
    )
    if not rows_increasing(coded, ("event_id", "_book", "captured_at")):
        coded = coded.with_columns(lexical_code(pl.col("kind"), usable["kind"]).alias("_kind"))
        coded = coded.sort("event_id", "_book", "captured_at", "_kind")
    event, book, instant = (coded[c].to_numpy() for c in ("event_id", "_book", "captured_at"))
    same_pair = (event[1:] == event[:-1]) & (book[1:] == book[:-1])
    last = np.append(~(same_pair & (instant[1:] == instant[:-1])), True) if event.size else np.empty(0, bool)
    books = coded.filter(pl.Series(last)).drop("_kind", strict=False)  # the book's code orders snapshots too
    # A book quoting an event at two instants sends the event down the re-quoted path.
    requoted = np.unique(event[1:][same_pair & (instant[1:] != instant[:-1])]) if event.size else event
    return MarketResult(_event_snapshots(books, names, definition, requoted), incomplete, invalid)


def _event_snapshots(
    books: pl.DataFrame, names: tuple[str, ...], definition: Market, requoted: NDArray[np.int64]
) -> pl.DataFrame:
    prices = books.select(names).to_numpy().astype(np.float64)
    if prices.shape[0]:
        fair = fair_probabilities(prices, definition.method)
        overround = (1.0 / prices).sum(axis=1) - 1.0
    else:
        fair, overround = np.empty((0, len(names))), np.empty(0)
    books = books.select(
        "event_id", "bookmaker", "captured_at", *(["_book"] if "_book" in books.columns else [])
    ).with_columns(*[pl.Series(f"p_{n}", fair[:, i]) for i, n in enumerate(names)], pl.Series("overround", overround))
    if "draw" not in names:
        books = books.with_columns(pl.lit(None, dtype=pl.Float64).alias("p_draw"))
    again = pl.col("event_id").is_in(pl.Series(requoted, dtype=books.schema["event_id"]).implode())
    snapshot = pl.concat(
        [_quoted_once(books.filter(~again)), _requoted(books.filter(again).drop("_book", strict=False))]
    )
    total = pl.col("f_market_p_home") + pl.col("f_market_p_away") + pl.col("f_market_p_draw").fill_null(0.0)
    # Means of per-book fair probabilities sum to 1 up to rounding; renormalise so they do exactly.
    snapshot = snapshot.with_columns(
        (pl.col("f_market_p_home") / total).alias("f_market_p_home"),
        (pl.col("f_market_p_draw") / total).alias("f_market_p_draw"),
        (pl.col("f_market_p_away") / total).alias("f_market_p_away"),
    )
    return snapshot if rows_increasing(snapshot, ("event_id", "known_at")) else snapshot.sort("event_id", "known_at")


def warm_up() -> None:
    column = np.zeros(1, dtype=np.int64)
    column.flags.writeable = False  # ids and instants as polars hands them over without a copy
    run_order(column, column, np.zeros(1, dtype=np.int64))
    price = np.ones(1)
    price.flags.writeable = False
    _snapshot_rows(np.zeros(1, dtype=np.int64), column, column, price, price, price, price)
    shin_warm_up()


def _quoted_once(books: pl.DataFrame) -> pl.DataFrame:
    """Events where every book quoted once: the snapshot at an instant covers every book quoted up to it, so
    running sums in capture order give all snapshots in one pass (the common case, and the fast one)."""
    columns = ("p_home", "p_draw", "p_away", "overround")
    order = _capture_order(books)
    if order is None:  # the frame sort, then the rows as it leaves them
        books = books.sort("event_id", "captured_at", "bookmaker")
        order = np.arange(books.height, dtype=np.int64)
    ids, instants = (
        books[c].to_physical().to_numpy().astype(np.int64, copy=False) for c in ("event_id", "captured_at")
    )
    home, draw, away, overround = (books[c].to_numpy().astype(np.float64, copy=False) for c in columns)
    at, snapshot = _snapshot_rows(order, ids, instants, home, draw, away, overround)
    return _snapshot_frame(ids[at], books["captured_at"].gather(at), snapshot)


def _snapshot_frame(ids: NDArray[Any], known: pl.Series, snapshot: NDArray[np.float64]) -> pl.DataFrame:
    """The snapshot rows: (p_home, p_draw, p_away, overround, book spread, n books) as ``snapshot``'s rows."""
    names = ("f_market_p_home", "f_market_p_draw", "f_market_p_away", "f_market_overround", "f_market_book_spread")
    return pl.DataFrame(
        {
            "event_id": ids,
            "known_at": known,
            **dict(zip(names, snapshot, strict=False)),
            "f_market_n_books": snapshot[5],
        }
    ).with_columns(pl.col("event_id").cast(pl.Int64), pl.col("f_market_p_draw").fill_nan(None))


@njit(cache=True, nogil=True)
def _snapshot_rows(
    order: NDArray[np.int64],
    event: NDArray[np.int64],
    instant: NDArray[np.int64],
    home: NDArray[np.float64],
    draw: NDArray[np.float64],
    away: NDArray[np.float64],
    overround: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:  # pragma: no cover - compiled
    """Per event (rows taken in ``order``: by event, then capture), running sums of the four columns, and at the
    last row of each (event, instant) the snapshot: the sums' means, the home column's spread and the count, with
    that row's index. Sums restart per event: exact, unlike a global cumulative sum minus an offset."""
    n = order.shape[0]
    at = np.empty(n, dtype=np.int64)
    out = np.empty((6, n))
    sums = np.zeros(4)
    high, low, count = -np.inf, np.inf, 0.0
    m = 0
    for i in range(n):
        row = order[i]
        if i == 0 or event[row] != event[order[i - 1]]:
            sums[:] = 0.0
            high, low, count = -np.inf, np.inf, 0.0
        sums[0] += home[row]
        sums[1] += draw[row]
        sums[2] += away[row]
        sums[3] += overround[row]
        high = max(high, home[row])
        low = min(low, home[row])
        count += 1.0
        if i == n - 1 or event[order[i + 1]] != event[row] or instant[order[i + 1]] != instant[row]:
            at[m] = row
            for j in range(4):
                out[j, m] = sums[j] / count
            out[4, m] = high - low
            out[5, m] = count
            m += 1
    return at[:m], out[:, :m]


def _capture_order(books: pl.DataFrame) -> NDArray[np.int64] | None:
    """The permutation sorting ``books`` by (event_id, captured_at, bookmaker) when its events come in contiguous
    ascending runs (the rows ``market_snapshots`` hands over): each run put in order on its own, a few rows, by
    integer keys (``_book``, the bookmaker's lexical code, or computed here). None when any key is null or the
    result is not strictly increasing, so the frame sort, which then has other answers to choose from, runs."""
    if not books.height or any(books[c].null_count() for c in ("event_id", "captured_at", "bookmaker")):
        return None
    book = (
        books["_book"]
        if "_book" in books.columns
        else books.select(lexical_code(pl.col("bookmaker"), books["bookmaker"]))[:, 0]
    )
    keys = [
        s.to_physical().to_numpy().astype(np.int64, copy=False) for s in (books["event_id"], books["captured_at"], book)
    ]
    order, strict = run_order(*keys)
    return order if strict else None


def _requoted(books: pl.DataFrame) -> pl.DataFrame:
    """Events where a book re-quoted: at each instant, every book's latest market at or before it, averaged."""
    pairs = (
        books.select("event_id", "captured_at")
        .unique()
        .rename({"captured_at": "known_at"})
        .join(books.select("event_id", "bookmaker").unique(), on="event_id")
    )
    carried = pairs.sort("known_at").join_asof(
        books.sort("captured_at"),
        left_on="known_at",
        right_on="captured_at",
        by=["event_id", "bookmaker"],
        strategy="backward",
        check_sortedness=False,  # sorted by the as-of key as a whole, which is what the join needs
    )
    return (
        carried.filter(pl.col("captured_at").is_not_null())
        .group_by("event_id", "known_at")
        .agg(
            pl.col("p_home").mean().alias("f_market_p_home"),
            pl.col("p_draw").mean().alias("f_market_p_draw"),
            pl.col("p_away").mean().alias("f_market_p_away"),
            pl.col("overround").mean().alias("f_market_overround"),
            (pl.col("p_home").max() - pl.col("p_home").min()).alias("f_market_book_spread"),
            pl.len().cast(pl.Float64).alias("f_market_n_books"),
        )
    )


# bench column prefix -> (bookmaker keys, kind, market, selections)
_SOCCER_BENCH = {
    "bench_ps_open": (("pinnacle", "sample_sharp"), "opening", "1x2", ("home", "draw", "away")),
    "bench_ps_close": (("pinnacle", "sample_sharp"), "closing", "1x2", ("home", "draw", "away")),
    "bench_b365_open": (("bet365", "sample_soft"), "opening", "1x2", ("home", "draw", "away")),
}
_OTHER_BENCH = {"bench_close": (("consensus",), "closing", "moneyline", ("home", "away"))}
BENCH_BOOKS = tuple(sorted({b for spec in (_SOCCER_BENCH, _OTHER_BENCH) for books, *_ in spec.values() for b in books}))


def bench_column_names(draws: bool) -> list[str]:
    spec = _SOCCER_BENCH if draws else _OTHER_BENCH
    names = [f"{prefix}_{s}" for prefix, (_, _, _, sel) in spec.items() for s in sel]
    return names if draws else [*names, "bench_spread_line"]


def bench_columns(quotes: pl.DataFrame, draws: bool, kickoffs: pl.DataFrame) -> pl.DataFrame:
    """Raw benchmark prices per event (labels, never features): the latest quote of each named book and kind.

    Pre-match (``opening``) columns obey the same time rule as the market features (``prematch_prices`` as known
    just before kickoff, from ``kickoffs``: event_id, kickoff_utc); closing columns are the prices at kickoff.
    ``bench_spread_line`` is the consensus closing spread as stored: the home side's handicap (negative when the
    home side is favoured).
    """
    spec: dict[str, Any] = dict(_SOCCER_BENCH if draws else _OTHER_BENCH)
    if not draws:
        spec["bench_spread"] = (("consensus",), "closing", "spread", ("line",))
    result = _event_ids(quotes)
    candidates: dict[tuple[str, str, tuple[str, ...]], pl.DataFrame] = {}  # one pass over the quotes per market
    for prefix, (books, kind, market, sel) in spec.items():
        if kind == "opening":
            if (kind, market, sel) not in candidates:
                candidates[kind, market, sel] = _prematch_candidates(quotes, kind, market, sel)
            chosen = _latest_prematch(candidates[kind, market, sel], books, sel, kickoffs)
        else:
            chosen = quotes.filter(
                pl.col("bookmaker").is_in(list(books)), pl.col("kind") == kind, pl.col("market") == market
            )
            if not rows_increasing(chosen, ("event_id", "captured_at")):  # stored quotes come sorted
                chosen = chosen.sort("event_id", "captured_at")
        latest = _last_per_event(chosen).select("event_id", *[pl.col(s).alias(f"{prefix}_{s}") for s in sel])
        result = left_join_on_event(result, latest)
    return result.select("event_id", *[pl.col(n).cast(pl.Float64) for n in bench_column_names(draws)])


def _prematch_candidates(quotes: pl.DataFrame, kind: str, market: str, sel: tuple[str, ...]) -> pl.DataFrame:
    """The quotes of one market and kind with every selection priced (``complete_prices``) from executable books:
    what ``_latest_prematch`` narrows to its books, for every book pair of that market at once."""
    conditions = [pl.col("market") == market, pl.col("kind") == kind, complete_prices(sel)]
    if "is_aggregate" in quotes.columns:
        conditions.append(~pl.col("is_aggregate").fill_null(True))
    return quotes.filter(*conditions)


def _latest_prematch(
    candidates: pl.DataFrame, books: tuple[str, ...], sel: tuple[str, ...], kickoffs: pl.DataFrame
) -> pl.DataFrame:
    """Per event, the quote ``prematch_prices`` keeps for one of ``books`` (each book's latest complete pre-match
    market by (captured_at, kind)) that is latest by (known_at, bookmaker): that is the row of greatest
    (captured_at, bookmaker, kind) among the quotes the rule admits, so it is found with one sort on integer keys
    (events in order, the wanted row last) instead of a sort per book and a second per event. Same predicates
    (``complete_prices``, ``prematch_known``; ``candidates`` from ``_prematch_candidates``) as ``prematch_prices``;
    tests/test_features_speed.py compares them."""
    usable = with_kickoffs(candidates.filter(pl.col("bookmaker").is_in(list(books))), kickoffs).filter(prematch_known())
    if rows_increasing(usable, ("event_id", "captured_at")):  # already in order by the leading keys alone
        return usable.select("event_id", *sel)
    coded = usable.with_columns(
        lexical_code(pl.col("bookmaker"), usable["bookmaker"]).alias("_book"),
        lexical_code(pl.col("kind"), usable["kind"]).alias("_kind"),
    )
    return coded.sort("event_id", "captured_at", "_book", "_kind").select("event_id", *sel)


def _event_ids(quotes: pl.DataFrame) -> pl.DataFrame:
    """``quotes.select(pl.col("event_id").unique().sort())``; for ids already ascending (stored quotes), the first
    of each run, without hashing."""
    ids = quotes["event_id"]
    values = ids.to_numpy()
    if ids.null_count() or not ids.dtype.is_integer() or not bool(np.all(values[1:] >= values[:-1])):
        return quotes.select(pl.col("event_id").unique().sort())
    first = np.append(True, values[1:] != values[:-1]) if values.size else np.empty(0, bool)
    return pl.DataFrame(ids.filter(pl.Series(first)))


def _last_per_event(chosen: pl.DataFrame) -> pl.DataFrame:
    """``chosen.group_by("event_id", maintain_order=True).last()`` for rows sorted by event: the last row of each
    run of ids, found by comparing neighbours (with a null id, the group-by itself)."""
    ids = chosen["event_id"]
    if ids.null_count():
        return chosen.group_by("event_id", maintain_order=True).last()
    values = ids.to_numpy()
    return chosen.filter(pl.Series(np.append(values[1:] != values[:-1], True) if values.size else np.empty(0, bool)))


def single_event_market(
    rows: list[tuple[Any, ...]], cutoff: datetime, kickoff: datetime, definition: Market, draws: bool
) -> tuple[dict[str, float | None], datetime | None]:
    """One event's market values as known strictly before ``cutoff`` (<= kickoff), from its quote rows
    (bookmaker, is_aggregate, market, kind, captured_at, home, draw, away): the rule of ``market_snapshots``
    (each book's latest complete market, averaged) in plain numpy for a sub-millisecond lookup."""
    names = selections(definition.market)
    columns = [c for c in SNAPSHOT_COLUMNS if draws or c != "f_market_p_draw"]
    empty: dict[str, float | None] = {**dict.fromkeys(columns), "f_market_age_hours": None}
    latest: dict[str, tuple[datetime, str, list[float]]] = {}
    for book, aggregate, market, kind, captured, home, draw, away in rows:
        prices = {"home": home, "draw": draw, "away": away}
        chosen = [prices[n] for n in names]
        if (
            aggregate
            or market != definition.market
            or kind not in definition.kinds
            or not captured < cutoff
            or any(p is None or not (math.isfinite(p) and p > 1.0) for p in chosen)
        ):
            continue
        if book not in latest or (latest[book][0], latest[book][1]) < (captured, kind):
            latest[book] = (captured, kind, [float(p) for p in chosen])
    if not latest:
        return empty, None
    books = sorted(latest)
    matrix = np.array([latest[b][2] for b in books], dtype=np.float64)
    fair = fair_probabilities(matrix, definition.method)
    mean = fair.mean(axis=0)
    mean = mean / mean.sum()
    known = max(latest[b][0] for b in books)
    values: dict[str, float | None] = {
        "f_market_p_home": float(mean[0]),
        "f_market_p_draw": float(mean[1]) if draws else None,
        "f_market_p_away": float(mean[-1]),
        "f_market_overround": float(((1.0 / matrix).sum(axis=1) - 1.0).mean()),
        "f_market_book_spread": float(fair[:, 0].max() - fair[:, 0].min()),
        "f_market_n_books": float(len(books)),
        "f_market_age_hours": (kickoff - known).total_seconds() / 3600.0,
    }
    return {c: values[c] for c in [*columns, "f_market_age_hours"]}, known

"""Odds API prices: one format per response, converted exactly, and a plausible overround per market.

The Odds API v4 answers in the ``oddsFormat`` it was asked for (``decimal`` or ``american``), and every price of
one response is in that format. A response is therefore read in one format as a whole: the format requested, and
only if the prices agree with it. Reading price by price is what let American odds half through: negative ones
failed the decimal check, positive ones (+100 ... +1000) passed as decimal odds of 100 ... 1000.

What the prices themselves say (American odds are never strictly between -100 and +100):

- a price <= -100 can only be American; a price strictly between 1 and 100 can only be decimal;
- prices >= 100 alone are American (a response whose every price is a 100-to-1 longshot is not a decimal feed).

A response that mixes both, or whose prices contradict the requested format, is refused whole
(``BadPayloadError``; the shared writer keeps the bytes and quarantines the payload with the reason). Then each
market (event, bookmaker, market, line) must be complete and one bookmaker's book: its implied probabilities must
sum to within [``MIN_IMPLIED_SUM``, ``MAX_IMPLIED_SUM``]. A market outside, or left incomplete by a bad price, is
quarantined whole: none of its prices is stored, because a price whose book cannot be checked cannot be vouched for.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import polars as pl

from betpipe.ingest.http import SourceError
from betpipe.ingest.records import ODDS_SCHEMA, QuarantinedRow
from betpipe.odds import american_to_decimal

OddsFormat = Literal["decimal", "american"]
MAX_DECIMAL_PRICE = 1000.0  # the same bounds as the file sources (docs/faults.md): beyond, a feed error
MAX_AMERICAN_ODDS = 99_900.0  # +99900 = decimal 1000
MIN_IMPLIED_SUM = 0.95
"""Lowest plausible sum of one bookmaker's implied probabilities for one market: a single book never gives away
5 %. Below, the prices are not one book's (e.g. a missing outcome, or American odds read as decimal)."""
MAX_IMPLIED_SUM = 1.30
"""Highest plausible sum: retail books' three-way soccer and longshot-heavy markets stay below ~1.2; above 1.3 the
prices are not a market (e.g. decimal odds read as American, or an outcome counted twice)."""
MARKET_SELECTIONS = {
    "1x2": frozenset({"home", "draw", "away"}),
    "moneyline": frozenset({"home", "away"}),
    "spread": frozenset({"home", "away"}),
    "asian_handicap": frozenset({"home", "away"}),
    "total": frozenset({"over", "under"}),
}
# Row layout shared with the reader: (event ref, bookmaker, market, selection, line, raw price, captured_at, ref).
PRICE, QUARANTINE_REF = 5, 7


class BadPayloadError(SourceError, ValueError):
    """The response as a whole cannot be read; a ``ValueError`` so ``ingest_payload`` keeps and quarantines it."""


def number(value: object) -> float | None:
    """A JSON number as a float; text, booleans and integers too large for a float are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _example(values: Iterable[float]) -> str:
    return ", ".join(f"{v:+g}" if v >= 100 or v <= -100 else f"{v:g}" for v in sorted(set(values))[:3])


def response_format(
    raw: np.ndarray[Any, np.dtype[np.float64]], requested: OddsFormat | None, locator: str
) -> OddsFormat:
    """The one format the whole response is read in, or ``BadPayloadError`` saying why it cannot be read in one.

    ``requested`` is the ``oddsFormat`` of the request (None when unknown, e.g. a saved file without it): then the
    prices decide, and a response with no telling price is read as decimal, the API's default.
    """
    finite = raw[np.isfinite(raw)]
    american_only = finite[finite <= -100.0]
    decimal_only = finite[(finite > 1.0) & (finite < 100.0)]
    large = finite[finite >= 100.0]
    if american_only.size and decimal_only.size:
        raise BadPayloadError(
            f"{locator}: the prices mix decimal odds ({_example(decimal_only)}) and American odds "
            f"({_example(american_only)}); a response is in one format, so it is refused whole"
        )
    seen: OddsFormat | None = None
    if american_only.size or (large.size and not decimal_only.size):
        seen = "american"
    elif decimal_only.size:
        seen = "decimal"
    if requested is not None and seen is not None and seen != requested:
        shown = (
            _example(american_only if american_only.size else large) if seen == "american" else _example(decimal_only)
        )
        raise BadPayloadError(
            f"{locator}: the prices are {'American' if seen == 'american' else 'decimal'} odds ({shown}) but "
            f"{'American' if requested == 'american' else 'decimal'} odds were requested; refused whole, nothing stored"
        )
    return requested or seen or "decimal"


def _decimal_prices(raw: np.ndarray[Any, np.dtype[np.float64]], odds_format: OddsFormat) -> tuple[Any, Any, str]:
    """(decimal prices, which are valid, the rule the invalid ones broke)."""
    if odds_format == "american":
        valid = np.isfinite(raw) & (np.abs(raw) >= 100.0) & (np.abs(raw) <= MAX_AMERICAN_ODDS)
        price = np.full(raw.shape, np.nan)
        if valid.any():
            price[valid] = american_to_decimal(raw[valid])
        return (
            price,
            valid,
            f"not valid American odds (want -{MAX_AMERICAN_ODDS:g}..-100 or 100..{MAX_AMERICAN_ODDS:g})",
        )
    valid = np.isfinite(raw) & (raw > 1.0) & (raw <= MAX_DECIMAL_PRICE)
    return raw, valid, f"not a valid decimal price (want a number > 1 and <= {MAX_DECIMAL_PRICE:g})"


def _market_problem(name: str, rows: list[tuple[Any, ...]], prices: list[float], broken: bool) -> str | None:
    """Why one market's prices cannot be stored, or None when they are one bookmaker's complete, plausible book."""
    selections = [row[3] for row in rows]
    expected = MARKET_SELECTIONS.get(name, frozenset())
    if broken or set(selections) != expected or len(selections) != len(expected):
        have = ", ".join(sorted(selections)) or "nothing"
        return (
            f"{name} market incomplete (has {have}; needs {', '.join(sorted(expected))}): its overround cannot be "
            "checked, so none of its prices is stored"
        )
    total = math.fsum(1.0 / p for p in prices)
    if not MIN_IMPLIED_SUM <= total <= MAX_IMPLIED_SUM:
        return (
            f"{name} implied probabilities sum to {total:.3f}, outside the plausible overround "
            f"[{MIN_IMPLIED_SUM:g}, {MAX_IMPLIED_SUM:g}] of one bookmaker: not a usable market (wrong price format?)"
        )
    return None


def priced(
    rows: list[tuple[Any, ...]], requested: OddsFormat | None, locator: str, quarantined: list[QuarantinedRow]
) -> pl.DataFrame:
    """Decimal prices of every complete, plausible market; every refused price or market is quarantined."""
    raw = np.array([v if (v := number(r[PRICE])) is not None else np.nan for r in rows], dtype=np.float64)
    price, valid, rule = _decimal_prices(raw, response_format(raw, requested, locator))
    markets: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        markets[(row[0], row[1], row[2], row[4])].append(index)
        if not valid[index]:
            shown = repr(row[PRICE])[:40]
            quarantined.append(QuarantinedRow.of(row[QUARANTINE_REF], {"price": shown}, f"price {shown} is {rule}"))
    kept: list[tuple[Any, ...]] = []
    for (event, book, name, line), indices in markets.items():
        good = [i for i in indices if valid[i]]
        if not good:
            continue  # every price already quarantined on its own
        members = [rows[i] for i in good]
        problem = _market_problem(name, members, [float(price[i]) for i in good], len(good) < len(indices))
        if problem is not None:
            record = {"prices": {rows[i][3]: repr(rows[i][PRICE])[:40] for i in indices}}
            quarantined.append(QuarantinedRow.of(f"{event}:{book}:{name}:{line:g}", record, problem))
            continue
        kept.extend((*rows[i][:5], float(price[i]), rows[i][6]) for i in good)
    schema = {k: v for k, v in ODDS_SCHEMA.items() if k != "kind"}
    return pl.DataFrame(kept, schema=schema, orient="row")

"""Line shopping and the one strategy object: the best usable price per selection among the strategy's books (never
an aggregate, never a stale or future price), the book recorded per candidate, per-book stake caps, and a strategy
that round-trips through JSON under one content-hashed version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from betpipe.betting.policy import StakingPolicy
from betpipe.betting.shopping import best_prices
from betpipe.betting.strategy import Strategy, decide
from betpipe.betting.strategy_spec import DEFAULT_STRATEGY, SOFT_BOOKS, StrategySpec

NAMES = ("home", "draw", "away")
NOW = datetime(2024, 1, 6, 12, tzinfo=UTC)
KICKOFF = NOW + timedelta(hours=3)


def _quotes(rows: list[tuple[int, str, datetime, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(e, "E0", KICKOFF, b, at, h, d, a) for e, b, at, h, d, a in rows],
        schema=["event_id", "competition", "kickoff_utc", "book", "decided_at", *NAMES],
        orient="row",
    ).with_columns(pl.col("kickoff_utc", "decided_at").dt.cast_time_unit("us"))


def test_each_selection_takes_the_best_price_among_the_books_ties_to_the_first_book() -> None:
    quotes = _quotes(
        [
            (1, "bet365", NOW - timedelta(hours=2), 2.10, 3.40, 3.60),
            (1, "williamhill", NOW - timedelta(hours=1), 2.20, 3.30, 3.60),
            (1, "vcbet", NOW - timedelta(hours=3), 2.05, 3.50, 3.50),
        ]
    )
    out = best_prices(quotes, NAMES, ("bet365", "williamhill", "vcbet"))
    row = out.row(0, named=True)
    assert (row["book_home"], row["at_home"]) == (2.20, "williamhill")
    assert (row["book_draw"], row["at_draw"]) == (3.50, "vcbet")
    assert (row["book_away"], row["at_away"]) == (3.60, "bet365")  # a tie goes to the earlier book of the strategy
    assert row["decided_at"] == NOW - timedelta(hours=1)  # every chosen price was known by then


def test_a_book_the_strategy_does_not_hold_is_never_shopped() -> None:
    quotes = _quotes(
        [(1, "bet365", NOW, 2.10, 3.40, 3.60), (1, "market_max", NOW, 9.0, 9.0, 9.0), (1, "pinnacle", NOW, 3, 4, 5)]
    )
    out = best_prices(quotes, NAMES, ("bet365",))
    assert out.row(0, named=True)["book_home"] == 2.10
    assert set(out.select("at_home", "at_draw", "at_away").row(0)) == {"bet365"}


def test_a_stale_price_is_never_preferred_over_a_fresh_one() -> None:
    quotes = _quotes(
        [(1, "bet365", NOW - timedelta(hours=1), 2.10, 3.40, 3.60), (1, "vcbet", NOW - timedelta(days=3), 5, 5, 5)]
    )
    out = best_prices(quotes, NAMES, ("bet365", "vcbet"), now=NOW, max_age=timedelta(hours=6))
    assert out.row(0, named=True)["book_home"] == 2.10
    # Every price stale: the freshest is kept so that ``decide`` counts the event as stale instead of losing it.
    only_stale = best_prices(quotes, NAMES, ("vcbet",), now=NOW, max_age=timedelta(hours=6))
    strategy = Strategy(
        name="s", source="market", policy=StakingPolicy.parse("flat:1"), book="vcbet", market="1x2", outcomes=NAMES
    )
    decision = decide(
        only_stale, strategy=strategy, bankroll=Decimal(1000), now=NOW, market_p=np.array([[0.5, 0.3, 0.2]]),
        max_price_age=timedelta(hours=6),
    )  # fmt: skip
    assert decision.candidates == []
    assert any(k.startswith("stale price") for k in decision.no_bet)


def test_decide_records_each_candidate_at_the_book_of_its_price_and_caps_its_stake() -> None:
    quotes = _quotes(
        [(1, "bet365", NOW - timedelta(hours=1), 2.6, 3.4, 3.0), (1, "vcbet", NOW - timedelta(hours=1), 2.1, 3.9, 3.0)]
    )
    events = best_prices(quotes, NAMES, ("bet365", "vcbet"))
    strategy = Strategy(
        name="s", source="market", policy=StakingPolicy.parse("flat:10,simultaneous"), book="bet365", market="1x2",
        outcomes=NAMES, book_max_stake={"vcbet": Decimal("4")},
    )  # fmt: skip
    decision = decide(
        events, strategy=strategy, bankroll=Decimal(1000), now=NOW, market_p=np.array([[0.45, 0.3, 0.25]])
    )
    by_selection = {c.selection: c for c in decision.candidates}
    assert by_selection["home"].book == "bet365"
    assert by_selection["home"].price == Decimal("2.6")
    assert by_selection["home"].stake == Decimal("10.00")
    assert by_selection["draw"].book == "vcbet"
    assert by_selection["draw"].price == Decimal("3.9")
    assert by_selection["draw"].stake == Decimal("4")  # vcbet's maximum stake
    assert "away" not in by_selection  # 0.25 x 3.0 = 0.75: no edge at either book


def test_a_strategy_round_trips_through_json_under_one_version() -> None:
    spec = StrategySpec(books=("bet365", "vcbet"), staking="flat:1", min_edge=0.0, book_max_stake={"vcbet": "25"})
    again = StrategySpec.from_json(spec.to_json())
    assert again == spec
    assert again.version == spec.version
    assert StrategySpec.from_json({**spec.to_json(), "label": "renamed"}).version == spec.version
    assert StrategySpec.from_json({**spec.to_json(), "min_edge": 0.01}).version != spec.version


def test_the_default_strategy_is_market_only_line_shopping_at_the_five_soft_books() -> None:
    assert DEFAULT_STRATEGY.source == "market"
    assert DEFAULT_STRATEGY.books == SOFT_BOOKS == ("bet365", "betandwin", "interwetten", "williamhill", "vcbet")
    assert DEFAULT_STRATEGY.sharp_book == "pinnacle"
    assert DEFAULT_STRATEGY.market_method == "multiplicative"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"books": ("market_max",)}, "aggregate"),
        ({"books": ("bet365", "market_avg")}, "aggregate"),
        ({"books": ("pinnacle",)}, "sharp book"),
        ({"books": ()}, "at least one book"),
        ({"books": ("bet365", "bet365")}, "named twice"),
        ({"book_max_stake": {"vcbet": "10"}, "books": ("bet365",)}, "does not bet at"),
        ({"book_max_stake": {"bet365": "-1"}, "books": ("bet365",)}, "> 0"),
        ({"source": "magic"}, "unknown strategy source"),
        ({"staking": "double"}, "staking"),
        ({"market_method": "guess"}, "market method"),
        ({"max_price_age_hours": 0.0}, "max_price_age_hours"),
    ],
)
def test_a_bad_strategy_is_a_one_line_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        StrategySpec.from_json({**DEFAULT_STRATEGY.to_json(), **change})
    assert "\n" not in str(error.value)


def test_an_unknown_field_in_a_strategy_file_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy field"):
        StrategySpec.from_json({"book": "bet365"})

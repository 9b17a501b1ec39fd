"""``betting.strategy.decide``: the one decision function live, /opportunities and the backtest share.

The equivalence test replays, verbatim, the per-step block of ``backtest/simulate.py`` (fair probabilities ->
``size_events_explained`` -> ``BetCandidate``s) on a small frame, so switching the backtest to ``decide`` cannot
change a single bet.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from betpipe.betting import StakingPolicy, fair_probabilities, size_events_explained
from betpipe.betting.ledger import BetCandidate
from betpipe.betting.strategy import Strategy, decide
from betpipe.db import as_utc

NAMES = ("home", "draw", "away")
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _frame(n: int = 12, seed: int = 3) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    market = rng.dirichlet([4, 2.5, 3], n)
    model = rng.dirichlet([4, 2.5, 3], n)
    prices = np.round(1.0 / (market * 1.04) * rng.uniform(0.95, 1.12, (n, 3)), 2)
    prices[2, 1] = 1.0  # not a price
    frame = pl.DataFrame(
        {
            "event_id": np.arange(100, 100 + n),
            "competition": ["E0" if i % 2 else "D1" for i in range(n)],
            "kickoff_utc": [T0 + timedelta(days=2) for _ in range(n)],
            "decided_at": [T0 for _ in range(n)],
            **{f"book_{name}": prices[:, j] for j, name in enumerate(NAMES)},
        }
    ).with_columns(pl.col("kickoff_utc", "decided_at").dt.replace_time_zone("UTC"))
    return frame, model, market


def _backtest_block(
    step_rows: pl.DataFrame,
    p_model: np.ndarray | None,
    market_p: np.ndarray,
    *,
    source: str,
    market_weight: float,
    policy: StakingPolicy,
    bankroll: Decimal,
    name: str,
    book: str,
    now: datetime,
) -> tuple[list[BetCandidate], dict[str, int]]:
    """The loop body of ``backtest.simulate.run`` between ``fair_probabilities`` and ``place_bets``, as written."""
    no_bet: dict[str, int] = {}
    fair = fair_probabilities(p_model, market_p, source=source, market_weight=market_weight)  # type: ignore[arg-type]
    prices = step_rows.select([pl.col(f"book_{n}") for n in NAMES]).to_numpy().astype(np.float64)
    sized = size_events_explained(fair, prices, bankroll, policy)
    for code in np.unique(sized.reasons[sized.reasons > 0]):
        i, j = (int(x[0]) for x in np.nonzero(sized.reasons == code))
        reason = f"sizing: {sized.reason(i, j)}"
        no_bet[reason] = no_bet.get(reason, 0) + int((sized.reasons == code).sum())
    stakes = sized.decimal_stakes()
    candidates = []
    for i, j in zip(*np.nonzero(sized.units > 0), strict=True):
        row = step_rows.row(int(i), named=True)
        candidates.append(
            BetCandidate(
                event_id=int(row["event_id"]),
                market="1x2",
                selection=NAMES[j],
                line=0.0,
                price=Decimal(str(prices[i, j])),
                probability=float(sized.probabilities[i, j]),
                stake=stakes[i, j],
                book=book,
                strategy=name,
                model_version=None,
                decision_time=now,
                competition=str(row["competition"]),
                kickoff=as_utc(row["kickoff_utc"]),
                edge=float(sized.edges[i, j]),
                price_time=as_utc(row["decided_at"]),
            )
        )
    return candidates, no_bet


@pytest.mark.parametrize(
    ("source", "staking"),
    [("blend", "kelly:0.25"), ("model", "kelly:0.5"), ("market", "flat:1"), ("blend", "flat:2,simultaneous")],
)
def test_decide_gives_exactly_the_backtest_blocks_candidates(source: str, staking: str) -> None:
    """Guards the backtest switch-over: same candidates (and keys), same no-bet counts, for every fair source."""
    frame, model, market = _frame()
    policy = StakingPolicy.parse(staking, min_edge=0.0)
    strategy = Strategy(name="s", source=source, policy=policy, book="bet365", market="1x2", outcomes=NAMES)  # type: ignore[arg-type]
    p_model = None if source == "market" else model
    expected, expected_no_bet = _backtest_block(
        frame, p_model, market, source=source, market_weight=0.5, policy=policy,
        bankroll=Decimal("1000"), name="s", book="bet365", now=T0,
    )  # fmt: skip
    decision = decide(frame, strategy=strategy, bankroll=Decimal("1000"), now=T0, model_p=p_model, market_p=market)
    assert expected, "the frame must produce bets, or the comparison proves nothing"
    assert decision.candidates == expected
    assert [c.key_for("paper") for c in decision.candidates] == [c.key_for("paper") for c in expected]
    assert decision.no_bet == expected_no_bet
    assert decision.quotes() == {(c.event_id, "1x2", c.selection, 0.0): c.price for c in expected}


def test_decision_time_is_the_price_capture_time_not_now() -> None:
    """A rerun an hour later decides the same bets with the same idempotency keys (no double bet after a crash)."""
    frame, model, _ = _frame()
    strategy = Strategy("s", "model", StakingPolicy.parse("kelly:0.25"), "bet365", "1x2", NAMES)
    first = decide(frame, strategy=strategy, bankroll=Decimal("1000"), now=T0 + timedelta(minutes=5), model_p=model)
    later = decide(frame, strategy=strategy, bankroll=Decimal("1000"), now=T0 + timedelta(hours=1), model_p=model)
    assert first.candidates
    assert [c.key_for("paper") for c in first.candidates] == [c.key_for("paper") for c in later.candidates]
    assert all(c.decision_time == T0 for c in first.candidates)


def test_rows_that_cannot_be_bet_are_counted_by_reason_not_bet() -> None:
    frame, model, _ = _frame(6)
    frame = frame.with_columns(
        pl.Series(
            "decided_at", [T0, T0 + timedelta(hours=1), T0, None, T0 - timedelta(days=3), T0]
        ).dt.replace_time_zone("UTC"),
        pl.Series("kickoff_utc", [T0 + timedelta(days=2)] * 5 + [T0 - timedelta(minutes=1)]).dt.replace_time_zone(
            "UTC"
        ),
    )
    strategy = Strategy("s", "model", StakingPolicy.parse("kelly:0.25", min_edge=0.0), "bet365", "1x2", NAMES)
    decision = decide(
        frame, strategy=strategy, bankroll=Decimal("1000"), now=T0, model_p=model, max_price_age=timedelta(hours=6)
    )
    assert decision.no_bet["price captured after the decision instant"] == 1
    assert decision.no_bet["no pre-match price captured before kickoff"] == 1
    assert decision.no_bet["stale price: older than 6:00:00"] == 1
    assert decision.no_bet["kicked off before the decision"] == 1
    assert {c.event_id for c in decision.candidates} <= {100, 102}


def test_no_events_no_candidates() -> None:
    frame, _, _ = _frame()
    strategy = Strategy("s", "market", StakingPolicy.parse("flat:1"), "bet365", "1x2", NAMES)
    decision = decide(frame.head(0), strategy=strategy, bankroll=Decimal("1000"), now=T0, market_p=np.empty((0, 3)))
    assert decision.candidates == []
    assert decision.no_bet == {}

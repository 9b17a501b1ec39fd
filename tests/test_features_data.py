"""Shared data for the feature tests (no tests here): a tiny soccer league written through the real ingest writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import Engine

from betpipe.ingest.records import NormalisedBatch
from betpipe.ingest.store import write_batch

TEAMS = ("Alpha", "Bravo", "Charlie", "Delta")
START = datetime(2020, 8, 1, 15, 0, tzinfo=UTC)


def league_batch(rounds: int = 12, *, seed: int = 3, upcoming: int = 2) -> NormalisedBatch:
    """A double round robin repeated: weekly rounds, two seasons, shots for some games, odds from three books.

    The last ``upcoming`` rounds are scheduled (no result, opening prices only).
    """
    import random

    rng = random.Random(seed)
    events, results, odds = [], [], []
    pairs = [(0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2)]
    for r in range(rounds):
        a, b, c, d = pairs[r % 3]
        flip = (r // 3) % 2 == 1
        games = [(b, a), (d, c)] if flip else [(a, b), (c, d)]
        kickoff = START + timedelta(days=7 * r) + (timedelta(days=30) if r >= rounds // 2 else timedelta())
        season = "2020-2021" if r < rounds // 2 else "2021-2022"
        for g, (home, away) in enumerate(games):
            ref = f"r{r}g{g}"
            played = r < rounds - upcoming
            events.append(
                {
                    "row_ref": ref,
                    "sport": "soccer",
                    "competition_code": "TST",
                    "competition_name": "Test League",
                    "season": season,
                    "kickoff_utc": kickoff + timedelta(hours=2 * g),
                    "kickoff_time_known": True,
                    "home_team": TEAMS[home],
                    "away_team": TEAMS[away],
                    "status": "finished" if played else "scheduled",
                    "neutral_site": False,
                }
            )
            if played:
                results.append(
                    {
                        "row_ref": ref,
                        "home_score": rng.randint(0, 4),
                        "away_score": rng.randint(0, 3),
                        "home_shots": rng.randint(5, 20) if r % 2 == 0 else None,
                        "away_shots": rng.randint(3, 15) if r % 2 == 0 else None,
                    }
                )
            opened = kickoff - timedelta(days=1)
            for book, margin in (("pinnacle", 1.02), ("bet365", 1.06), ("market_max", 0.97)):
                base = (2.1, 3.4, 3.6) if home < away else (2.9, 3.3, 2.5)
                for selection, price in zip(("home", "draw", "away"), base, strict=True):
                    odds.append(
                        {
                            "row_ref": ref,
                            "bookmaker": book,
                            "market": "1x2",
                            "selection": selection,
                            "line": 0.0,
                            "price": round(price / margin, 2),
                            "kind": "opening",
                            "captured_at": opened,
                        }
                    )
                    if played:
                        odds.append(
                            {
                                "row_ref": ref,
                                "bookmaker": book,
                                "market": "1x2",
                                "selection": selection,
                                "line": 0.0,
                                "price": round(price / margin * 0.9 + 0.2, 2),
                                "kind": "closing",
                                "captured_at": kickoff,
                            }
                        )
    return NormalisedBatch(
        source="test",
        locator="test-league",
        rows_read=len(events),
        events=pl.DataFrame(events),
        results=pl.DataFrame(results),
        odds=pl.DataFrame(odds),
    )


def load_league(engine: Engine, batch: NormalisedBatch | None = None) -> None:
    with engine.begin() as conn:
        write_batch(conn, batch or league_batch(), raw_payload_id=None)

"""Bookmaker keys shared by every source, and which of them are aggregates rather than executable prices.

A market maximum or average is a statistic over many books: nobody can bet at it, and the best-of-many maximum is an
arbitrage in most recent matches. They are stored (useful as descriptive features) but flagged ``is_aggregate`` so
no betting or backtest code may ever price a bet with them.
"""

from __future__ import annotations

# football-data.co.uk column prefix -> bookmaker key
FOOTBALL_DATA_PREFIXES: dict[str, str] = {
    "B365": "bet365",
    "BW": "betandwin",
    "IW": "interwetten",
    "PS": "pinnacle",
    "P": "pinnacle",  # over/under and Asian handicap columns use P, 1X2 uses PS
    "WH": "williamhill",
    "VC": "vcbet",
    "LB": "ladbrokes",
    "SJ": "stanjames",
    "GB": "gamebookers",
    "BS": "bluesquare",
    "SB": "sportingbet",
    "SO": "sportingodds",
    "SY": "stanleybet",
    "Max": "market_max",
    "Avg": "market_avg",
    "BbMx": "betbrain_max",
    "BbAv": "betbrain_avg",
}

KNOWN_BOOKMAKERS: dict[str, tuple[str, bool]] = {
    "bet365": ("Bet365", False),
    "betandwin": ("Bet&Win", False),
    "interwetten": ("Interwetten", False),
    "pinnacle": ("Pinnacle", False),
    "williamhill": ("William Hill", False),
    "vcbet": ("VC Bet", False),
    "ladbrokes": ("Ladbrokes", False),
    "stanjames": ("Stan James", False),
    "gamebookers": ("Gamebookers", False),
    "bluesquare": ("Blue Square", False),
    "sportingbet": ("Sportingbet", False),
    "sportingodds": ("Sporting Odds", False),
    "stanleybet": ("Stanleybet", False),
    "market_max": ("Market maximum (aggregate)", True),
    "market_avg": ("Market average (aggregate)", True),
    "betbrain_max": ("BetBrain maximum (aggregate)", True),
    "betbrain_avg": ("BetBrain average (aggregate)", True),
    "consensus": ("Consensus line (aggregate)", True),
    "sample_sharp": ("Sample League sharp book", False),
    "sample_soft": ("Sample League soft book", False),
}

AGGREGATE_MARKERS = ("max", "avg", "average", "consensus", "best")


def bookmaker_info(key: str) -> tuple[str, bool]:
    """Display name and aggregate flag; unknown keys (live feeds add books) are executable books by name."""
    if key in KNOWN_BOOKMAKERS:
        return KNOWN_BOOKMAKERS[key]
    lowered = key.lower()
    is_aggregate = any(marker in lowered.split("_") for marker in AGGREGATE_MARKERS)
    return key.replace("_", " ").title(), is_aggregate


def is_aggregate(key: str) -> bool:
    return bookmaker_info(key)[1]

"""Feature definitions: small frozen objects with a name, parameters and a version derived from both and the code.

A definition only describes *what* to compute; the computation lives in the module named by ``module`` and the store
runs it. The version is a short hash of (class name, parameters JSON, source text of the defining module, the sports'
rule for when a result becomes known), so changing a parameter, the code or that rule yields a new version, and the
version is written next to every stored value. This module
never touches data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, cached_property
from typing import Any

from betpipe.sports import ResultTiming, UnknownSportError, result_rule_fingerprint, sport_rules

DEFAULT_TIMING = ResultTiming(timedelta(hours=3), "UTC")
"""For a sport ``betpipe.sports`` does not know (its features are still built): a result is known 3 h after kickoff,
or 3 h after the end of its UTC day when the kickoff time is unknown."""


def result_timing(sport: str) -> ResultTiming:
    """When a result becomes known: ``betpipe.sports``' one rule with the sport's duration and day zone."""
    try:
        return sport_rules(sport).timing
    except UnknownSportError:
        return DEFAULT_TIMING


def has_draws(sport: str) -> bool:
    try:
        return sport_rules(sport).draws
    except UnknownSportError:
        return False


@cache
def _module_source(module_name: str) -> str:
    module = sys.modules[module_name]
    try:
        return inspect.getsource(module)
    except (OSError, TypeError):  # frozen or source-less installs: the version then follows parameters only
        return ""


@dataclass(frozen=True)
class FeatureDefinition:
    """Base: subclasses are frozen dataclasses whose fields are the parameters."""

    name: str = "base"
    module: str = "betpipe.features.definitions"

    @property
    def parameters(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in {"name", "module"}}

    @cached_property
    def version(self) -> str:
        import importlib

        importlib.import_module(self.module)
        blob = json.dumps(
            [
                type(self).__name__,
                self.parameters,
                _module_source(self.module),
                _module_source(__name__),
                result_rule_fingerprint(),  # when results become known changes every state timeline
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "class": type(self).__name__, "version": self.version, "parameters": self.parameters}


@dataclass(frozen=True)
class Elo(FeatureDefinition):
    """Pre-game Elo ratings of both sides, their difference with home advantage, and expected results.

    ``mov`` is the margin-of-victory multiplier: "goals" (World Football Elo: 1, 1.5, (11+gd)/8), "log"
    (FiveThirtyEight NFL: ln(|margin|+1) damped by the winner's rating edge) or "none". ``regress`` pulls a team
    towards ``mean`` by that share when it starts a new season. ``draw_width`` (Elo points; 0 = off) gives the
    draw-aware variant: p(home win) = 1/(1+10^((w-d)/400)), p(away win) = 1/(1+10^((w+d)/400)), the rest a draw.
    """

    name: str = "elo"
    module: str = "betpipe.features.elo"
    k: float = 20.0
    home_advantage: float = 65.0
    mov: str = "goals"
    regress: float = 0.2
    mean: float = 1500.0
    initial: float = 1500.0
    draw_width: float = 100.0


@dataclass(frozen=True)
class Form(FeatureDefinition):
    """Rolling (last n games) and exponentially weighted (span n) means of per-game team stats, plus the same
    rolling means over only the team's home games (for the home side) or away games (for the away side)."""

    name: str = "form"
    module: str = "betpipe.features.form"
    windows: tuple[int, ...] = (5, 10, 20)
    stats: tuple[str, ...] = ("gf", "ga", "pts")


@dataclass(frozen=True)
class Schedule(FeatureDefinition):
    """Rest days since the previous game, back-to-back and short-rest flags, games in the last 7/14 days."""

    name: str = "schedule"
    module: str = "betpipe.features.schedule"
    short_rest_days: float = 4.0
    back_to_back_days: float = 1.5
    spans_days: tuple[int, ...] = (7, 14)


@dataclass(frozen=True)
class Market(FeatureDefinition):
    """Margin-free pre-match probabilities averaged over executable books, overround and the books' spread.

    Only kinds ``opening`` and ``live`` captured strictly before the as-of instant (and before kickoff) count;
    closing and in-play prices and aggregate books (max/avg/consensus) never do.
    """

    name: str = "market"
    module: str = "betpipe.features.market"
    market: str = "1x2"
    method: str = "shin"
    kinds: tuple[str, ...] = ("opening", "live")


SOCCER_STATS = ("gf", "ga", "pts", "sf", "sa", "stf", "sta", "cf", "ca")
"""goals for/against, league points, shots, shots on target and corners for/against."""


@cache
def default_feature_set(sport: str) -> tuple[FeatureDefinition, ...]:
    """The definitions built for ``sport``; unknown sports get soccer-like scoring without draws."""
    if sport == "soccer":
        return (Elo(), Form(stats=SOCCER_STATS), Schedule(short_rest_days=3.5), Market(market="1x2"))
    if sport == "american_football":
        return (
            Elo(k=20.0, home_advantage=48.0, mov="log", regress=1 / 3, draw_width=0.0),
            Form(),
            Schedule(short_rest_days=6.0),
            Market(market="moneyline"),
        )
    return (Elo(mov="log", draw_width=0.0), Form(), Schedule(), Market(market="moneyline"))


FEATURE_DEFINITIONS: Mapping[str, tuple[FeatureDefinition, ...]] = {
    sport: default_feature_set(sport) for sport in ("soccer", "american_football")
}


@cache
def feature_set_version(definitions: tuple[FeatureDefinition, ...]) -> str:
    """The version of a whole set: changes whenever any member's version does."""
    blob = json.dumps([(d.name, d.version) for d in definitions])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def list_definitions() -> list[dict[str, Any]]:
    """Every sport's definitions with versions and parameters, for ``betpipe features list``."""
    return [
        {"sport": sport, "feature_set_version": feature_set_version(definitions), **definition.describe()}
        for sport, definitions in FEATURE_DEFINITIONS.items()
        for definition in definitions
    ]

"""The model of the close, live: trained on every match whose close is known, registered in the model registry like
every model (a hashed artifact, lineage, champion alias of soccer / ``close_1x2``), and loaded by the live run to
price upcoming events at their decision instant from the store.

The decision-time inputs are ``features.close_rows.target_frame``'s, the very rows the backtest's walk-forward
prices (each book's pre-match quotes captured at or before the decision instant; Elo as of it), so a promoted
strategy with ``model="close_model"`` decides live as it did in its backtest. Never trains on a match that had not
kicked off by the cut-off, never reads a closing price as an input, never loads an artifact from outside the
registry, and never falls back to the pre-match price for an event it cannot price (NaN: the decision counts it).

One ``ModelCache`` per database and artifact directory serves every call in the process (``shared_close_cache``): the
live run and ``/opportunities`` verify and deserialise the champion's artifact once, and the cache's per-call alias
lookup hot-swaps it the first call after a promotion (the scheduler's ``close_retrain`` job or a hand promote).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.clock import SYSTEM_CLOCK, Clock, as_utc_instant
from betpipe.config import Settings
from betpipe.features.close_inputs import load_prematch_quotes
from betpipe.features.close_rows import has_sharp_price, history_frame, labelled_rows, target_frame
from betpipe.modeling._base import FloatArray
from betpipe.modeling.close_model import MIN_TRAIN_ROWS, CloseModel, design_for
from betpipe.registry import CHAMPION, ModelCache, ModelVersion, TrainingLineage, promote, register_model

__all__ = [
    "CLOSE_MARKET",
    "CLOSE_MODEL",
    "DEFAULT_L2",
    "close_history",
    "close_loss_difference",
    "live_close_probabilities",
    "shared_close_cache",
    "train_close_model",
]

CLOSE_MARKET = "close_1x2"
"""The registry market of the model of the close: apart from ``1x2`` so it never becomes the results champion."""
CLOSE_MODEL = CloseModel.name
"""A strategy's ``model`` naming the model of the close (``StrategySpec(source="model", model="close_model")``)."""
DEFAULT_L2 = 0.1  # frozen on the tuning seasons 2013-14 .. 2015-16 (backtest.close_judge.DEFAULT_L2)
_SHARED_DATABASES = 4  # caches kept per process: one in the live run and the service; a test process makes many
_SHARED: OrderedDict[tuple[str, str], tuple[Engine, ModelCache]] = OrderedDict()
_SHARED_LOCK = threading.Lock()


def shared_close_cache(engine: Engine, settings: Settings) -> ModelCache:
    """The process's one ``ModelCache`` for this database and artifact directory, so a champion is verified and
    loaded once, not on every betting run or ``/opportunities`` request. Keyed by the engine's URL; a new engine for
    the same URL (a disposed one replaced) gets a new cache rather than queries through the old engine's pool."""
    key = (str(engine.url), str(settings.artifact_dir.resolve()))
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is not None and found[0] is engine:
            _SHARED.move_to_end(key)
            return found[1]
        cache = ModelCache(engine, settings, max_models=2)  # the champion and the one it replaced (a rollback)
        _SHARED[key] = (engine, cache)
        _SHARED.move_to_end(key)
        while len(_SHARED) > _SHARED_DATABASES:
            _SHARED.popitem(last=False)
        return cache


def close_history(engine: Engine, settings: Settings, competitions: Sequence[str] | None = None) -> pl.DataFrame:
    """Every soccer match with its close labels and its inputs at its first sharp pre-match quote: what the model
    trains on and what a refit is compared on (``features.close_rows.history_frame``); the slow read of the store."""
    return history_frame(engine, settings, competitions, load_prematch_quotes(engine, "soccer"))


def train_close_model(
    engine: Engine,
    settings: Settings,
    *,
    competitions: Sequence[str] | None = None,
    until: datetime | None = None,
    method: str = "multiplicative",
    l2: float = DEFAULT_L2,
    make_champion: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    history: pl.DataFrame | None = None,
) -> ModelVersion:
    """Fit on every labelled match that kicked off before ``until`` (default: now) and register it; champion of
    soccer / ``close_1x2`` unless ``make_champion`` is off. ValueError (one line) when there is too little to fit.
    ``history``: ``close_history`` already read for ``competitions`` (the retrain job reads the store once)."""
    from betpipe.live.training import data_hash

    cutoff = as_utc_instant(until if until is not None else clock.now())
    if history is None:
        history = close_history(engine, settings, competitions)
    before = history.select(pl.col("kickoff_utc") < pl.lit(cutoff)).to_series().to_numpy()
    rows = np.flatnonzero(labelled_rows(history).to_numpy() & before)
    if rows.size < MIN_TRAIN_ROWS:
        raise ValueError(
            f"close_model: {rows.size} matches with sharp pre-match and closing prices kicked off before "
            f"{cutoff.isoformat()}; need {MIN_TRAIN_ROWS}"
        )
    model = CloseModel(method=method, l2=l2).fit_design(design_for(history, method, with_target=True), rows)
    played = history[rows.tolist()]
    kickoffs = played.get_column("kickoff_utc")
    lineage = TrainingLineage(
        start=kickoffs.min(),  # type: ignore[arg-type]
        end=kickoffs.max(),  # type: ignore[arg-type]
        row_count=played.height,
        data_hash=data_hash(played),
        feature_set_versions={"close_inputs": "1"},
    )
    version = register_model(
        engine, model, model_type=CloseModel.name, sport="soccer", market=CLOSE_MARKET, training=lineage,
        metrics={"train_rows": model.train_rows_}, settings=settings,
        params={"model_name": CloseModel.name, "method": method, "l2": l2, "until": cutoff.isoformat()}, clock=clock,
    )  # fmt: skip
    if make_champion and CHAMPION not in version.aliases:
        promote(engine, version.id, CHAMPION, reason="betpipe close-model train", actor="close-model train")
    return version


def live_close_probabilities(
    engine: Engine, settings: Settings, frame: pl.DataFrame, *, cache: ModelCache | None = None
) -> tuple[FloatArray, int]:
    """(predicted close per row of ``frame``, the registered version's id): ``frame`` has event_id, competition,
    kickoff_utc and decided_at (the price's capture instant, the decision instant). A row without a sharp pre-match
    price at its decision is NaN. No registered close model: ``RegistryError`` (the caller says so in one line).
    Without ``cache``, the process's ``shared_close_cache``: the artifact is verified and loaded once per champion."""
    from betpipe.features.decision import decision_features  # the feature store's as-of Elo at a decision instant

    loaded = (cache if cache is not None else shared_close_cache(engine, settings)).get_champion("soccer", CLOSE_MARKET)
    if frame.height == 0:
        return np.empty((0, 3)), loaded.version.id
    keys = frame.select("event_id", "competition", "kickoff_utc", "decided_at")
    ids = [int(e) for e in keys.get_column("event_id").to_list()]
    elo = decision_features(
        engine, sport="soccer", event_ids=ids, decided_at=keys.get_column("decided_at").to_list(), settings=settings
    )
    target = target_frame(keys, elo, load_prematch_quotes(engine, "soccer", ids))
    model = loaded.model
    if not isinstance(model, CloseModel):
        raise ValueError(f"soccer/{CLOSE_MARKET} champion is a {type(model).__name__}, not a close model")
    p = np.array(model.predict_proba(target), dtype=np.float64)
    p[~has_sharp_price(target).to_numpy()] = np.nan
    return p, loaded.version.id


def close_loss_difference(
    engine: Engine,
    settings: Settings,
    champion: ModelVersion,
    challenger: ModelVersion,
    *,
    after: datetime,
    before: datetime,
    history: pl.DataFrame | None = None,
) -> tuple[int, float, float] | None:
    """(matches, mean paired cross-entropy challenger − champion against the margin-free close, its standard error)
    on every match kicked off in (``after``, ``before``) with a sharp pre-match price and a close; None for fewer than
    two. The close model's own target plays the part log loss plays for an outcome model in the retrain's gate.
    ``history``: ``close_history`` of every competition, when the caller has read it already."""
    if history is None:
        history = close_history(engine, settings)
    kickoff = pl.col("kickoff_utc")
    window = history.select((kickoff > pl.lit(as_utc_instant(after))) & (kickoff < pl.lit(as_utc_instant(before))))
    rows = history.filter(labelled_rows(history) & window.to_series() & has_sharp_price(history))
    if rows.height < 2:
        return None
    cache = shared_close_cache(engine, settings)
    models = [cache.get(version.id).model for version in (champion, challenger)]
    if not all(isinstance(model, CloseModel) for model in models):
        raise ValueError(f"soccer/{CLOSE_MARKET}: versions {champion.id} and {challenger.id} must both be close models")
    method = str(getattr(models[1], "method", "multiplicative"))
    close = design_for(rows, method, with_target=True).target
    losses = [-(close * np.log(np.clip(model.predict_proba(rows), 1e-15, 1.0))).sum(axis=1) for model in models]
    paired = losses[1] - losses[0]
    paired = paired[np.isfinite(paired)]
    if paired.size < 2:
        return None
    return int(paired.size), float(paired.mean()), float(paired.std(ddof=1) / np.sqrt(paired.size))

"""The fast evaluation path (fit cache, worker processes) gives exactly what the straightforward one gives.

The straightforward path is the one the evaluation used before issue 17: every spec walked forward on its own, every
LightGBM fit done again. Equality is exact (array_equal, frame equality), not approximate: the tables must not move.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from betpipe.modeling import default_specs, evaluate_frame, evaluation_rows, labels_from_outcome
from betpipe.modeling.evalrun import spec_groups
from betpipe.modeling.fitcache import cached, fingerprint, fit_cache
from betpipe.modeling.synthetic import synthetic_matrix
from betpipe.modeling.walkforward import walk_forward_predict
from betpipe.sports import sport_rules
from betpipe.threads import configured_threads

FIRST = "2013-2014"


@pytest.fixture(scope="module")
def soccer() -> pl.DataFrame:
    return synthetic_matrix(seasons=5, teams=12, seed=11).sort("kickoff_utc", "event_id")


@pytest.fixture(scope="module")
def fast(soccer: pl.DataFrame) -> object:
    return evaluate_frame(soccer, sport="soccer", first_season=FIRST)


def test_cached_in_process_path_equals_every_spec_refitted_alone(soccer: pl.DataFrame, fast: object) -> None:
    report = fast
    labelled, scored = evaluation_rows(soccer, sport="soccer", first_season=FIRST)
    assert scored.sum() == report.rows  # type: ignore[attr-defined]
    assert len(report.seasons) == 2  # type: ignore[attr-defined]  # fits are reused across seasons too
    y = np.where(labelled, labels_from_outcome(soccer.get_column("outcome").to_numpy(), 3), -1)
    for spec in default_specs("soccer"):  # no fit cache here: each spec pays for all its own fits
        alone = walk_forward_predict(
            spec,
            soccer,
            y,
            labelled=labelled,
            predict_mask=scored,
            n_outcomes=3,
            result_delay_hours=sport_rules("soccer").result_delay_hours,
        )
        assert np.array_equal(alone.probabilities, report.predictions[spec.name]), spec.name  # type: ignore[attr-defined]


def test_worker_processes_give_the_same_report(soccer: pl.DataFrame, fast: object) -> None:
    # Workers default to one LightGBM thread each; the in-process report fitted with every CPU's thread.
    assert configured_threads() > 1 or pytest.skip("needs 2 CPUs to compare thread counts")
    parallel = evaluate_frame(soccer, sport="soccer", first_season=FIRST, workers=2)
    assert_frame_equal(parallel.table, fast.table)  # type: ignore[attr-defined]
    assert_frame_equal(parallel.by_competition, fast.by_competition)  # type: ignore[attr-defined]
    assert parallel.notes == fast.notes  # type: ignore[attr-defined]
    assert list(parallel.predictions) == list(fast.predictions)  # type: ignore[attr-defined]


def test_workers_refuse_specs_they_cannot_rebuild(soccer: pl.DataFrame) -> None:
    from betpipe.modeling import BaseRateModel, ModelSpec

    specs = [*default_specs("soccer")[:2], ModelSpec("my_rates", BaseRateModel)]
    with pytest.raises(ValueError, match="my_rates"):
        evaluate_frame(soccer, sport="soccer", specs=specs, first_season=FIRST, workers=2)


def test_fit_cache_reuses_only_identical_inputs_and_only_inside_its_block() -> None:
    calls: list[int] = []

    def fit() -> list[int]:
        calls.append(1)
        return [len(calls)]

    a = np.arange(6.0)
    key = lambda: fingerprint("x", {"p": 1}, a)  # noqa: E731
    assert cached(key, fit) is not cached(key, fit)  # no block: every fit runs
    with fit_cache() as cache:
        first = cached(key, fit)
        assert cached(key, fit) is first
        cached(lambda: fingerprint("x", {"p": 1}, a + 1e-12), fit)  # one bit different: fitted again
        cached(lambda: fingerprint("x", {"p": 2}, a), fit)  # other settings: fitted again
    assert (cache.hits, cache.misses) == (1, 3)
    assert len(calls) == 5


def test_gbm_family_shares_one_task_and_the_slowest_tasks_start_first() -> None:
    groups = [[s.name for s in g] for g in spec_groups(default_specs("soccer"))]
    assert ["gbm", "blend_gbm_avg_market", "blend_gbm_pinnacle_pre"] in groups
    assert groups[0] == ["dixon_coles"]


def test_evaluate_bar_shows_time_remaining() -> None:
    from rich.progress import TimeRemainingColumn

    from betpipe.cli._common import progress_display

    assert any(isinstance(c, TimeRemainingColumn) for c in progress_display(eta=True).columns)
    assert not any(isinstance(c, TimeRemainingColumn) for c in progress_display().columns)


def test_lightgbm_fit_is_the_same_bits_on_one_thread_or_two(soccer: pl.DataFrame) -> None:
    """Why the evaluation's workers may fit with one thread each: deterministic row-wise fits ignore the count."""
    from betpipe.modeling import GradientBoostingModel

    played = soccer.filter(pl.col("outcome").is_not_null())
    y = labels_from_outcome(played.get_column("outcome").to_numpy(), 3)
    one, two = (GradientBoostingModel(n_estimators=40, num_threads=n).fit(played, y) for n in (1, 2))
    trees = [m.booster_.model_to_string().split("parameters:")[0] for m in (one, two)]
    assert trees[0] == trees[1]
    assert np.array_equal(one.predict_proba(played), two.predict_proba(played))


def test_a_spec_reading_named_columns_predicts_as_on_the_whole_matrix(soccer: pl.DataFrame) -> None:
    """``ModelSpec.columns`` only narrows what is sliced per refit: the same predictions, fewer columns copied."""
    from dataclasses import replace

    spec = next(s for s in default_specs("soccer") if s.name == "dixon_coles")
    assert spec.columns is not None
    assert "neutral_site" in spec.columns
    labelled, scored = evaluation_rows(soccer, sport="soccer", first_season=FIRST)
    y = np.where(labelled, labels_from_outcome(soccer.get_column("outcome").to_numpy(), 3), -1)
    args = {"labelled": labelled, "predict_mask": scored, "n_outcomes": 3, "result_delay_hours": 2.0}
    narrow = walk_forward_predict(spec, soccer, y, **args)  # type: ignore[arg-type]
    whole = walk_forward_predict(replace(spec, columns=None), soccer, y, **args)  # type: ignore[arg-type]
    assert np.array_equal(narrow.probabilities, whole.probabilities)
    assert np.array_equal(narrow.fallback, whole.fallback)
    with pytest.raises(pl.exceptions.ColumnNotFoundError):  # a list missing a column the model reads fails loudly
        walk_forward_predict(replace(spec, columns=("home_score", "away_score")), soccer, y, **args)  # type: ignore[arg-type]

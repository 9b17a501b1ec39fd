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
    parallel = evaluate_frame(soccer, sport="soccer", first_season=FIRST, workers=2, threads=configured_threads())
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

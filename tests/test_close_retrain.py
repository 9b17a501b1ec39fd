"""The model of the close on the scheduler, and loaded once (issue 16's follow-up): the ``close_retrain`` job refits
and registers it only while the live strategy prices with it (or ``scheduler.close_retrain = on``), never with
``off``, promotes a refit only through the outcome retrain's champion/challenger gate, is recorded in ``job_runs``
and alerted when it fails like every job, and is quiet; the live run loads the champion's artifact once per process
(verified) and again only after a promotion.

Real components: a 20-team sample league in SQLite (its generated opening and closing prices), the feature store,
the registry, the scheduler's ``run_once`` / ``build_scheduler`` and the live betting run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from betpipe.backtest import UNCAPPED_LIMITS
from betpipe.betting.strategy_spec import StrategySpec
from betpipe.clock import FixedClock
from betpipe.config import SchedulerSettings, Settings
from betpipe.db import make_engine, upgrade
from betpipe.db.schema_jobs import job_runs
from betpipe.features.store import build_features
from betpipe.ingest.sample_league import SampleLeagueConfig, ingest_sample
from betpipe.live.betting_run import betting_run
from betpipe.live.close_source import CLOSE_MARKET, shared_close_cache, train_close_model
from betpipe.live.prices import next_matchday_eve
from betpipe.live.scheduler import JOBS, build_scheduler, intervals, run_once
from betpipe.monitoring.alerts import list_alerts
from betpipe.registry import CHALLENGER, CHAMPION, alias_version, list_versions, promote
from betpipe.registry.artifacts import FILES_DIR
from betpipe.registry.strategies import promote_strategy, store_strategy
from pipeline_store import live_settings

LEAGUE = SampleLeagueConfig(n_teams=20, n_seasons=2, n_upcoming_matchdays=2)  # 760 matches: enough closes to fit
CLOSE = StrategySpec(
    source="model", model="close_model", books=("sample_soft",), sharp_book="sample_sharp", staking="flat:1",
    min_edge=0.0, limits=UNCAPPED_LIMITS,
)  # fmt: skip
MARKET_ONLY = replace(CLOSE, source="market")
BETPIPE = Path(sys.executable).with_name("betpipe")


@dataclass(frozen=True)
class Store:
    engine: Engine
    settings: Settings
    eve: datetime  # the live "now": an hour before the next matchday's first kickoff


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datetime]:
    """One ingested sample league with its feature build, copied per test (the ingest is the slow part)."""
    directory = tmp_path_factory.mktemp("close_retrain_template")
    url = f"sqlite:///{directory / 'betpipe.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    ingest_sample(engine, LEAGUE)
    build_features(engine, sport="soccer", settings=live_settings(url, directory))
    eve = next_matchday_eve(engine, "soccer")
    engine.dispose()
    assert eve is not None
    return directory, eve


def _store(template: tuple[Path, datetime], tmp_path: Path, **scheduler: object) -> Iterator[Store]:
    source, eve = template
    directory = tmp_path / "store"
    shutil.copytree(source, directory)
    url = f"sqlite:///{directory / 'betpipe.sqlite'}"
    settings = live_settings(url, directory)
    settings = settings.model_copy(update={"scheduler": SchedulerSettings(**scheduler)})  # type: ignore[arg-type]
    engine = make_engine(url)
    yield Store(engine, settings, eve)
    engine.dispose()


@pytest.fixture
def store(template: tuple[Path, datetime], tmp_path: Path) -> Iterator[Store]:
    yield from _store(template, tmp_path)


def _live_close_strategy(engine: Engine) -> None:
    promote_strategy(engine, store_strategy(engine, CLOSE).version, reason="test")


def _close_versions(engine: Engine) -> list[int]:
    return [v.id for v in list_versions(engine, sport="soccer", market=CLOSE_MARKET)]


def _recorded(engine: Engine) -> list[tuple[str, str, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(job_runs.c.job, job_runs.c.status, job_runs.c.rows).order_by(job_runs.c.id))
        return [(str(job), str(status), rows_) for job, status, rows_ in rows]


def test_the_close_retrain_job_registers_a_version_is_recorded_and_is_quiet(store: Store) -> None:
    """``betpipe run --once --job close_retrain`` as deployed (default log level): fails if the job does not train
    while a close-model strategy is live, registers nothing, is not in job_runs, or logs / warns on stderr."""
    _live_close_strategy(store.engine)
    assert _close_versions(store.engine) == []
    env = {k: v for k, v in os.environ.items() if not k.startswith("BETPIPE_")}
    env |= {
        "BETPIPE_DATABASE_URL": str(store.engine.url),
        "BETPIPE_DATA_DIR": str(store.settings.data_dir),
        "BETPIPE_PIPELINE__SOURCE": "none",
        "BETPIPE_RISK__MAX_PRICE_AGE_SECONDS": str(store.settings.risk.max_price_age_seconds),
    }
    command = [str(BETPIPE), "run", "--once", "--job", "close_retrain", "--as-of", store.eve.isoformat()]
    done = subprocess.run(command, env=env, cwd=store.settings.data_dir, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert "close_retrain" in done.stdout
    (version_id,) = _close_versions(store.engine)
    champion = alias_version(store.engine, "soccer", CLOSE_MARKET, CHAMPION)
    assert champion is not None
    assert champion.id == version_id  # no champion yet: the gate's first rule
    cutoff = store.eve - timedelta(days=store.settings.pipeline.retrain_holdout_days)
    assert champion.lineage.end < cutoff  # trained on matches kicked off before now - holdout only
    assert _recorded(store.engine) == [("close_retrain", "succeeded", 1)]
    with store.engine.connect() as conn:
        details = conn.execute(select(job_runs.c.details)).scalar_one()
    assert details["challenger"] == version_id
    assert details["promoted"] is True


def test_a_refit_without_out_of_sample_evidence_stays_challenger(store: Store) -> None:
    """Fails if the job replaces a champion with no played matches after both training ranges (the outcome
    retrain's rule), or does not make the refit the challenger; the monitoring cycle then checks it cleanly."""
    _live_close_strategy(store.engine)
    by_hand = train_close_model(store.engine, store.settings, until=store.eve)  # `close-model train`: up to now
    (run,) = run_once(store.engine, store.settings, FixedClock(store.eve), jobs=["close_retrain"])
    assert run.status == "succeeded", run.error
    assert run.details is not None
    assert run.details["promoted"] is False
    assert run.details["why"] == "no played events after both training ranges"
    refit = run.details["challenger"]
    assert _close_versions(store.engine) == [refit, by_hand.id]  # newest first
    assert alias_version(store.engine, "soccer", CLOSE_MARKET, CHAMPION).id == by_hand.id  # type: ignore[union-attr]
    assert alias_version(store.engine, "soccer", CLOSE_MARKET, CHALLENGER).id == refit  # type: ignore[union-attr]
    monitored = run_once(store.engine, store.settings, FixedClock(store.eve), jobs=["monitoring"], stages=JOBS)[0]
    assert monitored.status == "succeeded", monitored.error
    assert monitored.details is not None
    assert monitored.details["step_errors"] == 0, monitored.details  # drift of a close challenger is checked too


def test_a_refit_that_beats_the_champion_on_later_closes_with_a_ci_below_zero_is_promoted(store: Store) -> None:
    """The champion here is the prior "close = pre-match" (a huge l2) trained two months earlier; the refit forecasts
    the later closes better, so its paired cross-entropy CI lies below 0 and the gate promotes it. Fails if the gate
    compares on in-sample rows, on the wrong target, or ignores the CI."""
    _live_close_strategy(store.engine)
    holdout = timedelta(days=store.settings.pipeline.retrain_holdout_days)
    old = train_close_model(store.engine, store.settings, until=store.eve - holdout - timedelta(days=60), l2=1e6)
    (run,) = run_once(store.engine, store.settings, FixedClock(store.eve), jobs=["close_retrain"])
    assert run.status == "succeeded", run.error
    details = run.details
    assert details is not None
    assert details["rows"] >= 20
    assert details["cross_entropy_diff"] < details["ci_high"] < 0
    assert details["promoted"] is True
    champion = alias_version(store.engine, "soccer", CLOSE_MARKET, CHAMPION)
    assert champion is not None
    assert champion.id == details["challenger"] != old.id


@pytest.mark.parametrize(
    ("mode", "close_strategy_live", "trains"),
    [
        pytest.param("off", True, False, id="off-even-with-a-close-model-strategy-live"),
        pytest.param("auto", False, False, id="auto-without-a-close-model-strategy"),
        pytest.param("on", False, True, id="on-without-a-close-model-strategy"),
    ],
)
def test_scheduler_close_retrain_decides_whether_the_job_trains(
    template: tuple[Path, datetime], tmp_path: Path, mode: str, close_strategy_live: bool, trains: bool
) -> None:
    """Fails if ``off`` still trains, ``auto`` trains for a strategy that does not use the model, or ``on`` waits
    for one; a skipped run is still recorded, touching nothing."""
    for store in _store(template, tmp_path, close_retrain=mode):
        if close_strategy_live:
            _live_close_strategy(store.engine)
        else:
            promote_strategy(store.engine, store_strategy(store.engine, MARKET_ONLY).version, reason="test")
        (run,) = run_once(store.engine, store.settings, FixedClock(store.eve), jobs=["close_retrain"])
        assert run.status == "succeeded", run.error
        assert run.details is not None
        assert (len(_close_versions(store.engine)) == 1) is trains
        assert ("skipped" in run.details) is not trains
        assert run.rows == (1 if trains else 0)
        assert _recorded(store.engine) == [("close_retrain", "succeeded", run.rows)]


def test_the_job_runs_at_its_own_interval(store: Store) -> None:
    settings = store.settings.model_copy(update={"scheduler": SchedulerSettings(close_retrain_days=3.5)})
    assert intervals(settings)["close_retrain"] == timedelta(days=3.5)
    assert intervals(store.settings)["close_retrain"] == timedelta(days=7)
    jobs = {job.id: job for job in build_scheduler(store.engine, settings, FixedClock(store.eve)).get_jobs()}
    assert jobs["close_retrain"].args == ("close_retrain",)
    assert jobs["close_retrain"].trigger.interval == timedelta(days=3.5)


def test_a_store_too_small_to_train_fails_the_job_and_raises_an_alert(sqlite_engine: Engine, tmp_path: Path) -> None:
    """Fails if a close-model strategy is live and the model cannot be refitted, yet nobody hears of it."""
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    ingest_sample(sqlite_engine, SampleLeagueConfig(n_teams=8, n_seasons=2, n_upcoming_matchdays=1))
    build_features(sqlite_engine, sport="soccer", settings=settings)
    eve = next_matchday_eve(sqlite_engine, "soccer")
    assert eve is not None
    _live_close_strategy(sqlite_engine)
    (run,) = run_once(sqlite_engine, settings, FixedClock(eve), jobs=["close_retrain"])
    assert run.status == "failed"
    assert run.error is not None
    assert "need 300" in run.error
    assert _recorded(sqlite_engine) == [("close_retrain", "failed", None)]
    assert any(a.kind == "job_failed" and "close_retrain" in a.title for a in list_alerts(sqlite_engine))


def test_the_live_run_loads_the_close_champion_once_and_again_only_after_a_promotion(store: Store) -> None:
    """Two betting runs share one verified load; a promotion hot-swaps on the next run; a tampered artifact is
    refused before deserialising. Fails if ``live_close_probabilities`` builds a cache per call again."""
    _live_close_strategy(store.engine)
    first = train_close_model(store.engine, store.settings, until=store.eve - timedelta(days=30))
    cache = shared_close_cache(store.engine, store.settings)
    assert cache.loads == 0
    clock = FixedClock(store.eve)
    for _ in range(2):
        decided = betting_run(store.engine, store.settings, clock, dry_run=True).opportunities
        assert decided.decision.candidates, decided.reason
        assert {c.model_version for c in decided.decision.candidates} == {first.id}
    assert shared_close_cache(store.engine, store.settings) is cache
    assert cache.loads == 1
    loaded = cache.get_champion("soccer", CLOSE_MARKET).model
    assert cache.get_champion("soccer", CLOSE_MARKET).model is loaded
    assert cache.loads == 1

    second = train_close_model(store.engine, store.settings, until=store.eve)  # promoted (champion by default)
    after = betting_run(store.engine, store.settings, clock, dry_run=True).opportunities
    assert {c.model_version for c in after.decision.candidates} == {second.id}
    assert cache.loads == 2
    assert cache.get_champion("soccer", CLOSE_MARKET).model is not loaded

    third = train_close_model(store.engine, store.settings, until=store.eve - timedelta(days=10), make_champion=False)
    [weights] = (store.settings.artifact_dir / third.artifact_sha256 / FILES_DIR).glob("*.npz")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.chmod(0o644)
    weights.write_bytes(bytes(data))
    promote(store.engine, third.id, CHAMPION, reason="test", actor="test")
    refused = betting_run(store.engine, store.settings, clock, dry_run=True).opportunities
    assert not refused.decision.candidates
    assert "was modified" in refused.reason
    assert cache.loads == 2


def test_the_job_refits_registers_and_gates_on_each_backend(engine: Engine, database_url: str, tmp_path: Path) -> None:
    """PostgreSQL is the deployed store: the job, the registry writes and the gate's comparison run on it too."""
    settings = live_settings(database_url, tmp_path)
    ingest_sample(engine, LEAGUE)
    build_features(engine, sport="soccer", settings=settings)
    eve = next_matchday_eve(engine, "soccer")
    assert eve is not None
    _live_close_strategy(engine)
    old = train_close_model(engine, settings, until=eve - timedelta(days=90), l2=1e6)
    (run,) = run_once(engine, settings, FixedClock(eve), jobs=["close_retrain"])
    assert run.status == "succeeded", run.error
    assert run.details is not None
    assert run.details["promoted"] is True, run.details
    assert _close_versions(engine) == [run.details["challenger"], old.id]
    assert _recorded(engine) == [("close_retrain", "succeeded", 1)]

"""The model registry: verified content-addressed artifacts, lineage, aliases, rollback, comparison, shadow scores."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select

from betpipe.config import Settings
from betpipe.db.schema import events, metadata, teams
from betpipe.db.schema_registry import model_versions
from betpipe.ingest.records import NormalisedBatch
from betpipe.ingest.store import write_batch
from betpipe.registry import (
    CHALLENGER,
    CHAMPION,
    ArtifactIntegrityError,
    ModelCache,
    NoPreviousChampionError,
    PersistableModel,
    RegistryError,
    TrainingLineage,
    UnsafeArtifactError,
    alias_history,
    champion,
    compare_versions,
    list_versions,
    load_model,
    promote,
    record_shadow_predictions,
    register_model,
    rollback,
    shadow_report,
    show_version,
)
from betpipe.registry.artifacts import FILES_DIR, MANIFEST_NAME, canonical_npz
from betpipe.registry.compare import fallback_metrics

FEATURES = ("f_a", "f_b", "f_c")
REGISTRY_TABLES = ("model_versions", "model_aliases", "model_alias_history", "shadow_predictions")


class TinySoftmax:
    """A 3-way softmax-of-class-means model that persists like the modeling package's models: JSON + npz only."""

    loads: ClassVar[int] = 0

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = temperature
        self.weights_ = np.zeros((len(FEATURES), 3))

    def get_params(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def fit(self, X: pl.DataFrame, y: Any) -> Self:
        matrix, labels = X.select(FEATURES).to_numpy(), np.asarray(y)
        self.weights_ = np.column_stack([matrix[labels == k].mean(axis=0) for k in range(3)])
        return self

    def predict_proba(self, X: pl.DataFrame) -> np.ndarray[Any, Any]:
        scores = X.select(FEATURES).to_numpy() @ self.weights_ / self.temperature
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        result: np.ndarray[Any, Any] = exp / exp.sum(axis=1, keepdims=True)
        return result

    def save_artifact(self, directory: Path) -> None:
        (directory / "params.json").write_text(json.dumps(self.get_params(), sort_keys=True))
        np.savez(directory / "weights.npz", weights=self.weights_)  # stamps the wall clock into the zip

    @classmethod
    def load_artifact(cls, directory: Path) -> Self:
        cls.loads += 1
        model = cls(**json.loads((directory / "params.json").read_text()))
        with np.load(directory / "weights.npz", allow_pickle=False) as data:
            model.weights_ = np.asarray(data["weights"])
        return model


class PickleWriter(TinySoftmax):
    def save_artifact(self, directory: Path) -> None:
        super().save_artifact(directory)
        (directory / "extra.pkl").write_bytes(b"\x80\x04N.")


CLASSES: dict[str, type[PersistableModel]] = {"tiny": TinySoftmax}


def _data(seed: int, rows: int = 300) -> tuple[pl.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({name: rng.normal(size=rows) for name in FEATURES})
    labels = rng.integers(0, 3, size=rows)
    return frame, labels


def _lineage(data_hash: str = "sha256:abc") -> TrainingLineage:
    return TrainingLineage(
        start=datetime(2015, 8, 1, tzinfo=UTC),
        end=datetime(2022, 5, 31, tzinfo=UTC),
        row_count=300,
        data_hash=data_hash,
        feature_set_versions={"elo": "e1f2", "form": "a9b8"},
        seasons=("2015-2016", "2021-2022"),
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def _register(engine: Engine, settings: Settings, seed: int, temperature: float = 1.0) -> tuple[int, TinySoftmax]:
    frame, labels = _data(seed)
    model = TinySoftmax(temperature).fit(frame, labels)
    version = register_model(
        engine,
        model,
        model_type="tiny",
        sport="soccer",
        market="1x2",
        training=_lineage(f"sha256:{seed}"),
        metrics={"log_loss": 1.05 + seed / 100},
        settings=settings,
    )
    return version.id, model


def _artifact_dirs(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.artifact_dir.iterdir() if not p.name.startswith("."))


def test_a_registered_model_loads_back_with_bit_identical_predictions(engine: Engine, settings: Settings) -> None:
    version_id, model = _register(engine, settings, seed=1)
    frame, _ = _data(99)
    loaded = load_model(engine, version_id, settings, model_classes=CLASSES)
    assert loaded.predict_proba(frame).tobytes() == model.predict_proba(frame).tobytes()
    [version] = list_versions(engine, sport="soccer", market="1x2")
    assert version.version == 1
    assert version.lineage == _lineage("sha256:1")
    assert version.lineage.feature_set_versions == {"elo": "e1f2", "form": "a9b8"}
    assert version.params == {"temperature": 1.0}
    assert version.metrics == {"log_loss": pytest.approx(1.06)}
    assert version.code_version.startswith("0.1.0+")
    assert version.created_at.tzinfo is not None


def test_registering_the_identical_model_twice_stores_one_artifact_and_one_version(
    engine: Engine, settings: Settings
) -> None:
    first, _ = _register(engine, settings, seed=1)
    again, _ = _register(engine, settings, seed=1)
    other, _ = _register(engine, settings, seed=2)
    assert again == first
    assert other != first
    assert len(_artifact_dirs(settings)) == 2
    assert [v.version for v in list_versions(engine)] == [2, 1]


def test_npz_member_timestamps_do_not_change_the_artifact_address() -> None:
    """numpy stamps the wall clock into .npz files; without canonicalising, one model would get many addresses."""

    def npz_at(when: tuple[int, int, int, int, int, int]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(zipfile.ZipInfo("weights.npy", date_time=when), b"\x93NUMPY-bytes")
        return buffer.getvalue()

    early, late = npz_at((2020, 1, 1, 0, 0, 0)), npz_at((2024, 6, 30, 12, 0, 2))
    assert early != late
    assert canonical_npz(early, "w.npz") == canonical_npz(late, "w.npz")


def test_the_same_artifact_with_a_contradicting_lineage_is_refused(engine: Engine, settings: Settings) -> None:
    frame, labels = _data(1)
    model = TinySoftmax().fit(frame, labels)
    kwargs: dict[str, Any] = {"model_type": "tiny", "sport": "soccer", "market": "1x2", "metrics": {}}
    register_model(engine, model, training=_lineage("sha256:one"), settings=settings, **kwargs)
    with pytest.raises(RegistryError, match="different training lineage"):
        register_model(engine, model, training=_lineage("sha256:two"), settings=settings, **kwargs)


def test_non_finite_metrics_are_refused_before_anything_is_stored(engine: Engine, settings: Settings) -> None:
    frame, labels = _data(1)
    model = TinySoftmax().fit(frame, labels)
    with pytest.raises(ValueError, match="not finite: \\['log_loss'\\]"):
        register_model(
            engine,
            model,
            model_type="tiny",
            sport="soccer",
            market="1x2",
            training=_lineage(),
            metrics={"log_loss": float("nan")},
            settings=settings,
        )
    assert not settings.artifact_dir.exists()


def test_rollback_restores_the_previous_champions_predictions_exactly(engine: Engine, settings: Settings) -> None:
    a, model_a = _register(engine, settings, seed=1)
    b, model_b = _register(engine, settings, seed=2, temperature=0.5)
    frame, _ = _data(99)
    promote(engine, a, reason="first champion", actor="tester")
    promote(engine, b, reason="better log loss", actor="tester")
    assert champion(engine, "soccer", "1x2").id == b  # type: ignore[union-attr]

    restored = rollback(engine, "soccer", "1x2", reason="b misbehaves live", actor="tester")

    assert restored.id == a
    assert champion(engine, "soccer", "1x2").id == a  # type: ignore[union-attr]
    served = ModelCache(engine, settings, model_classes=CLASSES).get_champion("soccer", "1x2")
    assert served.version.id == a
    assert np.array_equal(served.model.predict_proba(frame), model_a.predict_proba(frame))
    assert served.model.predict_proba(frame).tobytes() == model_a.predict_proba(frame).tobytes()
    assert not np.allclose(served.model.predict_proba(frame), model_b.predict_proba(frame))


def test_rollback_walks_back_one_champion_per_call(engine: Engine, settings: Settings) -> None:
    a, b, c = (_register(engine, settings, seed=s)[0] for s in (1, 2, 3))
    for version_id in (a, b, c):
        promote(engine, version_id, reason="next")
    assert rollback(engine, "soccer", "1x2", reason="undo c").id == b
    assert rollback(engine, "soccer", "1x2", reason="undo b").id == a
    with pytest.raises(NoPreviousChampionError, match="no previous champion"):
        rollback(engine, "soccer", "1x2", reason="undo a")
    promote(engine, c, reason="c fixed")
    assert rollback(engine, "soccer", "1x2", reason="undo c again").id == a


def test_rollback_without_a_previous_champion_is_a_clear_error(engine: Engine, settings: Settings) -> None:
    with pytest.raises(NoPreviousChampionError, match="soccer/1x2 has no champion"):
        rollback(engine, "soccer", "1x2", reason="nothing there")
    a, _ = _register(engine, settings, seed=1)
    promote(engine, a, reason="only one")
    with pytest.raises(NoPreviousChampionError, match=r"v1 .* has no previous champion"):
        rollback(engine, "soccer", "1x2", reason="nowhere to go")
    assert champion(engine, "soccer", "1x2").id == a  # type: ignore[union-attr]


def test_alias_history_records_every_move(engine: Engine, settings: Settings) -> None:
    a, b = (_register(engine, settings, seed=s)[0] for s in (1, 2))
    promote(engine, a, reason="initial", actor="alice")
    promote(engine, a, reason="again: no move", actor="alice")
    promote(engine, b, CHALLENGER, reason="shadow it", actor="bob")
    promote(engine, b, reason="won the shadow run", actor="bob")
    rollback(engine, "soccer", "1x2", reason="live loss", actor="carol")

    moves = [
        (m.alias, m.action, m.from_version_id, m.to_version_id, m.actor) for m in alias_history(engine, "soccer", "1x2")
    ]
    assert moves == [
        (CHAMPION, "promote", None, a, "alice"),
        (CHALLENGER, "promote", None, b, "bob"),
        (CHAMPION, "promote", a, b, "bob"),
        (CHALLENGER, "clear", b, None, "bob"),
        (CHAMPION, "rollback", b, a, "carol"),
    ]
    history = alias_history(engine, "soccer", "1x2", CHAMPION)
    assert [m.reason for m in history] == ["initial", "won the shadow run", "live loss"]
    assert all(m.moved_at.tzinfo is not None for m in history)
    details = show_version(engine, b)
    assert len(details.history) == 4
    assert details.version.aliases == ()
    assert show_version(engine, a).version.aliases == (CHAMPION,)


def test_a_tampered_artifact_file_is_refused_before_deserialising(engine: Engine, settings: Settings) -> None:
    version_id, _ = _register(engine, settings, seed=1)
    [directory] = _artifact_dirs(settings)
    target = directory / FILES_DIR / "weights.npz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.chmod(0o644)
    target.write_bytes(bytes(data))
    loads_before = TinySoftmax.loads

    with pytest.raises(ArtifactIntegrityError) as raised:
        load_model(engine, version_id, settings, model_classes=CLASSES)

    message = str(raised.value)
    assert "'weights.npz' was modified" in message
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    assert manifest["files"]["weights.npz"] in message
    assert hashlib.sha256(bytes(data)).hexdigest() in message
    assert TinySoftmax.loads == loads_before


def test_a_tampered_manifest_is_refused(engine: Engine, settings: Settings) -> None:
    version_id, _ = _register(engine, settings, seed=1)
    [directory] = _artifact_dirs(settings)
    manifest = directory / MANIFEST_NAME
    manifest.chmod(0o644)
    manifest.write_bytes(manifest.read_bytes().replace(b"tiny", b"tinz"))
    with pytest.raises(ArtifactIntegrityError, match=r"manifest\.json was modified"):
        load_model(engine, version_id, settings, model_classes=CLASSES)


def test_a_pickle_planted_in_the_artifact_directory_is_refused(engine: Engine, settings: Settings) -> None:
    version_id, _ = _register(engine, settings, seed=1)
    [directory] = _artifact_dirs(settings)
    (directory / FILES_DIR / "model.pkl").write_bytes(b"\x80\x04N.")
    loads_before = TinySoftmax.loads
    with pytest.raises(UnsafeArtifactError, match=r"'model\.pkl' .* pickle/joblib files are refused"):
        load_model(engine, version_id, settings, model_classes=CLASSES)
    assert TinySoftmax.loads == loads_before


def test_a_model_that_writes_a_pickle_cannot_be_registered(engine: Engine, settings: Settings) -> None:
    frame, labels = _data(1)
    with pytest.raises(UnsafeArtifactError, match=r"extra\.pkl"):
        register_model(
            engine,
            PickleWriter().fit(frame, labels),
            model_type="tiny",
            sport="soccer",
            market="1x2",
            training=_lineage(),
            metrics={},
            settings=settings,
        )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(model_versions)).scalar_one() == 0
    assert _artifact_dirs(settings) == []


def test_compare_scores_both_versions_on_the_same_rows(engine: Engine, settings: Settings) -> None:
    a, model_a = _register(engine, settings, seed=1)
    b, model_b = _register(engine, settings, seed=2, temperature=0.5)
    frame, labels = _data(7, rows=500)

    report = compare_versions(engine, a, b, frame, labels, settings=settings, model_classes=CLASSES)

    expected_a = fallback_metrics(model_a.predict_proba(frame), labels)
    expected_b = fallback_metrics(model_b.predict_proba(frame), labels)
    assert report.rows == 500
    assert (report.version_a.id, report.version_b.id) == (a, b)
    for name in ("log_loss", "brier", "rps"):
        assert report.metrics_a[name] == pytest.approx(expected_a[name], rel=1e-12)
        assert report.metrics_b[name] == pytest.approx(expected_b[name], rel=1e-12)
        assert report.differences[name] == pytest.approx(expected_b[name] - expected_a[name], rel=1e-9)
    assert report.log_loss_difference_se > 0
    assert report.max_abs_probability_difference > 0
    same = compare_versions(engine, a, a, frame, labels, settings=settings, model_classes=CLASSES)
    assert same.differences["log_loss"] == 0.0
    assert same.max_abs_probability_difference == 0.0


KICKOFF = datetime(2024, 3, 2, 15, 0, tzinfo=UTC)
TEAMS = [("Arsenal", "Everton"), ("Chelsea", "Fulham"), ("Leeds", "Wolves"), ("Burnley", "Spurs")]


def _events(engine: Engine) -> list[int]:
    """Four fixtures: two finished (home win, draw), one finished but predicted late, one still scheduled."""
    frame = pl.DataFrame(
        {
            "row_ref": [f"r{i}" for i in range(4)],
            "sport": ["soccer"] * 4,
            "competition_code": ["E0"] * 4,
            "competition_name": ["Premier League"] * 4,
            "season": ["2023-2024"] * 4,
            "kickoff_utc": [KICKOFF, KICKOFF, KICKOFF, KICKOFF + timedelta(days=7)],
            "kickoff_time_known": [True] * 4,
            "home_team": [h for h, _ in TEAMS],
            "away_team": [a for _, a in TEAMS],
            "status": ["finished", "finished", "finished", "scheduled"],
            "neutral_site": [False] * 4,
        }
    )
    scores = pl.DataFrame({"row_ref": ["r0", "r1", "r2"], "home_score": [2, 1, 0], "away_score": [0, 1, 3]})
    batch = NormalisedBatch(source="test", locator="unit", rows_read=4, events=frame, results=scores)
    with engine.begin() as conn:
        write_batch(conn, batch, raw_payload_id=None)
        by_home: dict[str, int] = dict(
            conn.execute(select(teams.c.name, events.c.id).join(teams, teams.c.id == events.c.home_team_id)).all()
        )
    return [int(by_home[home]) for home, _ in TEAMS]


def test_shadow_predictions_are_idempotent_and_the_report_counts_only_settled_events(
    engine: Engine, settings: Settings
) -> None:
    a, b = (_register(engine, settings, seed=s)[0] for s in (1, 2))
    promote(engine, a, reason="champion")
    promote(engine, b, CHALLENGER, reason="challenger")
    event_ids = _events(engine)
    before = KICKOFF - timedelta(hours=2)
    champ_p = np.array([[0.5, 0.3, 0.2], [0.4, 0.3, 0.3], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]])
    chall_p = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8]])

    first = record_shadow_predictions(engine, a, event_ids, champ_p, before)
    again = record_shadow_predictions(engine, a, event_ids, champ_p, before)
    changed = record_shadow_predictions(engine, a, event_ids[:1], np.array([[0.1, 0.1, 0.8]]), before)
    record_shadow_predictions(engine, b, event_ids[:2] + event_ids[3:], chall_p[[0, 1, 3]], before)
    record_shadow_predictions(engine, b, event_ids[2:3], chall_p[2:3], KICKOFF + timedelta(minutes=5))

    assert (first.inserted, first.unchanged) == (4, 0)
    assert (again.inserted, again.unchanged, again.conflicting) == (0, 4, ())
    assert changed.conflicting == (event_ids[0],)
    report = shadow_report(engine, "soccer", "1x2")
    assert (report.champion.id, report.challenger.id) == (a, b)
    assert report.scored_events == 2
    assert report.pending_events == 1
    assert report.late_excluded == 1
    assert report.comparison is not None
    labels = np.array([0, 1])  # home win, draw
    expected_champ = fallback_metrics(champ_p[:2], labels)  # the first recording stood, not the conflicting one
    expected_chall = fallback_metrics(chall_p[:2], labels)
    assert report.comparison.metrics_a["log_loss"] == pytest.approx(expected_champ["log_loss"], rel=1e-12)
    assert report.comparison.metrics_b["log_loss"] == pytest.approx(expected_chall["log_loss"], rel=1e-12)


def test_bad_shadow_predictions_are_rejected_with_reasons_and_good_ones_kept(
    engine: Engine, settings: Settings
) -> None:
    a, _ = _register(engine, settings, seed=1)
    event_ids = _events(engine)
    probabilities = np.array([[0.5, 0.3, 0.2], [np.nan, 0.5, 0.5], [0.5, 0.5, 0.5], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
    report = record_shadow_predictions(
        engine, a, [*event_ids[:3], 999_999, event_ids[0]], probabilities, KICKOFF - timedelta(days=1)
    )
    assert report.inserted == 1
    assert [(r.event_id, r.reason) for r in report.rejected] == [
        (event_ids[1], "probabilities are not finite"),
        (event_ids[2], "probabilities sum to 1.500000, not 1"),
        (999_999, "unknown event id"),
        (event_ids[0], "event id repeated in one call; first kept"),
    ]


def test_the_model_cache_reloads_only_when_the_champion_moves(engine: Engine, settings: Settings) -> None:
    a, b = (_register(engine, settings, seed=s)[0] for s in (1, 2))
    cache = ModelCache(engine, settings, model_classes=CLASSES)
    promote(engine, a, reason="first")
    first = cache.get_champion("soccer", "1x2")
    assert cache.get_champion("soccer", "1x2").model is first.model
    assert cache.loads == 1
    promote(engine, b, reason="second")
    assert cache.get_champion("soccer", "1x2").version.id == b
    rollback(engine, "soccer", "1x2", reason="back")
    assert cache.get_champion("soccer", "1x2").model is first.model
    assert cache.loads == 2


def _registry_table(name: str | None, type_: str) -> bool:
    return type_ != "table" or name in REGISTRY_TABLES


def test_the_migration_creates_exactly_the_registry_tables_of_the_schema(engine: Engine) -> None:
    """A hand-written migration that drifts from ``schema_registry`` would only show up on a fresh deployment."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _parent: _registry_table(name, type_),
                "include_object": lambda _obj, name, type_, _reflected, _other: _registry_table(name, type_),
            },
        )
        assert compare_metadata(context, metadata) == []
    assert set(REGISTRY_TABLES) <= set(metadata.tables)


def test_a_gradient_boosting_model_round_trips_through_the_registry(engine: Engine, settings: Settings) -> None:
    """The modeling package's real LightGBM text artifact, not only the test double."""
    gbm = pytest.importorskip("betpipe.modeling.gbm")
    frame, labels = _data(3, rows=400)
    frame = frame.rename({name: f"f_{name}" for name in frame.columns})
    model = gbm.GradientBoostingModel(n_estimators=15, min_data_in_leaf=20, num_threads=1).fit(frame, labels)
    version = register_model(
        engine,
        model,
        model_type="gbm",
        sport="soccer",
        market="1x2",
        training=_lineage(),
        metrics={},
        settings=settings,
    )
    again = register_model(
        engine,
        model,
        model_type="gbm",
        sport="soccer",
        market="1x2",
        training=_lineage(),
        metrics={},
        settings=settings,
    )
    loaded = load_model(engine, version.id, settings)  # the class comes from betpipe.modeling.MODEL_CLASSES
    assert again.id == version.id
    assert type(loaded) is gbm.GradientBoostingModel
    assert loaded.predict_proba(frame).tobytes() == model.predict_proba(frame).tobytes()
    assert {p.name for p in (_artifact_dirs(settings)[0] / FILES_DIR).iterdir()} >= {"booster.txt", "model.json"}


@pytest.mark.parametrize("classes", [3, 2])
def test_the_fallback_metrics_agree_with_the_modeling_package(classes: int) -> None:
    """Registry comparisons and the evaluation report must mean the same thing by log loss, Brier and RPS."""
    metrics = pytest.importorskip("betpipe.modeling.metrics")
    rng = np.random.default_rng(5)
    proba = rng.dirichlet(np.ones(classes), size=200)
    labels = rng.integers(0, classes, size=200)
    mine = fallback_metrics(proba, labels)
    assert mine["log_loss"] == pytest.approx(metrics.log_loss(proba, labels), rel=1e-12)
    assert mine["brier"] == pytest.approx(metrics.brier(proba, labels), rel=1e-12)
    assert mine["rps"] == pytest.approx(metrics.rps(proba, labels), rel=1e-12)


def test_models_rollback_defaults_to_the_sports_prediction_market(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An NFL rollback without --market rolls back the moneyline champion, not a 1x2 that NFL never has."""
    from typer.testing import CliRunner

    from betpipe.cli import app
    from betpipe.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("BETPIPE_DATABASE_URL", url)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(url)
    upgrade(engine)
    ids = []
    for seed in (1, 2):
        frame, labels = _data(seed)
        ids.append(
            register_model(
                engine,
                TinySoftmax().fit(frame, labels),
                model_type="tiny",
                sport="american_football",
                market="moneyline",
                training=_lineage(f"sha256:{seed}"),
                metrics={},
                settings=settings,
            ).id
        )
        promote(engine, ids[-1], reason="next")
    result = CliRunner().invoke(app, ["models", "rollback", "--sport", "american_football"])
    assert result.exit_code == 0, result.output
    assert "american_football/moneyline rolled back" in result.output
    assert champion(engine, "american_football", "moneyline").id == ids[0]  # type: ignore[union-attr]
    unknown = CliRunner().invoke(app, ["models", "rollback", "--sport", "tennis"])
    assert unknown.exit_code != 0
    assert "unknown sport 'tennis'" in unknown.output
    assert "Traceback" not in unknown.output
    engine.dispose()

"""The point-in-time feature store: builds per sport to Arrow files, a catalogue row per build, as-of retrieval.

Layout. The database (SQLite or PostgreSQL) stays the system of record for events, results and odds, and holds the
catalogue (``feature_builds``: feature-set version, built_at, counts, content hash, parameters, source fingerprint,
path). Values are uncompressed Arrow IPC files (memory-mapped on read) under
``<data_dir>/features/<sport>/<feature-set version>/<store>/<build>/``, where ``<store>`` is a key of the database
URL (``store_key``): several stores may share one data dir (a live store and a backtest, copies of a store), and a
build only ever replaces older builds of its own store. The event table (labels, schedule values, bench prices) and
the state timelines (Elo and form after every game, market snapshots), each row keyed by (definition version,
event_id, known_at) -- the version is a column of every file.

Retrieval joins the timelines as of an instant (``asof``): every event at its kickoff for a training matrix, or one
event at any instant. A build always covers a whole sport, because ratings and form follow teams across
competitions; a competition filter only picks the sport. Incremental? No: a full rebuild is cheap enough (the shared
42k real matches: about 0.5 s of computation plus a few seconds reading odds out of SQLite; 1M sample events: under
10 s, see bench/), so a new matchday simply rebuilds, and training matrices rebuild by themselves when the source
fingerprint moved. Never writes events, results or odds; never serves a value known at or after the as-of instant.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import mmap
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from sqlalchemy import Engine, desc, insert, select

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.db.engine import private_dir
from betpipe.db.schema_features import feature_builds
from betpipe.features.asof import AsOfIndex
from betpipe.features.compute import FeatureTables, compute_tables
from betpipe.features.definitions import Elo, FeatureDefinition, Form, Market, default_feature_set, feature_set_version
from betpipe.features.market import BENCH_BOOKS
from betpipe.features.source import fingerprint, load_events, load_quotes, sports

Progress = Callable[[str, int, int], None]
"""on_progress(description, completed, total), called after each step of a build."""

_FILES = ("events", "elo", "form_team", "form_venue", "market")
_VERSION_OF = {"elo": Elo, "form_team": Form, "form_venue": Form, "market": Market}
_STEPS = 4


@dataclass(frozen=True)
class SportBuild:
    sport: str
    feature_set_version: str
    build_id: int
    events: int
    played: int
    state_rows: int
    content_hash: str
    path: Path
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BuildReport:
    builds: list[SportBuild]
    competition: str | None = None

    @property
    def seconds(self) -> float:
        return sum(sum(b.seconds.values()) for b in self.builds)


class MissingBuildError(LookupError):
    """A catalogued build whose files are gone: the store needs a rebuild, not a traceback."""


def _root(settings: Settings) -> Path:
    return settings.data_dir / "features"


def store_key(engine: Engine) -> str:
    """A short key of the database a catalogue lives in, so each store writes (and prunes) its own directory.

    Derived from the URL, not from a row in the database: a copied store file holds the same rows as its original,
    yet must never delete the original's builds. SQLite paths are resolved (the same file under two spellings is one
    store); the password is left out, so rotating it keeps the directory."""
    url = engine.url.set(password=None)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(str(url.database)).resolve()))
    return hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]


def build_features(
    engine: Engine,
    *,
    sport: str | None = None,
    competition: str | None = None,
    settings: Settings,
    on_progress: Progress | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> BuildReport:
    """Rebuild the store of ``sport`` (or of every sport, or of the sport ``competition`` belongs to).

    ``clock`` stamps ``built_at`` (a backtest passes its simulated clock); it never decides what a feature sees."""
    chosen = [sport] if sport else sports(engine, competition)
    if competition is not None and not chosen:
        raise LookupError(f"no events for competition {competition!r}")
    builds = []
    for name in chosen:
        with _build_lock(engine, name, settings):
            builds.append(_build_sport(engine, name, settings, on_progress, clock))
    _CATALOGUE.clear()  # lookups in this process see the new build at once
    return BuildReport(builds=builds, competition=competition)


@contextmanager
def _build_lock(engine: Engine, sport: str, settings: Settings) -> Iterator[None]:
    """One build of a store's sport at a time, across processes: a grid's Dask workers all find a fresh store stale
    at once, and without the lock each built, and each build pruned the one another worker was still reading."""
    directory = private_dir(_root(settings) / sport)
    with open(directory / f".{store_key(engine)}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, even if the build raises
        yield


def _build_sport(
    engine: Engine, sport: str, settings: Settings, on_progress: Progress | None, clock: Clock
) -> SportBuild:
    definitions = default_feature_set(sport)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    source_print = fingerprint(engine)
    market = next(d for d in definitions if isinstance(d, Market))
    events = load_events(engine, sport)
    odds = load_quotes(engine, sport, market.market, market.kinds, BENCH_BOOKS)
    seconds["load"] = time.perf_counter() - started
    _report(on_progress, f"{sport}: loaded {events.height} events", 1)
    started = time.perf_counter()
    tables = compute_tables(events, odds, sport, definitions)
    seconds["compute"] = time.perf_counter() - started
    _report(on_progress, f"{sport}: computed features", 2)
    started = time.perf_counter()
    built_at = clock.now()
    directory = _root(settings) / sport / tables.version / store_key(engine) / built_at.strftime("%Y%m%dT%H%M%S%fZ")
    while directory.exists() or directory.with_name(directory.name + ".tmp").exists():  # a fixed or simulated clock
        directory = directory.with_name(directory.name + "-")
    content_hash, rows = write_tables(tables, directory)
    seconds["write"] = time.perf_counter() - started
    _report(on_progress, f"{sport}: wrote {rows} rows", 3)
    with engine.begin() as conn:
        build_id = conn.execute(
            insert(feature_builds).values(
                sport=sport,
                feature_set_version=tables.version,
                built_at=built_at,
                event_count=tables.events.height,
                row_count=rows,
                content_hash=content_hash,
                parameters=[d.describe() for d in definitions],
                source_fingerprint=source_print,
                path=str(directory.relative_to(settings.data_dir)),
                seconds=sum(seconds.values()),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    _prune(engine, settings, sport, tables.version, directory, int(build_id))
    _report(on_progress, f"{sport}: catalogued build {build_id}", 4)
    return SportBuild(
        sport=sport,
        feature_set_version=tables.version,
        build_id=int(build_id),
        events=tables.events.height,
        played=tables.elo.height // 2,
        state_rows=rows,
        content_hash=content_hash,
        path=directory,
        seconds=seconds,
        notes=tables.notes,
    )


def _prune(engine: Engine, settings: Settings, sport: str, version: str, kept: Path, build_id: int) -> None:
    """Delete the files of this store's older builds of this version; the catalogue keeps their history.

    Only directories this catalogue lists, and only inside this store's own directory: another store's build (even
    one a copied catalogue also lists) and a concurrent build still being written are never touched."""
    with engine.connect() as conn:
        paths = conn.execute(
            select(feature_builds.c.path).where(
                feature_builds.c.sport == sport,
                feature_builds.c.feature_set_version == version,
                feature_builds.c.id < build_id,
            )
        ).scalars()
        old = {settings.data_dir / str(p) for p in paths}
    for path in old:
        if path != kept and path.parent == kept.parent and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _report(on_progress: Progress | None, text: str, step: int) -> None:
    if on_progress is not None:
        on_progress(text, step, _STEPS)


def write_tables(tables: FeatureTables, directory: Path) -> tuple[str, int]:
    """Write every table (definition version in a column of each) atomically; returns (content hash, rows)."""
    staging = directory.with_name(directory.name + ".tmp")
    private_dir(staging)  # under the data dir: 0700, like the store itself
    digest = hashlib.sha256()
    rows = 0
    versions = {name: tables.definition(kind).version for name, kind in _VERSION_OF.items()}
    for name in _FILES:
        frame: pl.DataFrame = getattr(tables, name)
        version = versions.get(name, tables.version)
        frame = frame.with_columns(pl.lit(version, dtype=pl.Categorical).alias("version"))
        _write_arrow(frame, staging / f"{name}.arrow")
        digest.update(name.encode())
        digest.update(str(frame.hash_rows(seed=0).sum()).encode())
        rows += frame.height
    _write_arrow(pl.DataFrame({"team_id": tables.teams}), staging / "teams.arrow")
    staging.rename(directory)
    return digest.hexdigest(), rows


_TYPES_KEY = b"betpipe.types"  # the schema before columns without any value were stored as Arrow nulls


def _write_arrow(frame: pl.DataFrame, path: Path) -> None:
    """One uncompressed Arrow IPC record batch, which ``_read_arrow`` maps: every column is then a view of the page
    cache, with no decoding and no copy (reading the 1M build's LZ4 Parquet was most of the training matrix's
    time). A column without any value (a stat the source never has) is stored as an Arrow null column, which has
    no buffers, and its type goes into the schema's metadata: those were half of the 1M build's bytes."""
    table = frame.rechunk().to_arrow(compat_level=pl.CompatLevel.newest())  # polars' own string views: no copy
    types = table.schema
    for i, column in enumerate(table.columns):
        if frame.height and column.null_count == frame.height:
            table = table.set_column(i, pa.field(types.field(i).name, pa.null()), pa.nulls(frame.height))
    table = table.replace_schema_metadata({_TYPES_KEY: base64.b64encode(types.serialize().to_pybytes())})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(frame.height, 1))


def _read_arrow(path: Path) -> pl.DataFrame:
    """A file of ``_write_arrow``, memory-mapped privately (copy-on-write): nothing done to the mapping can reach the
    file. Builds are never rewritten in place (a new directory each), and the files of a build pruned while it is
    loaded stay readable until unmapped."""
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    table = pa.ipc.open_file(pa.py_buffer(mapped)).read_all()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    types = (table.schema.metadata or {}).get(_TYPES_KEY)
    if types is None:
        return frame
    fields = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(types)))
    restored = [
        pl.col(name).cast(pl.Series(pa.nulls(0, fields.field(name).type)).dtype)
        for name, dtype in frame.schema.items()
        if dtype == pl.Null and fields.field(name).type != pa.null()
    ]
    return frame.with_columns(restored) if restored else frame


def read_tables(
    directory: Path, sport: str, definitions: tuple[FeatureDefinition, ...], *, build_id: int | None = None
) -> FeatureTables:
    """Load a build; refuses files whose stored version differs from the definitions' (stale code or params), and
    says what to run when the build's files are gone (deleted by hand, or by an older betpipe's pruning). Builds
    written before the Arrow files (Parquet) still read."""
    suffix = ".parquet" if has_build_files(directory, ".parquet") else ".arrow"
    read = pl.read_parquet if suffix == ".parquet" else _read_arrow
    missing = [name for name in (*_FILES, "teams") if not (directory / f"{name}{suffix}").is_file()]
    if missing:
        label = build_id if build_id is not None else directory.name
        raise MissingBuildError(
            f"feature build {label} missing ({directory / missing[0]}{suffix} not found): run `betpipe features build`"
        )
    expected = {name: next(d for d in definitions if isinstance(d, kind)).version for name, kind in _VERSION_OF.items()}
    expected["events"] = feature_set_version(definitions)
    frames: dict[str, pl.DataFrame] = {}
    for name in _FILES:
        frame = read(directory / f"{name}{suffix}")
        stored = frame["version"].unique().cast(pl.Utf8).to_list()
        if frame.height and stored != [expected[name]]:
            raise ValueError(f"{directory / name}{suffix} holds version {stored}, expected {expected[name]}")
        frames[name] = frame.drop("version")
    teams = read(directory / f"teams{suffix}")["team_id"].to_numpy()
    return FeatureTables(
        sport=sport,
        definitions=definitions,
        teams=teams,
        events=frames["events"],
        elo=frames["elo"],
        form_team=frames["form_team"],
        form_venue=frames["form_venue"],
        market=frames["market"],
    )


def has_build_files(directory: Path, suffix: str | None = None) -> bool:
    """Whether ``directory`` holds a build's event table, in ``suffix``'s format or (None) either one."""
    return any((directory / f"events{s}").is_file() for s in ((suffix,) if suffix else (".arrow", ".parquet")))


# ------------------------------------------------------------------------------------------------- readers

_INDEXES: dict[tuple[str, int], AsOfIndex] = {}
_CATALOGUE: dict[tuple[str, str, str], tuple[float, CatalogueEntry]] = {}
CATALOGUE_TTL_SECONDS = 1.0


@dataclass(frozen=True)
class CatalogueEntry:
    build_id: int
    built_at: datetime
    path: Path
    source_fingerprint: str


def latest_build(engine: Engine, sport: str, settings: Settings) -> CatalogueEntry | None:
    """The newest catalogued build of the current feature-set version (raw SQL: this is on the lookup path)."""
    version = feature_set_version(default_feature_set(sport))
    sqlite = engine.dialect.name == "sqlite"
    sql = (
        "SELECT id, built_at, path, source_fingerprint FROM feature_builds WHERE sport = {s} "
        "AND feature_set_version = {v} ORDER BY id DESC LIMIT 1"
    ).format(s="?" if sqlite else "%(s)s", v="?" if sqlite else "%(v)s")
    params: Any = (sport, version) if sqlite else {"s": sport, "v": version}
    with engine.connect() as conn:
        row = conn.exec_driver_sql(sql, params).first()
    if row is None:
        return None
    built_at = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(str(row[1]))
    return CatalogueEntry(int(row[0]), as_utc(built_at), settings.data_dir / row[2], str(row[3]))


def current_index(
    engine: Engine, sport: str, settings: Settings, *, check_source: bool, clock: Clock = SYSTEM_CLOCK
) -> tuple[AsOfIndex, CatalogueEntry]:
    """The as-of index of the newest build, rebuilding first when there is none (or, with ``check_source``, when
    the source tables changed since). Loaded indexes are cached per build; without ``check_source`` (single-event
    lookups) the catalogue itself is re-read at most every ``CATALOGUE_TTL_SECONDS``, and at once after a build in
    this process.

    Concurrent callers (a grid's workers, the scheduler beside a CLI build) are safe: a stale store is rebuilt by one
    of them under the build lock while the others wait and then find it fresh, and a reader whose build was pruned
    by a newer one between lookup and read reads the newer one."""
    key = (engine.url.render_as_string(hide_password=False), sport, str(settings.data_dir))
    cached = _CATALOGUE.get(key)
    if not check_source and cached is not None and time.monotonic() - cached[0] < CATALOGUE_TTL_SECONDS:
        entry: CatalogueEntry | None = cached[1]
    else:
        entry = latest_build(engine, sport, settings)
    while True:
        if _is_stale(entry, engine, check_source):
            with _build_lock(engine, sport, settings):
                entry = latest_build(engine, sport, settings)  # another process may have built while we waited
                if _is_stale(entry, engine, check_source):
                    _build_sport(engine, sport, settings, None, clock)
                    entry = latest_build(engine, sport, settings)
        assert entry is not None
        try:
            index = _load_index(entry, sport)
        except (MissingBuildError, FileNotFoundError):
            newest = latest_build(engine, sport, settings)
            if newest is None or newest.build_id == entry.build_id:
                raise  # gone by hand, not replaced: the one-line error naming the fix
            entry = newest  # pruned by a newer build after we looked it up
            continue
        _CATALOGUE[key] = (time.monotonic(), entry)
        return index, entry


def _is_stale(entry: CatalogueEntry | None, engine: Engine, check_source: bool) -> bool:
    if entry is None or not has_build_files(entry.path):
        return True
    return check_source and entry.source_fingerprint != fingerprint(engine)


def _load_index(entry: CatalogueEntry, sport: str) -> AsOfIndex:
    index_key = (str(entry.path), entry.build_id)
    if index_key not in _INDEXES:
        tables = read_tables(entry.path, sport, default_feature_set(sport), build_id=entry.build_id)
        # One build per (sport, feature-set version, store) at a time keeps memory bounded; a store with two sports
        # keeps both (evicting the other sport's index made alternating lookups rebuild it: p99 ~220 ms).
        for stale in [key for key in _INDEXES if Path(key[0]).parent == entry.path.parent]:
            del _INDEXES[stale]
        _INDEXES[index_key] = AsOfIndex.build(tables)
    return _INDEXES[index_key]


def catalogue(engine: Engine) -> list[dict[str, Any]]:
    """Every build recorded, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(feature_builds).order_by(desc(feature_builds.c.id))).mappings().all()
    return [dict(r) for r in rows]

"""Running the evaluation's walk-forwards: in process, or as independent tasks on a pool of worker processes.

Why: every spec's walk-forward is independent of the others, so on two cores the slow ones (Dixon–Coles' weekly
refits, the LightGBM family) can run side by side. Specs sharing a ``fit_group`` run in one task so they share that
task's fit cache (``betpipe.modeling.fitcache``). Workers are spawned (never forked: LightGBM's OpenMP runtime does not
survive a fork), read the frame once from a temporary Arrow file, size their thread pools to their share of the cores
(a deterministic row-wise LightGBM fit is bit-for-bit the same on any thread count, and two workers on two cores
should not queue four threads) and rebuild specs by name from ``default_specs``: a spec is code, not data. The results
are therefore identical to the in-process run; only the time changes.
"""

from __future__ import annotations

import queue
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from betpipe.modeling._base import IntArray
from betpipe.modeling.fitcache import fit_cache
from betpipe.modeling.walkforward import ModelSpec, WalkForwardResult, walk_forward_predict

# (what is running, work done, work in all): the CLI's progress bar; work is in spec-season cost units.
Progress = Callable[[str, float, float], None]


@dataclass(frozen=True)
class Inputs:
    """Everything a walk-forward reads besides the spec; the frame travels separately (as a file) to workers."""

    y: IntArray
    labelled: NDArray[np.bool_]
    predict_mask: NDArray[np.bool_]
    n_outcomes: int
    result_delay_hours: float


def spec_groups(specs: Sequence[ModelSpec]) -> list[list[ModelSpec]]:
    """Tasks: specs sharing a ``fit_group`` together, every other spec alone; costliest first (longest job first)."""
    groups: dict[str, list[ModelSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.fit_group or f"spec:{spec.name}", []).append(spec)
    return sorted(groups.values(), key=lambda g: -sum(s.cost for s in g))


def _run(
    specs: Sequence[ModelSpec], frame: pl.DataFrame, inputs: Inputs, on_season: Callable[[str, str], None]
) -> dict[str, WalkForwardResult]:
    out: dict[str, WalkForwardResult] = {}
    with fit_cache():  # one cache per task: specs of a fit_group reuse each other's LightGBM fits
        for spec in specs:

            def report(season: str, name: str = spec.name) -> None:
                on_season(name, season)

            result = walk_forward_predict(
                spec,
                frame,
                inputs.y,
                labelled=inputs.labelled,
                predict_mask=inputs.predict_mask,
                n_outcomes=inputs.n_outcomes,
                result_delay_hours=inputs.result_delay_hours,
                on_season=report,
            )
            result.last_model = None  # never shipped between processes; the evaluation does not use it
            out[spec.name] = result
    return out


def run_in_process(
    specs: Sequence[ModelSpec], frame: pl.DataFrame, inputs: Inputs, seasons: int, on_progress: Progress | None
) -> dict[str, WalkForwardResult]:
    total = sum(s.cost for s in specs) * seasons
    done = [0.0]
    cost = {s.name: s.cost for s in specs}

    def on_season(name: str, season: str) -> None:
        done[0] += cost[name]
        if on_progress is not None:
            on_progress(f"{name} {season}", done[0], total)

    results: dict[str, WalkForwardResult] = {}
    for group in spec_groups(specs):
        results.update(_run(group, frame, inputs, on_season))
    return results


# ---------------------------------------------------------------------------------------------- worker processes

_WORKER: dict[str, Any] = {}


def _init_worker(frame_path: str, inputs: Inputs, threads: int, events: Any) -> None:
    from betpipe.config import ComputeSettings
    from betpipe.threads import configure_threads

    configure_threads(ComputeSettings(threads=threads))
    _WORKER.update(frame=pl.read_ipc(frame_path), inputs=inputs, events=events)


def _run_task(sport: str, names: list[str]) -> dict[str, WalkForwardResult]:
    from betpipe.modeling.evaluate import default_specs

    by_name = {s.name: s for s in default_specs(sport)}
    events = _WORKER["events"]
    return _run([by_name[n] for n in names], _WORKER["frame"], _WORKER["inputs"], lambda n, s: events.put((n, s)))


def run_in_workers(
    specs: Sequence[ModelSpec],
    frame: pl.DataFrame,
    inputs: Inputs,
    seasons: int,
    *,
    sport: str,
    workers: int,
    threads: int,
    on_progress: Progress | None,
) -> dict[str, WalkForwardResult]:
    """The same results as ``run_in_process`` for ``default_specs(sport)`` specs, ``workers`` tasks at a time."""
    from betpipe.modeling.evaluate import default_specs

    known = {s.name for s in default_specs(sport)}
    custom = [s.name for s in specs if s.name not in known]
    if custom:
        raise ValueError(f"parallel evaluation rebuilds specs by name; not in the {sport} line-up: {custom}")
    total = sum(s.cost for s in specs) * seasons
    cost = {s.name: s.cost for s in specs}
    context = get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="betpipe-eval-") as tmp, context.Manager() as manager:
        path = Path(tmp) / "frame.arrow"
        frame.write_ipc(path)
        events = manager.Queue()
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(str(path), inputs, threads, events),
        ) as pool:
            futures: list[Future[dict[str, WalkForwardResult]]] = [
                pool.submit(_run_task, sport, [s.name for s in group]) for group in spec_groups(specs)
            ]
            done = 0.0
            while True:
                try:
                    name, season = events.get(timeout=0.2)
                except queue.Empty:
                    if all(f.done() for f in futures):
                        break
                    continue
                done += cost[name]
                if on_progress is not None:
                    on_progress(f"{name} {season}", done, total)
            results: dict[str, WalkForwardResult] = {}
            for future in futures:
                results.update(future.result())  # a worker's exception is re-raised here, as in process
    return results

"""Cross-check: every market penaltyblog's FootballProbabilityGrid prices agrees with ``ScoreGrid`` to 1e-9.

penaltyblog is not a betpipe dependency: its package import pulls matplotlib, plotly, kaleido, ipywidgets, pulp and
more, and its install moves existing pins. The one module this check needs, ``football_probability_grid.py``, uses only
numpy and scipy, so ``make venv`` installs the pinned wheel without dependencies into ``.venv/crosscheck``
(requirements-crosscheck.lock) and this test loads that file by path. A full penaltyblog install works too; the test
skips with a message where neither is present.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import itertools
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from betpipe.modeling.score_grid import ScoreGrid, bivariate_poisson_grid, dixon_coles_grid

MODELS_DIR = Path(sys.prefix) / "crosscheck" / "penaltyblog" / "models"


def _load(name: str, path: Path) -> Any:
    """One module of the no-deps install, loaded by path so penaltyblog's heavy package ``__init__`` never runs."""
    loader = importlib.machinery.ExtensionFileLoader(name, str(path)) if path.suffix == ".so" else None
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _penaltyblog() -> SimpleNamespace:
    """penaltyblog's grid class, DC grid builder and bivariate Poisson kernel: a full install, else the no-deps one."""
    try:
        import penaltyblog.models
        from penaltyblog.models import probabilities

        return SimpleNamespace(grid=penaltyblog.models, probabilities=probabilities)
    except ImportError:
        pass
    grid_file = MODELS_DIR / "football_probability_grid.py"
    kernels = sorted(MODELS_DIR.glob("probabilities.cpython-*.so"))
    if not grid_file.is_file() or not kernels:
        pytest.skip(
            f"penaltyblog not installed (`make venv` puts it in {MODELS_DIR.parents[1]})", allow_module_level=True
        )
    return SimpleNamespace(
        grid=_load("penaltyblog.models.football_probability_grid", grid_file),
        probabilities=_load("penaltyblog.models.probabilities", kernels[0]),
    )


PENALTYBLOG = _penaltyblog()
FootballProbabilityGrid = PENALTYBLOG.grid.FootballProbabilityGrid

TOL = 1e-9
EXPECTATIONS = [(0.35, 2.8, 0.0), (1.45, 1.15, -0.08), (2.6, 0.7, 0.05), (1.1, 1.1, -0.13), (3.9, 3.4, 0.02)]
LINES = np.arange(-3.5, 3.51, 0.25)
TOTAL_LINES = np.arange(0.0, 6.51, 0.25)


def _pairs() -> list[tuple[ScoreGrid, object]]:
    """(ours for one match, penaltyblog's grid over the very same matrix) for DC and bivariate Poisson grids."""
    grids = [
        (grid, lam, mu)
        for lam, mu, rho in EXPECTATIONS
        for grid in (dixon_coles_grid([lam], [mu], rho), bivariate_poisson_grid([lam], [mu], [abs(rho) * 3]))
    ]
    return [(g, FootballProbabilityGrid(g.probabilities[0].copy(), lam, mu, normalize=False)) for g, lam, mu in grids]


@pytest.mark.parametrize(("ours", "theirs"), _pairs())
def test_every_market_agrees_with_penaltyblog(ours: ScoreGrid, theirs: object) -> None:
    pb: Any = theirs
    home, draw, away = ours.one_x_two()[0]
    assert [home, draw, away] == pytest.approx(pb.home_draw_away, abs=TOL)
    assert ours.btts()[0] == pytest.approx(pb.btts_yes, abs=TOL)
    assert 1 - ours.btts()[0] == pytest.approx(pb.btts_no, abs=TOL)
    dc = ours.double_chance()[0]
    assert dc[0] == pytest.approx(pb.double_chance_1x, abs=TOL)
    assert dc[1] == pytest.approx(pb.double_chance_x2, abs=TOL)
    assert dc[2] == pytest.approx(pb.double_chance_12, abs=TOL)
    dnb = ours.draw_no_bet()[0]
    assert dnb[0] == pytest.approx(pb.draw_no_bet_home, abs=TOL)
    assert dnb[1] == pytest.approx(pb.draw_no_bet_away, abs=TOL)
    nil = ours.win_to_nil()[0]
    assert nil[0] == pytest.approx(pb.win_to_nil_home(), abs=TOL)
    assert nil[1] == pytest.approx(pb.win_to_nil_away(), abs=TOL)
    for h, a in itertools.product(range(ours.max_goals + 2), repeat=2):
        assert ours.correct_score(h, a)[0] == pytest.approx(pb.exact_score(h, a), abs=TOL)
    np.testing.assert_allclose(ours.total_goals[0], pb.total_goals_distribution(), atol=TOL)
    np.testing.assert_allclose(ours.home_goals[0], pb.home_goal_distribution(), atol=TOL)
    np.testing.assert_allclose(ours.away_goals[0], pb.away_goal_distribution(), atol=TOL)


def _stake_weighted(priced: object) -> tuple[float, float, float]:
    """penaltyblog reports a quarter line as half stakes: (win, push, lose) weights, not settlement grades."""
    won, half_won, void, half_lost, lost = (float(getattr(priced, g)[0]) for g in _GRADES)
    return won + half_won / 2, void + (half_won + half_lost) / 2, lost + half_lost / 2


_GRADES = ("won", "half_won", "void", "half_lost", "lost")


@pytest.mark.parametrize(("ours", "theirs"), _pairs())
def test_every_total_and_handicap_line_agrees_with_penaltyblog(ours: ScoreGrid, theirs: object) -> None:
    """27 total lines and 29 handicap lines, both sides of each, quarter lines included."""
    pb: Any = theirs
    for line in TOTAL_LINES:
        under, push, over = pb.totals(float(line))
        assert _stake_weighted(ours.totals(line, "over")) == pytest.approx((over, push, under), abs=TOL)
        assert _stake_weighted(ours.totals(line, "under")) == pytest.approx((under, push, over), abs=TOL)
    for line in LINES:
        home = pb.asian_handicap_probs("home", float(line))
        away = pb.asian_handicap_probs("away", float(line))
        expected_home = (home["win"], home["push"], home["lose"])
        expected_away = (away["win"], away["push"], away["lose"])
        assert _stake_weighted(ours.asian_handicap(line, "home")) == pytest.approx(expected_home, abs=TOL)
        # penaltyblog's away line is the away side's own handicap; ours is always the home side's
        assert _stake_weighted(ours.asian_handicap(-line, "away")) == pytest.approx(expected_away, abs=TOL)


def test_grid_construction_agrees_with_penaltyblog() -> None:
    """Independent Poisson and bivariate Poisson grids equal penaltyblog's where its truncation loses < 1e-12; its
    Dixon–Coles grid swaps the 0-1/1-0 tau factors relative to the paper (and to our fitted model), so the two
    agree exactly when lam = mu; otherwise theirs is the swapped-tau grid renormalised (the swap breaks tau's
    zero-sum, so every cell moves a little)."""
    create_dixon_coles_grid = PENALTYBLOG.grid.create_dixon_coles_grid
    compute_bivariate_poisson_probabilities = PENALTYBLOG.probabilities.compute_bivariate_poisson_probabilities

    size = 30
    for lam, mu, rho in EXPECTATIONS:
        ours = dixon_coles_grid([lam], [mu], rho, max_goals=size - 1).probabilities[0]
        theirs = create_dixon_coles_grid(lam, mu, rho, max_goals=size - 1).grid
        if lam == mu or rho == 0:
            np.testing.assert_allclose(ours, theirs, atol=TOL)
        else:
            assert np.abs(ours - theirs)[[0, 1], [1, 0]].min() > 1e-6
            swapped = dixon_coles_grid([lam], [mu], max_goals=size - 1).probabilities[0]
            swapped[0, 0] *= 1 - lam * mu * rho
            swapped[1, 0] *= 1 + lam * rho
            swapped[0, 1] *= 1 + mu * rho
            swapped[1, 1] *= 1 - rho
            np.testing.assert_allclose(swapped / swapped.sum(), theirs, atol=TOL)
        cells = np.zeros(size * size)
        compute_bivariate_poisson_probabilities(
            float(np.log(lam)),
            float(np.log(mu)),
            0.0,
            0.0,
            0.0,
            float(np.log(0.2)),
            size,
            cells,
            np.zeros(1),
            np.zeros(1),
        )
        ours_bp = bivariate_poisson_grid([lam], [mu], [0.2], max_goals=size - 1).probabilities[0]
        np.testing.assert_allclose(ours_bp[:-1, :-1], cells.reshape(size, size)[:-1, :-1], atol=TOL)

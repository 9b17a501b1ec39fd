"""Data flows one way (../shared/ARCHITECTURE.md): no module imports a layer above its own.

Every module under ``src/betpipe`` is parsed (never imported: a forbidden import inside a function that no test
calls must fail here too), and every ``import``/``from ... import`` anywhere in it, including inside functions, under
``TYPE_CHECKING`` and relative ones, and every ``importlib.import_module("betpipe...")`` with a literal name, is
checked against the layering below. The failure this prevents: the live run reaching up into ``serving`` for its
predictor while ``serving`` imports the live run back, the tangle issue 15 item 5 removed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "betpipe"

BOTTOM = frozenset({"odds", "config", "accounts", "clock", "sports", "logs", "threads", "db"})
"""Plain values, settings, the clock and the database: everything above may use them; they use nothing above."""
TOP = frozenset({"live", "serving", "backtest", "cli", "monitoring"})
"""Runners and readers: the live run, the service, the backtest, the CLI and monitoring."""
CORE = frozenset({"ingest", "features", "modeling", "registry", "betting", "predict"})
"""The library the runners share: from data to the champion's prices and a decision."""

FORBIDDEN: dict[str, frozenset[str]] = {
    **{name: frozenset(CORE | TOP | {"charts", "ledger_view"}) - {name} for name in BOTTOM - {"db"}},
    "db": frozenset(CORE | TOP | {"charts", "ledger_view"}),
    "ingest": TOP | {"features", "modeling", "registry", "betting", "predict"},
    "features": TOP | {"modeling", "registry", "betting", "predict"},
    "modeling": TOP | {"registry", "predict"},
    "registry": TOP | {"predict"},
    "betting": TOP | {"registry", "predict"},
    "predict": TOP,
    "live": frozenset({"serving", "cli", "backtest"}),
    "backtest": frozenset({"live", "serving", "cli", "monitoring"}),
    "serving": frozenset({"cli", "backtest", "monitoring"}),
    "monitoring": frozenset({"live", "serving", "cli"}),
    "charts": CORE | TOP,
    "ledger_view": CORE | TOP,
}
"""Layer -> the top-level ``betpipe`` packages/modules it must never import."""

SERVING_MAY_USE_FROM_LIVE = frozenset({"betpipe.live.opportunities"})
"""``serving`` may ask the live run what it would bet now; it never runs the scheduler, a stage or training."""


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. betpipe.live.stages
    target: str  # the imported module, e.g. betpipe.predict (a name imported from a package counts as its module)
    line: int

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every betpipe import in ``source`` (the module ``module``), wherever it sits in the tree."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: ``from .. import x`` in betpipe.predict.snapshot is betpipe.x
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, node.module] if node.module else parent)
            else:
                base = node.module or ""
            # ``from betpipe import charts`` and ``from . import x`` name modules; ``from m import f`` imports m.
            targets = [f"{base}.{a.name}" for a in node.names] if node.module is None or base == "betpipe" else [base]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = [node.args[0].value]
        for target in targets:
            if target == "betpipe" or target.startswith("betpipe."):
                yield Import(module, target, getattr(node, "lineno", 0))


def all_imports(root: Path = SRC) -> list[Import]:
    found: list[Import] = []
    for path in sorted((root / "betpipe").rglob("*.py")):
        name = _module_name(path, root)
        found.extend(imports_of(path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"))
    return found


def layer(module: str) -> str:
    """The top-level unit a module belongs to: ``betpipe.live.stages`` -> ``live``, ``betpipe`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(found: list[Import]) -> list[str]:
    """Every import that runs back up, as ``module:line imports target (layer must not import layer)``."""
    out = []
    for imp in found:
        own, other = layer(imp.module), layer(imp.target)
        if other in FORBIDDEN.get(own, frozenset()):
            out.append(f"{imp.where} ({own} must not import {other})")
        elif own == "serving" and other == "live" and imp.target not in SERVING_MAY_USE_FROM_LIVE:
            out.append(f"{imp.where} (serving may use only {', '.join(sorted(SERVING_MAY_USE_FROM_LIVE))})")
    return out


def cycles(found: list[Import]) -> list[list[str]]:
    """Cycles in the graph of top-level units (``cli`` -> ``live`` -> ``predict`` ...), each as its path."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        own, other = layer(imp.module), layer(imp.target)
        if own and other and own != other:
            graph.setdefault(own, set()).add(other)
    out: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                out.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return out


@pytest.fixture(scope="module")
def found() -> list[Import]:
    return all_imports()


def test_no_module_imports_a_layer_above_its_own(found: list[Import]) -> None:
    assert found, "no betpipe import found: the parser or SRC is wrong"
    assert violations(found) == []


def test_the_graph_of_top_level_packages_has_no_cycle(found: list[Import]) -> None:
    assert cycles(found) == []


def test_every_top_level_unit_has_a_rule() -> None:
    """A new package must be placed in the layering, not slip past it unchecked."""
    units = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    unruled = units - set(FORBIDDEN) - {"cli", "__init__", "__main__"}
    assert unruled == set(), f"add these to FORBIDDEN in tests/test_architecture.py: {sorted(unruled)}"


def test_predict_and_live_stand_where_the_architecture_draws_them(found: list[Import]) -> None:
    """``serving`` and the live run both call ``predict``; the live run never calls ``serving``."""
    edges = {(layer(i.module), layer(i.target)) for i in found}
    assert ("serving", "predict") in edges
    assert ("live", "predict") in edges
    assert ("live", "serving") not in edges
    assert ("predict", "serving") not in edges


def test_the_checker_sees_imports_inside_functions_relative_ones_and_import_module() -> None:
    source = """
import betpipe.odds
from betpipe import charts
from betpipe.db import make_engine

def later():
    from betpipe.serving.app import create_app
    import importlib
    importlib.import_module("betpipe.cli")
    if True:
        from .. import live
        from .opportunities import opportunities
"""
    seen = sorted((i.line, i.target) for i in imports_of(source, "betpipe.predict.snapshot"))
    assert seen == [
        (2, "betpipe.odds"),
        (3, "betpipe.charts"),
        (4, "betpipe.db"),
        (7, "betpipe.serving.app"),
        (9, "betpipe.cli"),
        (11, "betpipe.live"),
        (12, "betpipe.predict.opportunities"),
    ]
    bad = sorted(violations(list(imports_of(source, "betpipe.predict.snapshot"))))
    assert bad == [
        "betpipe.predict.snapshot:11 imports betpipe.live (predict must not import live)",
        "betpipe.predict.snapshot:7 imports betpipe.serving.app (predict must not import serving)",
        "betpipe.predict.snapshot:9 imports betpipe.cli (predict must not import cli)",
    ]


@pytest.mark.parametrize(
    ("into", "statement", "why"),
    [
        ("live/stages.py", "from betpipe.serving import create_app", "live must not import serving"),
        ("predict/predictor.py", "import betpipe.live.opportunities", "predict must not import live"),
        ("backtest/simulate.py", "from betpipe.live import betting_run", "backtest must not import live"),
        (
            "serving/app.py",
            "from betpipe.live.scheduler import run_once",
            "serving may use only betpipe.live.opportunities",
        ),
    ],
)
def test_a_planted_upward_import_fails_the_check(found: list[Import], into: str, statement: str, why: str) -> None:
    """The same check over the tree with one upward import planted inside a function (one nothing calls) of one
    module: that module's source is re-parsed with the plant, every other module is parsed as it is."""
    path = PACKAGE / into
    module = "betpipe." + into.removesuffix(".py").replace("/", ".")
    text = path.read_text(encoding="utf-8").rstrip("\n") + f"\n\n\ndef _planted() -> None:\n    {statement}\n"
    planted = [i for i in found if i.module != module] + list(imports_of(text, module))
    line = text.count("\n")
    assert violations(planted) == [f"{module}:{line} imports {statement.split()[1]} ({why})"]

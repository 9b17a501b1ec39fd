"""``betpipe strategy list|show|add|promote|rollback``: stored strategies and the live one, as models are champions.

Thin: calls ``betpipe.registry.strategies`` and prints. ``betpipe backtest`` stores every strategy it runs, with its
lineage; ``add`` stores one from a JSON file without a backtest (its lineage then says so).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer
from rich.table import Table

from betpipe.cli._common import console, open_engine, settings
from betpipe.cli._errors import USAGE, CliError

app = typer.Typer(help="Strategies: stored with backtest lineage, one live per sport, promote and rollback.")


def _sport(sport: str | None) -> str:
    return sport or settings().pipeline.sport


def _headline(lineage: dict[str, object]) -> str:
    figures = lineage.get("headline")
    if not isinstance(figures, dict) or not figures:
        return "-"
    clv = figures.get("mean_clv")
    clv_text = (
        "-"
        if not isinstance(clv, dict)
        else f"{clv['mean'] * 100:+.2f}% [{clv['low'] * 100:+.2f}, {clv['high'] * 100:+.2f}]"
    )
    return f"{figures.get('bets', '-')} bets, CLV {clv_text}"


@app.command("list")
def list_command(sport: str | None = typer.Option(None, help="Sport [default: the pipeline's].")) -> None:
    """Every stored strategy of the sport; the live one is marked (none marked: the built-in default is live)."""
    from betpipe.registry.strategies import list_strategies, live_strategy_record

    sport = _sport(sport)
    with open_engine() as engine:
        stored = list_strategies(engine, sport=sport)
        live = live_strategy_record(engine, sport)
    table = Table(title=f"{sport} strategies ({'built-in default live' if live is None else f'id {live.id} live'})")
    for column in ("id", "version", "live", "name", "seasons", "backtest"):
        table.add_column(column)
    for s in stored:
        seasons = s.lineage.get("seasons", "-")
        table.add_row(
            str(s.id), s.version, "*" if live is not None and live.id == s.id else "", s.name,
            str(seasons), _headline(s.lineage),
        )  # fmt: skip
    console.print(table)


@app.command("show")
def show(
    ref: str = typer.Argument("live", help="Id, version hash (or prefix), or 'live'."),
    sport: str | None = typer.Option(None, help="Sport [default: the pipeline's]."),
) -> None:
    """The strategy as JSON (what runs), with its lineage and version."""
    from betpipe.live.opportunities import live_strategy_spec
    from betpipe.registry.strategies import get_strategy

    config = settings()
    sport = _sport(sport)
    with open_engine(config) as engine:
        if ref == "live":
            spec = live_strategy_spec(config, engine)
            document: dict[str, object] = {"version": spec.version, "name": spec.name, "spec": spec.to_json()}
        else:
            found = get_strategy(engine, ref, sport=sport)
            document = {
                "id": found.id, "version": found.version, "name": found.name, "spec": found.spec.to_json(),
                "lineage": found.lineage, "created_at": found.created_at.isoformat(),
            }  # fmt: skip
    console.print_json(json.dumps(document, sort_keys=True))


@app.command("add")
def add(path: Path = typer.Argument(..., help="A JSON file holding one strategy object.")) -> None:
    """Store a strategy from a file (no backtest lineage); prints its id and version."""
    from betpipe.betting.strategy_spec import StrategySpec
    from betpipe.registry.strategies import store_strategy

    try:
        spec = StrategySpec.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise CliError(f"{path}: not a strategy ({error})", exit_code=USAGE) from None
    with open_engine() as engine:
        stored = store_strategy(engine, spec, lineage={"source": str(path), "backtest": None})
    console.print(f"stored strategy id {stored.id} version {stored.version}: {stored.name}")


@app.command("promote")
def promote(
    ref: str = typer.Argument(..., help="Id or version hash (or a unique prefix)."),
    reason: str = typer.Option(..., help="Why: recorded in the history."),
    sport: str | None = typer.Option(None, help="Sport [default: the pipeline's]."),
) -> None:
    """Make a stored strategy the live one: the betting run, the scheduler, /opportunities and POST /bets load it."""
    from betpipe.registry.strategies import promote_strategy

    sport = _sport(sport)
    with open_engine() as engine:
        stored = promote_strategy(engine, ref, sport=sport, reason=reason, actor=getpass.getuser())
    console.print(f"live {sport} strategy is now id {stored.id} ({stored.version}): {stored.name}")


@app.command("rollback")
def rollback(
    reason: str = typer.Option("rollback", help="Why: recorded in the history."),
    sport: str | None = typer.Option(None, help="Sport [default: the pipeline's]."),
) -> None:
    """Put back the strategy the live one replaced (the built-in default when it replaced none); repeatable."""
    from betpipe.registry.strategies import rollback_strategy

    sport = _sport(sport)
    with open_engine() as engine:
        back = rollback_strategy(engine, sport=sport, reason=reason, actor=getpass.getuser())
    what = "the built-in default" if back is None else f"id {back.id} ({back.version}): {back.name}"
    console.print(f"live {sport} strategy rolled back to {what}")

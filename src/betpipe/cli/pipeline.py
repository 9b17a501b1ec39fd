"""``betpipe run`` (the scheduler, or one cycle with ``--once``) and ``betpipe bet run`` (one live betting run).

Thin shells over ``betpipe.live.scheduler`` and ``betpipe.live.betting_run``: parse, call, print. ``--as-of`` replaces
the system clock with a fixed instant (replaying stored data, e.g. the sample league's next matchday in the demo);
it never changes what the code decides, only when "now" is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from betpipe.cli._common import console, fail_clearly, open_engine, settings
from betpipe.cli._errors import STATE, USAGE, CliError
from betpipe.cli._inputs import check_competition, check_instant
from betpipe.clock import SYSTEM_CLOCK, Clock, FixedClock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from betpipe.config import Settings

bet_app = typer.Typer(help="The live betting run (paper book by default).", no_args_is_help=True)

AS_OF_HELP = (
    "Decide as of this UTC instant (ISO 8601) instead of now, or 'next-matchday[+DAYS]' (an hour before the "
    "earliest scheduled kickoff in the store, plus DAYS), to replay stored data such as the sample league."
)


def register(app: typer.Typer) -> None:
    """Attach ``run`` and ``bet run`` to the main app (one call in ``cli/__init__``)."""
    app.command("run")(run)
    app.add_typer(bet_app, name="bet")


def _clock(as_of: str | None, engine: Engine, config: Settings) -> Clock:
    if as_of is None:
        return SYSTEM_CLOCK
    if as_of.startswith("next-matchday"):
        from betpipe.live.prices import next_matchday_eve

        days = as_of.removeprefix("next-matchday")
        if days and not (days.startswith("+") and days[1:].replace(".", "", 1).isdigit()):
            raise typer.BadParameter(f"{as_of!r}: give next-matchday or next-matchday+DAYS", param_hint="--as-of")
        eve = next_matchday_eve(engine, config.pipeline.sport)
        if eve is None:
            raise CliError(f"no scheduled {config.pipeline.sport} event in the store: nothing to replay")
        try:
            return FixedClock(check_instant(eve + timedelta(days=float(days[1:] or 0))))
        except OverflowError:  # past datetime's last year: the same answer as any other instant out of range
            raise CliError(f"--as-of: {as_of!r} is out of range", exit_code=USAGE) from None
    try:
        instant = datetime.fromisoformat(as_of)
    except ValueError as error:
        raise typer.BadParameter(f"{as_of!r} is not an ISO 8601 instant", param_hint="--as-of") from error
    return FixedClock(check_instant(instant if instant.tzinfo else instant.replace(tzinfo=UTC)))


def run(
    once: bool = typer.Option(False, "--once", help="Run one cycle of every job and exit."),
    job: list[str] = typer.Option(
        [],
        "--job",
        help="With --once: only these jobs (repeat): odds, results, features, predictions, betting, retrain, "
        "close_retrain (monitoring is `betpipe monitor run`).",
    ),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP + " Only with --once."),
) -> None:
    """The live pipeline: odds, results + settlement, features, predictions, betting, weekly retrain, the close
    model's retrain (while a strategy prices with it) and monitoring; --job names one of them."""
    from betpipe.live.scheduler import run_forever, run_once
    from betpipe.live.stages import STAGES

    unknown = [name for name in job if name not in STAGES]
    if unknown:
        raise typer.BadParameter(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(STAGES)}", param_hint="--job")
    if as_of is not None and not once:
        raise typer.BadParameter("--as-of replays one cycle: give --once too", param_hint="--as-of")
    config = settings()
    with open_engine(config) as engine:
        clock = _clock(as_of, engine, config)
        if not once:
            run_forever(engine, config, clock)
            return
        runs = run_once(engine, config, clock, jobs=job or None)
    table = Table(title=f"one cycle as of {clock.now().isoformat()}")
    for column in ("job", "status", "rows", "details"):
        table.add_column(column, overflow="fold")
    for item in runs:
        shown = item.error if item.error else ", ".join(f"{k}={v}" for k, v in (item.details or {}).items())
        table.add_row(item.job, item.status, "" if item.rows is None else str(item.rows), shown)
    console.print(table)
    if any(item.status == "failed" for item in runs):
        raise typer.Exit(code=1)


@bet_app.command("run")
def bet_run(
    competition: str | None = typer.Option(None, help="Only this competition [default: the configured ones]."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and risk-check, place nothing."),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
) -> None:
    """Price upcoming events at the configured book, size with the live strategy and place through the ledger."""
    from betpipe.live.betting_run import betting_run
    from betpipe.registry import RegistryError

    config = settings()
    with open_engine(config) as engine, fail_clearly(RegistryError, LookupError, ValueError):
        check_competition(engine, config.pipeline.sport, competition)
        clock = _clock(as_of, engine, config)
        result = betting_run(engine, config, clock, competition=competition, dry_run=dry_run)
    found = result.opportunities
    if not found.can_bet:  # nothing could be priced or sized: a state to fix, not an answer
        raise CliError(f"cannot bet: {found.reason}", exit_code=STATE)
    candidates = found.decision.candidates
    if dry_run:
        outcome = [reason or "would be placed" for reason in result.checks]
    else:
        outcome = [
            r.state + (" (already recorded)" if r.duplicate else "") + (f": {r.reason}" if r.reason else "")
            for r in result.placements
        ]
    table = Table(title=f"{found.strategy.name}: {len(candidates)} candidate(s) as of {found.now.isoformat()}")
    for column in ("event", "competition", "kickoff", "selection", "price", "p", "edge", "stake", "outcome"):
        table.add_column(column, justify="left" if column in {"competition", "selection", "outcome"} else "right")
    for candidate, text in zip(candidates, outcome or [""] * len(candidates), strict=True):
        table.add_row(
            str(candidate.event_id), candidate.competition, candidate.kickoff.strftime("%Y-%m-%d %H:%M"),
            candidate.selection, f"{candidate.price}", f"{candidate.probability:.3f}",
            f"{(candidate.edge or 0):+.2%}", f"{candidate.stake}", text,
        )  # fmt: skip
    console.print(table)
    for book in getattr(result.checks, "restricted", []):  # a dry run's account restriction (DryRunChecks)
        console.print(
            f"restricted: {book['book']} (after {book['clv_wins']} CLV wins): {book['bets_cut']} stake(s) cut, "
            f"{book['stake_asked']} asked -> {book['stake_allowed']} ({book['stake_cut']} not staked), "
            f"{book['refused']} refused"
        )
    for reason, count in sorted(found.decision.no_bet.items()):
        console.print(f"no bet: {count} x {reason}")
    for note in found.notes:
        console.print(f"note: {note}")
    if found.reason:
        console.print(f"nothing to bet: {found.reason}")
    if not dry_run:
        console.print(f"placed {result.placed} new bet(s) in account {config.pipeline.account!r}")

"""``betpipe bets``, ``betpipe risk`` and ``betpipe bankroll``: thin shells over the ledger, the kill switch and the
account's money. Nothing here decides a bet or computes a limit; it parses, calls ``betpipe.betting`` and prints.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from betpipe.cli._common import (
    console,
    fail_clearly,
    format_clv,
    light_sqlite,
    open_engine,
    settings,
    store_settings,
)
from betpipe.cli._inputs import MAX_ID, STATE_FILTERS, check_account_text, check_state, known_account

if TYPE_CHECKING:
    from betpipe.betting.risk import RiskLimits
    from betpipe.ledger_view import BetLine

bets_app = typer.Typer(help="The ledger: bets, their states and settlement.", no_args_is_help=True)
risk_app = typer.Typer(help="Risk state: the kill switch (halt/resume) and current exposure.", no_args_is_help=True)

ACCOUNT_HELP = 'ledger account: "paper" (live paper trading) or "backtest:<run id>"'


def register(app: typer.Typer) -> None:
    """Attach ``bets``, ``risk`` and ``bankroll`` to the main app (one call in ``cli/__init__``)."""
    app.add_typer(bets_app, name="bets")
    app.add_typer(risk_app, name="risk")
    app.command("bankroll")(bankroll)


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "cli"


@bets_app.command("list")
def bets_list(
    account: str | None = typer.Option(None, help=ACCOUNT_HELP + "; all accounts when omitted"),
    state: str | None = typer.Option(None, help=", ".join(STATE_FILTERS)),
    limit: int = typer.Option(50, min=1, max=MAX_ID, help="newest first, at most this many"),
) -> None:
    """List bets, newest first: kickoff, match, selection, price taken, stake, state, P&L and CLV."""
    from betpipe.ledger_view import bet_lines, sqlite_bet_lines

    check_state(state)
    if account is not None:
        check_account_text(account)
    config = store_settings()
    with light_sqlite(config) as conn:  # a plain SQLite store needs no SQLAlchemy: half the command's CPU
        records = None if conn is None else sqlite_bet_lines(conn, account=account, state=state, limit=limit)
    if records is None:
        with open_engine(config) as engine:
            records = bet_lines(engine, account=account, state=state, limit=limit)
    by_account: dict[str, list[BetLine]] = {}
    for bet in records:
        by_account.setdefault(bet.account, []).append(bet)
    if len(by_account) <= 1:
        title = f"{len(records)} bet(s)" + (f" of {records[0].account!r}" if records else "")
        console.print(_bets_table(title, records))
        return
    # One table per account, each newest first: an account column ("backtest:<run id>") would squeeze the match out
    # of 100 columns, and one account's bets read together.
    console.print(Text(f"{len(records)} bet(s) in {len(by_account)} accounts"))
    for name, lines in by_account.items():
        console.print(_bets_table(f"{len(lines)} bet(s) of {name!r}", lines))


def _bets_table(title: str, records: list[BetLine]) -> Table:
    table = Table(title=title)
    for column in ("id", "kickoff (UTC)", "match", "bet", "price", "stake", "state", "P&L", "CLV"):
        right = column in {"id", "price", "stake", "P&L", "CLV"}
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "match")
    for bet in records:
        line = f" {bet.line:+g}" if bet.line else ""
        cells = (
            str(bet.id),
            bet.kickoff.strftime("%Y-%m-%d %H:%M"),
            f"{bet.home} – {bet.away} ({bet.competition})",
            f"{bet.market} {bet.selection}{line}",
            f"{bet.price.normalize():f}",
            f"{bet.stake}",
            bet.state,
            "" if bet.pnl is None else f"{bet.pnl}",
            format_clv(bet.clv),
        )
        # Text, not str: shown as written (a "[" in a team or account name is not markup), and a fifth cheaper to draw.
        table.add_row(*(Text(cell) for cell in cells))
    return table


@bets_app.command("show")
def bets_show(
    bet_id: int = typer.Argument(..., min=1, max=MAX_ID, help="the bet's id (from `betpipe bets list`)"),
) -> None:
    """One bet in full, with every state change it went through."""
    from betpipe.betting import BetNotFoundError, get_bet

    with open_engine() as engine, fail_clearly(BetNotFoundError):
        bet = get_bet(engine, bet_id)
    facts = Table(title=f"bet {bet.id}", show_header=False)
    facts.add_column("field")
    facts.add_column("value")
    for name, value in (
        ("account", bet.account),
        ("event", f"{bet.event_id} ({bet.competition}, kickoff {bet.kickoff.isoformat()})"),
        ("selection", f"{bet.market} {bet.selection} {bet.line:g}"),
        ("price", f"{bet.price.normalize():f} (asked {bet.requested_price.normalize():f})"),
        ("stake", f"{bet.stake}"),
        ("probability / edge", f"{bet.probability:.4f} / {'' if bet.edge is None else f'{bet.edge:+.2%}'}"),
        ("strategy", f"{bet.strategy} (model version {bet.model_version})"),
        ("book", f"{bet.book} {bet.book_ref or ''}"),
        ("decided", bet.decision_time.isoformat()),
        ("state", bet.state + (f" ({bet.reason})" if bet.reason else "")),
        ("pnl", "" if bet.pnl is None else f"{bet.pnl}"),
        ("clv", format_clv(bet.clv, missing=bet.clv_reason or "")),
        ("key", bet.idempotency_key),
    ):
        facts.add_row(name, value)
    console.print(facts)
    steps = Table(title="transitions")
    for column in ("at", "from", "to", "reason"):
        steps.add_column(column)
    for step in bet.transitions:
        steps.add_row(step.at.isoformat(), step.from_state or "", step.to_state, step.reason or "")
    console.print(steps)


@bets_app.command("settle")
def bets_settle(
    account: str = typer.Option("paper", help=ACCOUNT_HELP),
    reference_book: str = typer.Option("pinnacle", help="bookmaker whose margin-free close scores CLV"),
) -> None:
    """Settle open bets from the store's results; CLV against the reference book's margin-free close."""
    from betpipe.betting import list_bets, load_settlement_inputs, settle_bets
    from betpipe.clock import SYSTEM_CLOCK

    config = settings()
    with open_engine(config) as engine:
        known_account(engine, account, config)
        open_bets = list_bets(engine, account=account, state="open", limit=None)
        results, closing = load_settlement_inputs(
            engine, [bet.event_id for bet in open_bets], reference_book=reference_book
        )
        report = settle_bets(engine, account=account, results=results, closing=closing, clock=SYSTEM_CLOCK)
    grades = ", ".join(f"{count} {grade}" for grade, count in sorted(report.by_grade.items())) or "none"
    console.print(f"settled {len(report.settled)} bet(s) of {account!r}: {grades}; P&L {report.pnl}")
    if report.settled:
        console.print(f"CLV missing for {report.clv_missing} (no {reference_book} close at the bet's line)")
    if report.still_open:
        reasons: dict[str, int] = {}
        for reason in report.still_open.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        console.print("still open: " + "; ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())))


def _limits() -> RiskLimits:
    from betpipe.betting import RiskLimits

    return RiskLimits.from_settings(settings())


@risk_app.command("status")
def risk_status(account: str = typer.Option("paper", help=ACCOUNT_HELP)) -> None:
    """Halted or not (and why), today's losses and bets against their limits, open exposure, recent halts."""
    from betpipe.betting import account_status
    from betpipe.clock import SYSTEM_CLOCK

    limits = _limits()
    config = settings()
    with open_engine(config) as engine:
        known_account(engine, account, config)
        status = account_status(engine, account, limits=limits, clock=SYSTEM_CLOCK)
    if status.halted:
        since = status.halted_at.isoformat() if status.halted_at else "?"
        console.print(f"[red]HALTED[/red] since {since}: {status.halted_reason}")
    else:
        console.print(f"account {account!r} is active (not halted)")
    table = Table(title="exposure and limits")
    for column in ("measure", "now", "limit"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("open exposure", f"{status.open_exposure}", f"{limits.max_open_exposure}")
    table.add_row("open bets", str(status.open_bets), "")
    table.add_row("loss today (by settlement)", f"{status.loss_today}", f"{limits.daily_loss_limit}")
    table.add_row("bets today", str(status.bets_today), str(limits.max_bets_per_day))
    table.add_row("bankroll", f"{status.bankroll}", f"floor {limits.bankroll_floor}")
    console.print(table)
    for event in status.events:
        console.print(f"{event.at.isoformat()} {event.action} by {event.actor}: {event.reason}")


@risk_app.command("halt")
def risk_halt(
    reason: str = typer.Option(..., help="why betting stops (recorded in the audit trail)"),
    account: str = typer.Option("paper", help=ACCOUNT_HELP),
) -> None:
    """Stop all betting on the account until `betpipe risk resume`; survives restarts."""
    from betpipe.betting import halt_account
    from betpipe.clock import SYSTEM_CLOCK

    config = settings()
    with open_engine(config) as engine, fail_clearly(ValueError):
        known_account(engine, account, config)
        halt_account(engine, account, reason=reason, actor=_actor(), clock=SYSTEM_CLOCK)
    console.print(f"account {account!r} halted: {reason}")


@risk_app.command("resume")
def risk_resume(
    reason: str = typer.Option(..., help="why it is safe to bet again (recorded in the audit trail)"),
    account: str = typer.Option("paper", help=ACCOUNT_HELP),
) -> None:
    """Lift the halt: the only way to, always with a reason."""
    from betpipe.betting import NotHaltedError, resume_account
    from betpipe.clock import SYSTEM_CLOCK

    config = settings()
    with open_engine(config) as engine, fail_clearly(NotHaltedError, ValueError):
        known_account(engine, account, config)
        resume_account(engine, account, reason=reason, actor=_actor(), clock=SYSTEM_CLOCK)
    console.print(f"account {account!r} resumed: {reason}")


def bankroll(account: str = typer.Option("paper", help=ACCOUNT_HELP)) -> None:
    """Bankroll = starting bankroll + settled P&L; with open exposure and what is left to stake."""
    from betpipe.betting import account_status
    from betpipe.clock import SYSTEM_CLOCK

    limits = _limits()
    config = settings()
    with open_engine(config) as engine:
        known_account(engine, account, config)
        status = account_status(engine, account, limits=limits, clock=SYSTEM_CLOCK)
    currency = settings().bankroll.currency
    table = Table(title=f"bankroll of {account!r} ({currency})")
    table.add_column("")
    table.add_column("amount", justify="right")
    table.add_row("starting bankroll", f"{status.starting_bankroll}")
    table.add_row("settled P&L", f"{status.settled_pnl}")
    table.add_row("bankroll", f"{status.bankroll}")
    table.add_row(f"open exposure ({status.open_bets} bets)", f"{status.open_exposure}")
    table.add_row("available", f"{status.available}")
    console.print(table)

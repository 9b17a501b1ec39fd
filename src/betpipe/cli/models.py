"""``betpipe models ...``: the registry's versions, aliases and rollback, printed."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from betpipe.cli._common import console, format_clv, open_engine, settings
from betpipe.cli._errors import CliError
from betpipe.cli._inputs import MAX_ID

if TYPE_CHECKING:
    from betpipe.registry import ModelVersion

app = typer.Typer(help="Model registry: versions, lineage, champion/challenger, rollback.", no_args_is_help=True)


def model_name(version: ModelVersion) -> str:
    """The name it was trained as (``train --model gbm``); versions registered before that was kept show their type."""
    from betpipe.live.training import MODEL_NAME_PARAM

    return str(version.params.get(MODEL_NAME_PARAM) or version.model_type)


@app.command("list")
def list_models(
    sport: str | None = typer.Option(None, help="Only this sport."),
    market: str | None = typer.Option(None, help="Only this market (1x2, moneyline)."),
) -> None:
    """Every registered version with its aliases and headline metrics."""
    from betpipe.registry import list_versions
    from betpipe.sports import sport_rules

    if sport is not None:
        sport_rules(sport)
    with open_engine() as engine:
        versions = list_versions(engine, sport=sport, market=market)
    table = Table(title="model versions")
    # One metric per line, and the column at least as wide as the longest: a number is never cut or wrapped.
    shown = {v.id: [_metric(k, val) for k, val in v.metrics.items() if isinstance(val, int | float)] for v in versions}
    widest = max((len(line) for lines in shown.values() for line in lines), default=7)
    # Fits 100 columns: sport and market share one, the artifact hash is in `models show`.
    for column in ("id", "sport / market", "model", "v", "aliases", "rows", "trained to", "metrics"):
        table.add_column(column, min_width=widest if column == "metrics" else None, no_wrap=column == "trained to")
    for v in versions:
        metrics = "\n".join(shown[v.id])
        table.add_row(
            str(v.id),
            f"{v.sport} / {v.market}",
            model_name(v),
            str(v.version),
            ",".join(v.aliases),
            str(v.lineage.row_count),
            v.lineage.end.date().isoformat(),
            metrics,
        )
    console.print(table)
    if not versions:
        console.print("no model versions registered yet: `betpipe train --sport soccer --model gbm`")


def _metric(name: str, value: float) -> str:
    return f"{name}={value}" if isinstance(value, int) else f"{name}={value:.4f}"


@app.command("show")
def show(version_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Model version id.")) -> None:
    """One version: lineage, parameters, metrics, code version, alias history."""
    from betpipe.registry import show_version

    with open_engine() as engine:
        details = show_version(engine, version_id)
    v = details.version
    console.print(
        f"[bold]{model_name(v)}[/bold] ({v.model_type}) {v.sport}/{v.market} v{v.version} (id {v.id}), aliases: "
        f"{', '.join(v.aliases) or '-'}"
    )
    console.print(f"artifact sha256 {v.artifact_sha256}, code {v.code_version}, created {v.created_at}")
    console.print_json(
        json.dumps(
            {
                "lineage": {
                    "start": v.lineage.start.isoformat(),
                    "end": v.lineage.end.isoformat(),
                    "rows": v.lineage.row_count,
                    "data_hash": v.lineage.data_hash,
                    "feature_sets": v.lineage.feature_set_versions,
                    "seasons": list(v.lineage.seasons),
                },
                "params": v.params,
                "metrics": v.metrics,
            },
            default=str,
        )
    )
    for move in details.history:
        console.print(
            f"{move.moved_at} {move.alias} {move.action}: {move.from_version_id} -> {move.to_version_id}"
            f" ({move.reason})"
        )


@app.command("promote")
def promote_version(
    version_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Model version id."),
    alias: str = typer.Option("champion", help="champion or challenger."),
    reason: str = typer.Option(..., help="Why: recorded in the alias history."),
) -> None:
    """Point champion (or challenger) of the version's sport and market at it; the service hot-swaps."""
    from betpipe.registry import promote

    if alias not in {"champion", "challenger"}:
        raise typer.BadParameter(f"{alias!r} is not an alias; give champion or challenger", param_hint="--alias")
    with open_engine() as engine:
        version = promote(engine, version_id, alias, reason=reason, actor=getpass.getuser())
    console.print(f"{alias} of {version.sport}/{version.market} is now version id {version.id}")


@app.command("rollback")
def rollback_champion(
    sport: str = typer.Option(..., help="Sport."),
    market: str | None = typer.Option(None, help="Market [default: the sport's prediction market]."),
    reason: str = typer.Option("rollback", help="Why: recorded in the alias history."),
) -> None:
    """Put the previous champion back (one command; repeat to walk further back)."""
    from betpipe.registry import rollback
    from betpipe.sports import sport_rules

    market = market or sport_rules(sport).prediction_market
    with open_engine() as engine:
        version = rollback(engine, sport, market, reason=reason, actor=getpass.getuser())
    console.print(f"champion of {sport}/{market} rolled back to version id {version.id} ({model_name(version)})")


@app.command("compare")
def compare(
    version_a: int = typer.Argument(..., min=1, max=MAX_ID, help="First version id (A)."),
    version_b: int = typer.Argument(..., min=1, max=MAX_ID, help="Second version id (B)."),
) -> None:
    """Score two versions on exactly the same rows: played events after both were trained, else the last season."""
    from betpipe.live.training import comparison_rows
    from betpipe.registry import compare_versions
    from betpipe.registry.versions import get_version

    config = settings()
    with open_engine(config) as engine:
        with engine.connect() as conn:
            a, b = get_version(conn, version_a), get_version(conn, version_b)
        if a.sport != b.sport:
            raise CliError(f"versions {version_a} ({a.sport}) and {version_b} ({b.sport}) are for different sports")
        frame, labels, out_of_sample = comparison_rows(
            engine, sport=a.sport, after=max(a.lineage.end, b.lineage.end), settings=config
        )
        report = compare_versions(engine, version_a, version_b, frame, labels, settings=config)
    where = "out of sample (after both training ranges)" if out_of_sample else "the last season (may be in-sample)"
    table = Table(
        title=f"A = {version_a} ({model_name(a)}) vs B = {version_b} ({model_name(b)}), {report.rows} rows, {where}"
    )
    for column in ("metric", "A", "B", "B − A"):
        table.add_column(column, justify="right")
    for metric, (value_a, value_b, diff) in sorted(
        (k, (report.metrics_a[k], report.metrics_b[k], v)) for k, v in report.differences.items()
    ):
        table.add_row(metric, f"{value_a:.5f}", f"{value_b:.5f}", f"{diff:+.5f}")
    console.print(table)
    console.print(
        f"paired log-loss difference s.e. {report.log_loss_difference_se:.5f}; "
        f"largest probability difference {report.max_abs_probability_difference:.4f}"
    )


@app.command("ab-report")
def ab_report_command(
    sport: str = typer.Option("soccer", help="Sport."),
    market: str | None = typer.Option(None, help="Market [default: the sport's prediction market]."),
    champion_id: int | None = typer.Option(
        None, min=1, max=MAX_ID, help="Version id of arm A [default: the champion]."
    ),
    challenger_id: int | None = typer.Option(
        None, min=1, max=MAX_ID, help="Version id of arm B [default: the challenger]."
    ),
) -> None:
    """Champion vs challenger on settled events both predicted before kickoff: paired CIs, and their bets' CLV."""
    from betpipe.registry import RegistryError
    from betpipe.serving.ab_report import ab_report
    from betpipe.sports import sport_rules

    market = market or sport_rules(sport).prediction_market
    with open_engine() as engine:
        try:
            report = ab_report(engine, sport, market, champion_id=champion_id, challenger_id=challenger_id)
        except RegistryError as error:
            raise CliError(str(error)) from None
    a, b = report.champion, report.challenger
    table = Table(
        title=f"A = {a.id} ({model_name(a)}) vs B = {b.id} ({model_name(b)}): {report.scored_events} settled events"
    )
    for column in ("metric", "A", "B", "B − A [95% CI]"):
        table.add_column(column, justify="right")
    for metric, (value_a, value_b, diff) in report.metrics.items():
        table.add_row(
            metric, f"{value_a:.5f}", f"{value_b:.5f}", f"{diff.mean:+.5f} [{diff.low:+.5f}, {diff.high:+.5f}]"
        )
    for arm, clv in report.clv.items():
        interval = f"[{format_clv(clv.low)}, {format_clv(clv.high)}]"
        shown = "no settled bets" if clv.n == 0 else f"{format_clv(clv.mean)} {interval}"
        table.add_row(f"CLV of {arm} bets (n={clv.n})", "", "", shown)
    console.print(table)
    if report.scored_events == 0:
        console.print("no settled event predicted by both arms yet (`betpipe run` stores both arms' predictions)")

"""``betpipe models ...``: the registry's versions, aliases and rollback, printed."""

from __future__ import annotations

import getpass
import json

import typer
from rich.table import Table

from betpipe.cli._common import console, error_console, fail_clearly, open_engine, settings

app = typer.Typer(help="Model registry: versions, lineage, champion/challenger, rollback.", no_args_is_help=True)


@app.command("list")
def list_models(
    sport: str | None = typer.Option(None, help="Only this sport."),
    market: str | None = typer.Option(None, help="Only this market (1x2, moneyline)."),
) -> None:
    """Every registered version with its aliases and headline metrics."""
    from betpipe.registry import list_versions

    with open_engine() as engine:
        versions = list_versions(engine, sport=sport, market=market)
    table = Table(title="model versions")
    for column in ("id", "sport", "market", "model", "version", "aliases", "rows", "trained to", "metrics", "sha256"):
        table.add_column(column)
    for v in versions:
        metrics = ", ".join(f"{k}={val:.4f}" for k, val in v.metrics.items() if isinstance(val, int | float))
        table.add_row(
            str(v.id),
            v.sport,
            v.market,
            v.model_type,
            str(v.version),
            ",".join(v.aliases),
            str(v.lineage.row_count),
            v.lineage.end.date().isoformat(),
            metrics[:60],
            v.artifact_sha256[:12],
        )
    console.print(table)


@app.command("show")
def show(version_id: int = typer.Argument(..., help="Model version id.")) -> None:
    """One version: lineage, parameters, metrics, code version, alias history."""
    from betpipe.registry import show_version

    with open_engine() as engine:
        details = show_version(engine, version_id)
    v = details.version
    console.print(
        f"[bold]{v.model_type}[/bold] {v.sport}/{v.market} v{v.version} (id {v.id}), aliases: "
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
    version_id: int = typer.Argument(..., help="Model version id."),
    alias: str = typer.Option("champion", help="champion or challenger."),
    reason: str = typer.Option(..., help="Why: recorded in the alias history."),
) -> None:
    """Point champion (or challenger) of the version's sport and market at it; the service hot-swaps."""
    from betpipe.registry import RegistryError, promote

    with open_engine() as engine, fail_clearly(RegistryError):
        version = promote(engine, version_id, alias, reason=reason, actor=getpass.getuser())
    console.print(f"{alias} of {version.sport}/{version.market} is now version id {version.id}")


@app.command("rollback")
def rollback_champion(
    sport: str = typer.Option(..., help="Sport."),
    market: str = typer.Option("1x2", help="Market."),
    reason: str = typer.Option("rollback", help="Why: recorded in the alias history."),
) -> None:
    """Put the previous champion back (one command; repeat to walk further back)."""
    from betpipe.registry import RegistryError, rollback

    with open_engine() as engine, fail_clearly(RegistryError):
        version = rollback(engine, sport, market, reason=reason, actor=getpass.getuser())
    console.print(f"champion of {sport}/{market} rolled back to version id {version.id} ({version.model_type})")


@app.command("compare")
def compare(
    version_a: int = typer.Argument(..., help="First version id (A)."),
    version_b: int = typer.Argument(..., help="Second version id (B)."),
) -> None:
    """Score two versions on exactly the same rows: played events after both were trained, else the last season."""
    from betpipe.registry import RegistryError, compare_versions
    from betpipe.registry.versions import get_version
    from betpipe.training import comparison_rows

    config = settings()
    with open_engine(config) as engine:
        with fail_clearly(RegistryError), engine.connect() as conn:
            a, b = get_version(conn, version_a), get_version(conn, version_b)
        if a.sport != b.sport:
            error_console.print(f"[red]versions {version_a} and {version_b} are for different sports[/red]")
            raise typer.Exit(code=1)
        frame, labels, out_of_sample = comparison_rows(
            engine, sport=a.sport, after=max(a.lineage.end, b.lineage.end), settings=config
        )
        with fail_clearly(RegistryError, ValueError):
            report = compare_versions(engine, version_a, version_b, frame, labels, settings=config)
    where = "out of sample (after both training ranges)" if out_of_sample else "the last season (may be in-sample)"
    table = Table(
        title=f"A = {version_a} ({a.model_type}) vs B = {version_b} ({b.model_type}), {report.rows} rows, {where}"
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

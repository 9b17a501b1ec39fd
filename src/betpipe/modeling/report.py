"""Markdown rendering of an ``EvaluationReport`` (the table ``betpipe evaluate`` prints and docs/results.md records).

Formatting only: it never recomputes or rounds away a number before the table (4 decimals for losses).
"""

from __future__ import annotations

import polars as pl

from betpipe.modeling.evaluate import EvaluationReport


def _ci(row: dict[str, object], column: str) -> str:
    if column not in row or row[column] is None:
        return "—"
    mean, low, high = (float(row[column]), float(row[f"{column}_low"]), float(row[f"{column}_high"]))  # type: ignore[arg-type]
    star = "*" if high < 0 or low > 0 else ""
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]{star}"


def table_markdown(table: pl.DataFrame, primary: str, *, with_pre: bool) -> str:
    p = primary if primary != "rps" else "RPS"
    with_elo = f"d_{primary}_elo" in table.columns
    header = ["model", "rows", "fallback", "log loss", "Brier", "RPS", "ECE", "acc.", f"Δ{p} vs close", "ΔLL vs close"]
    if with_pre:
        header += [f"Δ{p} vs pre-match", "ΔLL vs pre-match"]
    if with_elo:
        header += [f"Δ{p} vs elo_logit"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.iter_rows(named=True):
        name = f"*{row['model']}*" if row["anchor"] else row["model"]
        cells = [
            name,
            f"{row['rows']:,}",
            str(row.get("fallback_rows", 0)),
            f"{row['log_loss']:.4f}",
            f"{row['brier']:.4f}",
            f"{row['rps']:.4f}",
            f"{row['ece']:.4f}",
            f"{row['accuracy']:.3f}",
            _ci(row, f"d_{primary}_close"),
            _ci(row, "d_log_loss_close"),
        ]
        if with_pre:
            cells += [_ci(row, f"d_{primary}_pre"), _ci(row, "d_log_loss_pre")]
        if with_elo:
            cells += [_ci(row, f"d_{primary}_elo")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_markdown(report: EvaluationReport) -> str:
    """The full report: overall table, per-competition tables, fallback/calibration notes."""
    with_pre = f"d_{report.primary}_pre" in report.table.columns
    parts = [
        f"### {report.sport}: {report.rows:,} rows, seasons {report.seasons[0]} .. {report.seasons[-1]}",
        "",
        "Differences are model − anchor (negative = better), paired bootstrap 95% CI (2,000 resamples, seed 0); "
        "`*` = CI excludes 0. Anchors in italics.",
        "",
        table_markdown(report.table, report.primary, with_pre=with_pre),
    ]
    if report.untouched.height:
        parts += [
            "",
            f"#### Seasons {report.untouched_from} on only ({int(report.untouched.get_column('rows')[0]):,} rows; "
            "no hyper-parameter was chosen on them)",
            "",
            table_markdown(report.untouched, report.primary, with_pre=with_pre),
        ]
    if report.by_competition.height:
        for comp in sorted(set(report.by_competition.get_column("competition").to_list())):
            sub = report.by_competition.filter(pl.col("competition") == comp).drop("competition")
            parts += ["", f"#### {comp} ({int(sub.get_column('rows')[0]):,} rows)", ""]
            parts.append(
                table_markdown(sub.with_columns(pl.lit(0).alias("fallback_rows")), report.primary, with_pre=with_pre)
            )
    if report.notes:
        parts += ["", "Notes:", *[f"- {note}" for note in report.notes[:50]]]
    return "\n".join(parts) + "\n"


def reliability_markdown(report: EvaluationReport, model: str) -> str:
    table = report.reliability(model).filter(pl.col("rows") > 0)
    labels = ("home", "draw", "away") if report.primary == "rps" else ("home", "away")
    lines = ["| outcome | bin | rows | mean predicted | observed |", "|---|---|---|---|---|"]
    lines += [
        f"| {labels[row['outcome']]} | {row['lower']:.1f}–{row['upper']:.1f} | {row['rows']:,} | "
        f"{row['mean_predicted']:.3f} | {row['observed']:.3f} |"
        for row in table.iter_rows(named=True)
    ]
    return "\n".join(lines) + "\n"

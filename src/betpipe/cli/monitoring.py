"""``betpipe monitor run`` and ``betpipe alerts list``: thin shells over ``betpipe.monitoring``.

Nothing here measures or decides: it parses, calls ``run_cycle`` or ``list_alerts`` and prints. Never prints a
webhook URL or an SMTP password (the channels keep them; errors are stored without them).
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from betpipe.cli._common import console, open_engine, settings
from betpipe.cli._errors import USAGE, CliError

monitor_app = typer.Typer(help="Monitoring: metrics, drift, checks and alerts.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alert history and delivery status per channel.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Attach ``monitor`` and ``alerts`` to the main app (one call in ``cli/__init__``)."""
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(alerts_app, name="alerts")


@monitor_app.command("run")
def monitor_run() -> None:
    """One monitoring cycle: daily metrics, drift, risk/freshness/job/CLV checks, alerts raised and delivered."""
    from betpipe.clock import SYSTEM_CLOCK
    from betpipe.monitoring import run_cycle

    config = settings()
    with open_engine(config) as engine:
        report = run_cycle(engine, config, clock=SYSTEM_CLOCK)
    for line in report.lines():
        console.print(line, markup=False, highlight=False)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"--since {value!r} is not an ISO date or date-time (e.g. 2025-03-01)", exit_code=USAGE
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@alerts_app.command("list")
def alerts_list(
    since: str | None = typer.Option(None, help="only alerts raised at or after this ISO date/time (UTC)"),
    severity: str | None = typer.Option(None, help="info, warning or critical: that level and above"),
    limit: int = typer.Option(100, min=1, help="newest first, at most this many"),
) -> None:
    """Alerts, newest first, with occurrences and each channel's delivery status (attempts)."""
    from betpipe.monitoring import Severity, list_alerts

    level = None
    if severity is not None:
        try:
            level = Severity(severity.lower())
        except ValueError:
            raise CliError(f"--severity {severity!r}: give one of info, warning, critical", exit_code=USAGE) from None
    with open_engine() as engine:
        records = list_alerts(engine, since=_since(since), severity=level, limit=limit)
    if not records:
        console.print("no alerts" + (" matching the filters" if since or severity else " yet"))
        return
    table = Table(title=f"{len(records)} alert(s)")
    for column in ("id", "raised at (UTC)", "severity", "kind", "title", "seen", "deliveries"):
        table.add_column(column, justify="right" if column in {"id", "seen"} else "left")
    for alert in records:
        table.add_row(
            str(alert.id),
            alert.raised_at.strftime("%Y-%m-%d %H:%M"),
            alert.severity,
            alert.kind,
            alert.title,
            str(alert.occurrences),
            ", ".join(f"{channel}: {status}" for channel, status in sorted(alert.deliveries.items())) or "-",
        )
    console.print(table)

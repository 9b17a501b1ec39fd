"""Health checks of money and machinery: exposure and daily loss against limits, CLV and loss streaks, data
freshness, failed jobs. Each returns a ``CheckResult`` (ok / alert / no_data, with a sentence) and the alerts to raise.

Read-only: checks never write, never take the ledger's risk lock, and never raise on an empty or half-built database
(a missing ``job_runs`` table is "no data", not an error). Limits come from ``RiskLimits.from_settings``, the same
numbers the ledger enforces, so a check can never disagree with what the ledger would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Engine, MetaData, Table, func, inspect, select

from betpipe.betting import RiskLimits, account_status
from betpipe.betting.accounts import from_cents
from betpipe.clock import Clock, as_utc_instant
from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.db.schema import ingest_runs, odds_snapshots
from betpipe.db.schema_betting import bets
from betpipe.modeling.metrics import bootstrap_mean_ci
from betpipe.monitoring.alerts import AlertSpec
from betpipe.monitoring.channels import Severity
from betpipe.monitoring.metrics import SETTLED_STATES

__all__ = [
    "CheckResult",
    "check_clv",
    "check_exposure",
    "check_freshness",
    "check_jobs",
    "check_loss_streak",
]

FAILED_JOB_STATES = ("failed", "error")


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # ok | alert | no_data
    message: str
    alerts: tuple[AlertSpec, ...] = field(default_factory=tuple)


def _level(value: Decimal, limit: Decimal, warn_fraction: Decimal) -> Severity | None:
    if limit > 0 and value >= limit:
        return Severity.CRITICAL
    if limit > 0 and value >= limit * warn_fraction:
        return Severity.WARNING
    return None


def _has_bets(engine: Engine, account: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(bets.c.id).where(bets.c.account == account).limit(1)).first() is not None


def check_exposure(engine: Engine, settings: Settings, account: str, *, clock: Clock) -> CheckResult:
    """Open exposure and today's settled loss against their limits; a halted account is reported too."""
    name = f"risk:{account}"
    if not _has_bets(engine, account):
        return CheckResult(name, "no_data", f"no data: account {account!r} has no bets yet")
    limits = RiskLimits.from_settings(settings)
    warn = settings.monitoring.exposure_warn_fraction
    status = account_status(engine, account, limits=limits, clock=clock, events=1)
    day = as_utc_instant(clock.now()).date().isoformat()
    found: list[AlertSpec] = []
    level = _level(status.open_exposure, limits.max_open_exposure, warn)
    if level is not None:
        found.append(
            AlertSpec(
                "exposure",
                f"exposure:{account}",
                level,
                f"{account}: open exposure {status.open_exposure} of limit {limits.max_open_exposure}",
                f"{status.open_bets} open bet(s) hold {status.open_exposure}; the limit is {limits.max_open_exposure}.",
                {"open_exposure": str(status.open_exposure), "limit": str(limits.max_open_exposure)},
            )
        )
    level = _level(status.loss_today, limits.daily_loss_limit, warn)
    if level is not None:
        found.append(
            AlertSpec(
                "daily_loss",
                f"daily_loss:{account}:{day}",
                level,
                f"{account}: lost {status.loss_today} today, limit {limits.daily_loss_limit}",
                f"Bets settled on {day} (UTC) lost {status.loss_today}; new bets stop at {limits.daily_loss_limit}.",
                {"loss_today": str(status.loss_today), "limit": str(limits.daily_loss_limit), "day": day},
            )
        )
    if status.halted:
        found.append(
            AlertSpec(
                "halted",
                f"halted:{account}",
                Severity.WARNING,
                f"{account}: betting is halted",
                f"The kill switch is on: {status.halted_reason or 'no reason given'}. "
                "`betpipe risk resume --reason ...` lifts it.",
            )
        )
    message = (
        f"exposure {status.open_exposure}/{limits.max_open_exposure}, "
        f"loss today {status.loss_today}/{limits.daily_loss_limit}" + (", halted" if status.halted else "")
    )
    return CheckResult(name, "alert" if found else "ok", message, tuple(found))


def _recent_settled(engine: Engine, account: str, limit: int, *, with_clv: bool) -> tuple[np.ndarray, np.ndarray]:
    """The newest ``limit`` settled bets of ``account``: (pnl_cents, clv), newest first."""
    query = (
        select(bets.c.pnl_cents, bets.c.clv)
        .where(bets.c.account == account, bets.c.state.in_(SETTLED_STATES))
        .order_by(bets.c.settled_at.desc(), bets.c.id.desc())
        .limit(limit)
    )
    if with_clv:
        query = query.where(bets.c.clv.is_not(None))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    pnl = np.fromiter((r[0] or 0 for r in rows), dtype=np.int64, count=len(rows))
    clv = np.fromiter((np.nan if r[1] is None else r[1] for r in rows), dtype=np.float64, count=len(rows))
    return pnl, clv


def check_clv(engine: Engine, settings: Settings, account: str) -> CheckResult:
    """Mean CLV of the last N settled bets with a bootstrap 95% CI (2,000 resamples, seed 0) wholly below zero."""
    config = settings.monitoring
    name = f"clv:{account}"
    _, clv = _recent_settled(engine, account, config.clv_window_bets, with_clv=True)
    clv = clv[np.isfinite(clv)]
    if clv.size < config.clv_min_bets:
        return CheckResult(name, "no_data", f"no data: {clv.size} settled bet(s) with CLV, need {config.clv_min_bets}")
    ci = bootstrap_mean_ci(clv, n=2000, seed=0)[0]
    message = f"mean CLV of the last {clv.size} bets {ci.mean:+.2%} [{ci.low:+.2%}, {ci.high:+.2%}]"
    if ci.high >= 0:
        return CheckResult(name, "ok", message)
    spec = AlertSpec(
        "clv_negative",
        f"clv_negative:{account}",
        Severity.WARNING,
        f"{account}: CLV turned negative",
        message + ": the bets are worse than the closing price; the edge may be gone.",
        {"mean": ci.mean, "low": ci.low, "high": ci.high, "bets": int(clv.size)},
    )
    return CheckResult(name, "alert", message, (spec,))


def check_loss_streak(engine: Engine, settings: Settings, account: str) -> CheckResult:
    """The newest ``loss_streak`` settled bets all lost money."""
    streak = settings.monitoring.loss_streak
    name = f"loss_streak:{account}"
    pnl, _ = _recent_settled(engine, account, streak, with_clv=False)
    if pnl.size < streak:
        return CheckResult(name, "no_data", f"no data: {pnl.size} settled bet(s), a streak needs {streak}")
    if not bool((pnl < 0).all()):
        return CheckResult(name, "ok", f"no losing streak in the last {streak} settled bets")
    lost = from_cents(int(-pnl.sum()))
    spec = AlertSpec(
        "loss_streak",
        f"loss_streak:{account}",
        Severity.WARNING,
        f"{account}: {streak} losing bets in a row",
        f"The last {streak} settled bets all lost, {lost} in total.",
        {"bets": streak, "lost": str(lost)},
    )
    return CheckResult(name, "alert", spec.message, (spec,))


def _latest_by_source(
    engine: Engine, column: ColumnElement[Any], source: ColumnElement[Any], *where: ColumnElement[bool]
) -> dict[str, datetime]:
    with engine.connect() as conn:
        rows = conn.execute(select(source, func.max(column)).where(*where).group_by(source)).all()
    return {str(s): as_utc(t) for s, t in rows if t is not None}


def check_freshness(engine: Engine, settings: Settings, *, clock: Clock) -> list[CheckResult]:
    """Newest odds snapshot and newest successful ingest per source, against their maximum ages."""
    config = settings.monitoring
    now = as_utc_instant(clock.now())
    wanted = set(config.freshness_sources)
    results: list[CheckResult] = []
    for what, latest, max_hours in (
        (
            "odds",
            _latest_by_source(engine, odds_snapshots.c.captured_at, odds_snapshots.c.source),
            config.max_odds_age_hours,
        ),
        (
            "ingest",
            _latest_by_source(engine, ingest_runs.c.finished_at, ingest_runs.c.source, ingest_runs.c.status == "ok"),
            config.max_ingest_age_hours,
        ),
    ):
        sources = sorted(wanted or set(latest))
        if not sources:
            results.append(CheckResult(f"freshness:{what}", "no_data", f"no data: no {what} recorded yet"))
            continue
        for source in sources:
            name = f"freshness:{what}:{source}"
            last = latest.get(source)
            age_hours = None if last is None else (now - last).total_seconds() / 3600.0
            if age_hours is not None and age_hours <= max_hours:
                results.append(CheckResult(name, "ok", f"last {what} from {source} {age_hours:.1f} h ago"))
                continue
            said = "never" if last is None else f"{age_hours:.1f} h ago ({last.isoformat()})"
            spec = AlertSpec(
                f"stale_{what}",
                f"stale_{what}:{source}",
                Severity.WARNING,
                f"{what} from {source} is stale",
                f"Last {what} from {source}: {said}; the limit is {max_hours:g} h.",
                {"source": source, "last": None if last is None else last.isoformat(), "max_hours": max_hours},
            )
            results.append(CheckResult(name, "alert", spec.message, (spec,)))
    return results


def _job_table(engine: Engine) -> Table | None:
    if not inspect(engine).has_table("job_runs"):
        return None
    return Table("job_runs", MetaData(), autoload_with=engine)


def _first(table: Table, *names: str) -> str | None:
    return next((n for n in names if n in table.c), None)


def check_jobs(engine: Engine, settings: Settings, *, clock: Clock) -> list[CheckResult]:
    """Failed scheduler jobs (``job_runs``, when the scheduler has created it) and failed ingest runs in the window."""
    since = as_utc_instant(clock.now()) - timedelta(hours=settings.monitoring.job_failure_window_hours)
    out: list[CheckResult] = []
    failures: dict[tuple[str, str], tuple[int, str | None]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(ingest_runs.c.source, func.count(), func.max(ingest_runs.c.message))
            .where(ingest_runs.c.status == "failed", ingest_runs.c.started_at >= since)
            .group_by(ingest_runs.c.source)
        ).all()
    for source, count, message in rows:
        failures[("ingest", str(source))] = (int(count), message)
    table = _job_table(engine)
    name_col = None if table is None else _first(table, "job", "job_name", "job_id", "name")
    time_col = None if table is None else _first(table, "started_at", "finished_at", "start", "created_at")
    error_col = None if table is None else _first(table, "error", "message", "last_error")
    if table is None or name_col is None or time_col is None or "status" not in table.c:
        reason = "no job_runs table yet" if table is None else "job_runs lacks job/status/time columns"
        out.append(CheckResult("jobs", "no_data", f"no data: {reason} (scheduler not installed); ingest runs checked"))
    else:
        error_expr = func.max(table.c[error_col]) if error_col else func.max(table.c[name_col])
        with engine.connect() as conn:
            job_rows = conn.execute(
                select(table.c[name_col], func.count(), error_expr)
                .where(func.lower(table.c.status).in_(FAILED_JOB_STATES), table.c[time_col] >= since)
                .group_by(table.c[name_col])
            ).all()
        for job, count, message in job_rows:
            failures[("job", str(job))] = (int(count), message if error_col else None)
        out.append(CheckResult("jobs", "ok" if not job_rows else "alert", f"{len(job_rows)} job(s) failed recently"))
    for (what, name), (count, message) in sorted(failures.items()):
        spec = AlertSpec(
            f"{what}_failed",
            f"{what}_failed:{name}",
            Severity.WARNING,
            f"{what} {name} failed {count} time(s)",
            f"{what} {name} failed {count} time(s) since {since.isoformat()}: {message or 'no error recorded'}",
            {"count": count},
        )
        out.append(CheckResult(f"{what}:{name}", "alert", spec.message, (spec,)))
    return out

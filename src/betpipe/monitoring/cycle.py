"""One monitoring cycle: metrics, drift, checks, then alerts raised (de-duplicated) and delivered to every channel.

This is the function the scheduler runs as a job and ``betpipe monitor run`` calls. Each step runs on its own: a
step that fails is logged, reported as ``error`` and raised as an alert itself, and the remaining steps still run,
so a broken drift reference never hides a blown loss limit. Never raises for an empty database: every step says
"no data" in words instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Engine

from betpipe.clock import Clock
from betpipe.config import Settings
from betpipe.logs import get_logger
from betpipe.monitoring.alerts import AlertSpec, DeliveryReport, RaiseReport, deliver_pending, raise_alerts
from betpipe.monitoring.channels import Channel, Severity, channels_from_settings
from betpipe.monitoring.checks import (
    CheckResult,
    check_clv,
    check_exposure,
    check_freshness,
    check_jobs,
    check_loss_streak,
)
from betpipe.monitoring.metrics import MetricsReport, update_daily_metrics
from betpipe.monitoring.reference import DriftReport, FeatureSource, check_drift

__all__ = ["CycleReport", "run_cycle"]

log = get_logger(__name__)
T = TypeVar("T")


@dataclass
class CycleReport:
    metrics: MetricsReport | None = None
    drift: list[DriftReport] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    raised: RaiseReport | None = None
    delivery: DeliveryReport | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def alerts(self) -> list[AlertSpec]:
        found = [spec for check in self.checks for spec in check.alerts]
        return found + [d.alert for d in self.drift if d.alert is not None]

    def lines(self) -> list[str]:
        """The cycle in sentences, for the CLI and the job log."""
        out = []
        if self.metrics is not None:
            out.append(f"metrics {self.metrics.start}..{self.metrics.end}: {self.metrics.message}")
        out += [f"drift {d.message}" for d in self.drift] or ["drift: no data: no serving model (no champion yet)"]
        out += [f"{c.name}: {c.status}: {c.message}" for c in self.checks]
        if self.raised is not None:
            out.append(f"alerts: {len(self.raised.new_alert_ids)} new, {self.raised.suppressed} inside their window")
        if self.delivery is not None:
            d = self.delivery
            out.append(f"deliveries: {d.sent} sent, {d.failed} failed (retried next cycle), {d.abandoned} abandoned")
        out += [f"error: {e}" for e in self.errors]
        return out


def run_cycle(
    engine: Engine,
    settings: Settings,
    *,
    clock: Clock,
    channels: Sequence[Channel] | None = None,
    feature_source: FeatureSource | None = None,
) -> CycleReport:
    """Measure, check, alert. ``channels`` default to the configured ones (``[monitoring]`` in config)."""
    config = settings.monitoring
    targets = list(channels) if channels is not None else channels_from_settings(config)
    report = CycleReport()

    def step(name: str, work: Callable[[], T]) -> T | None:
        try:
            return work()
        except Exception as error:  # one failing step must not stop the others; it becomes an alert itself
            text = f"{name}: {type(error).__name__}: {error}"
            log.exception("monitoring step failed", step=name)
            report.errors.append(text)
            return None

    metrics = step(
        "metrics",
        lambda: update_daily_metrics(
            engine, accounts=list(config.accounts), lookback_days=config.metrics_lookback_days, clock=clock
        ),
    )
    report.metrics = metrics[0] if metrics is not None else None
    report.drift = step("drift", lambda: check_drift(engine, settings, clock=clock, source=feature_source)) or []
    for account in config.accounts:
        for name, check in (
            ("risk", lambda a=account: [check_exposure(engine, settings, a, clock=clock)]),
            ("clv", lambda a=account: [check_clv(engine, settings, a)]),
            ("loss_streak", lambda a=account: [check_loss_streak(engine, settings, a)]),
        ):
            report.checks += step(f"{name}:{account}", check) or []
    report.checks += step("freshness", lambda: check_freshness(engine, settings, clock=clock)) or []
    report.checks += step("jobs", lambda: check_jobs(engine, settings, clock=clock)) or []
    specs = report.alerts + [
        AlertSpec(
            "monitoring_error",
            f"monitoring_error:{error.split(':', 1)[0]}",
            Severity.WARNING,
            f"monitoring step {error.split(':', 1)[0]} failed",
            error,
        )
        for error in report.errors
    ]
    window = timedelta(hours=config.dedup_window_hours)
    report.raised = step("raise", lambda: raise_alerts(engine, specs, channels=targets, window=window, clock=clock))
    report.delivery = step(
        "deliver", lambda: deliver_pending(engine, targets, clock=clock, max_attempts=config.max_delivery_attempts)
    )
    return report

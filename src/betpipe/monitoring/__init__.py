"""Monitoring: daily model metrics, feature drift, money and machinery checks, alerts with de-duplication.

Reads every table and writes only its own (``db/schema_monitoring``). Nothing here reads the wall clock: callers
pass a ``betpipe.clock.Clock``. ``run_cycle`` is the one entry point the CLI and the scheduler call.
"""

from betpipe.monitoring.alerts import AlertRecord, AlertSpec, DeliveryReport, deliver_pending, list_alerts, raise_alerts
from betpipe.monitoring.channels import (
    AlertMessage,
    Channel,
    ChannelError,
    EmailChannel,
    LogChannel,
    Severity,
    WebhookChannel,
    channels_from_settings,
)
from betpipe.monitoring.checks import CheckResult
from betpipe.monitoring.cycle import CycleReport, run_cycle
from betpipe.monitoring.drift import DriftResult, DriftThresholds, ReferenceSummary, compare, summarise
from betpipe.monitoring.metrics import MetricsReport, daily_metrics, update_daily_metrics
from betpipe.monitoring.reference import DriftReport, FeatureSource, StoreFeatureSource, check_drift

__all__ = [
    "AlertMessage",
    "AlertRecord",
    "AlertSpec",
    "Channel",
    "ChannelError",
    "CheckResult",
    "CycleReport",
    "DeliveryReport",
    "DriftReport",
    "DriftResult",
    "DriftThresholds",
    "EmailChannel",
    "FeatureSource",
    "LogChannel",
    "MetricsReport",
    "ReferenceSummary",
    "Severity",
    "StoreFeatureSource",
    "WebhookChannel",
    "channels_from_settings",
    "check_drift",
    "compare",
    "daily_metrics",
    "deliver_pending",
    "list_alerts",
    "raise_alerts",
    "run_cycle",
    "summarise",
    "update_daily_metrics",
]

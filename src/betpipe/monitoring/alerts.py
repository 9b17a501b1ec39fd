"""Alert history with de-duplication, and delivery to each channel that is retried until it succeeds.

Raising an alert whose key already has an alert of at least the same severity inside its de-duplication window
only counts an occurrence; otherwise a new alert is stored with one delivery row per channel (status ``pending``).
Delivery claims a row atomically (``pending``/``failed`` -> ``sending``) and commits the claim before sending, so two
cycles running at once never both send it; success marks it ``sent``, failure ``failed`` with the error, and the
next cycle retries it. Must never send an alert twice to one channel, and never drop a delivery silently: after
``max_attempts`` failures it is ``abandoned`` and logged as such, still visible in ``betpipe alerts list``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from betpipe.clock import Clock, as_utc_instant
from betpipe.db.bulk import as_utc
from betpipe.db.schema_monitoring import alert_deliveries, alerts
from betpipe.logs import get_logger
from betpipe.monitoring.channels import AlertMessage, Channel, Severity
from betpipe.registry.locking import lock, write_transaction

__all__ = [
    "AlertRecord",
    "AlertSpec",
    "DeliveryReport",
    "RaiseReport",
    "deliver_pending",
    "list_alerts",
    "raise_alerts",
]

log = get_logger(__name__)
_LOCK_KEY = "monitoring:alerts"
SENDING_LEASE = timedelta(minutes=10)  # a claim older than this was lost with its process; it is retried
_ERROR_CHARS = 1000


@dataclass(frozen=True)
class AlertSpec:
    """A condition a check found; ``key`` identifies it for de-duplication (e.g. ``exposure:paper``)."""

    kind: str
    key: str
    severity: Severity
    title: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RaiseReport:
    new_alert_ids: tuple[int, ...]
    suppressed: int  # raised again inside an existing alert's window


def raise_alerts(
    engine: Engine,
    specs: Sequence[AlertSpec],
    *,
    channels: Sequence[Channel],
    window: timedelta,
    clock: Clock,
) -> RaiseReport:
    """Store new alerts (and their pending deliveries) or count repeats, under one lock against a concurrent cycle."""
    now = as_utc_instant(clock.now())
    new_ids: list[int] = []
    suppressed = 0
    if not specs:
        return RaiseReport((), 0)
    with write_transaction(engine) as conn:
        lock(conn, _LOCK_KEY)
        for spec in specs:
            current = conn.execute(
                select(alerts.c.id, alerts.c.severity)
                .where(alerts.c.dedup_key == spec.key, alerts.c.window_ends_at > now)
                .order_by(alerts.c.id.desc())
                .limit(1)
            ).first()
            if current is not None and Severity(current.severity).rank >= spec.severity.rank:
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == current.id)
                    .values(occurrences=alerts.c.occurrences + 1, last_seen_at=now)
                )
                suppressed += 1
                continue
            alert_id = conn.execute(
                alerts.insert()
                .values(
                    dedup_key=spec.key[:300],
                    kind=spec.kind,
                    severity=spec.severity.value,
                    title=spec.title,
                    message=spec.message,
                    details=spec.details or None,
                    raised_at=now,
                    last_seen_at=now,
                    window_ends_at=now + window,
                    occurrences=1,
                )
                .returning(alerts.c.id)
            ).scalar_one()
            targets = [c.name for c in channels if spec.severity.rank >= c.min_severity.rank]
            if targets:
                conn.execute(
                    alert_deliveries.insert(),
                    [{"alert_id": alert_id, "channel": name, "status": "pending", "attempts": 0} for name in targets],
                )
            new_ids.append(int(alert_id))
    return RaiseReport(tuple(new_ids), suppressed)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int
    abandoned: int
    skipped: int  # deliveries for a channel that is not configured any more (left as they are)
    errors: tuple[str, ...]


def deliver_pending(
    engine: Engine, channels: Sequence[Channel], *, clock: Clock, max_attempts: int = 100
) -> DeliveryReport:
    """Try every pending or failed delivery once, oldest first; each outcome is committed on its own."""
    by_name: Mapping[str, Channel] = {c.name: c for c in channels}
    now = as_utc_instant(clock.now())
    stale = now - SENDING_LEASE
    due = or_(
        alert_deliveries.c.status.in_(("pending", "failed")),
        and_(alert_deliveries.c.status == "sending", alert_deliveries.c.last_attempt_at < stale),
    )
    query = (
        select(alert_deliveries, alerts.c.kind, alerts.c.severity, alerts.c.title, alerts.c.message)
        .add_columns(alerts.c.raised_at, alerts.c.details)
        .join(alerts, alerts.c.id == alert_deliveries.c.alert_id)
        .where(due)
        .order_by(alert_deliveries.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    sent = failed = abandoned = skipped = 0
    errors: list[str] = []
    for row in rows:
        channel = by_name.get(row["channel"])
        if channel is None:
            skipped += 1
            continue
        if not _claim(engine, row["id"], row["status"], row["attempts"], now):
            continue  # another cycle took it
        attempts = int(row["attempts"]) + 1
        message = AlertMessage(
            id=int(row["alert_id"]),
            kind=row["kind"],
            severity=Severity(row["severity"]),
            title=row["title"],
            message=row["message"],
            raised_at=as_utc(row["raised_at"]),
            details=dict(row["details"] or {}),
        )
        try:
            channel.send(message)
        except Exception as error:  # any failure of one channel is recorded; the others still run
            text = f"{type(error).__name__}: {error}"[:_ERROR_CHARS]
            status = "abandoned" if attempts >= max_attempts else "failed"
            _finish(engine, row["id"], status=status, error=text, sent_at=None)
            log.warning(
                "alert delivery failed", alert_id=message.id, channel=channel.name, attempt=attempts, error=text
            )
            errors.append(f"{channel.name}: {text}")
            if status == "abandoned":
                abandoned += 1
                log.error("alert delivery abandoned", alert_id=message.id, channel=channel.name, attempts=attempts)
            else:
                failed += 1
            continue
        _finish(engine, row["id"], status="sent", error=None, sent_at=now)
        sent += 1
    return DeliveryReport(sent, failed, abandoned, skipped, tuple(errors))


def _claim(engine: Engine, delivery_id: int, status: str, attempts: int, now: datetime) -> bool:
    """Compare-and-set on (status, attempts): exactly one claimant wins, on SQLite and PostgreSQL alike."""
    with engine.begin() as conn:
        result = conn.execute(
            update(alert_deliveries)
            .where(
                alert_deliveries.c.id == delivery_id,
                alert_deliveries.c.status == status,
                alert_deliveries.c.attempts == attempts,
            )
            .values(status="sending", attempts=attempts + 1, last_attempt_at=now)
        )
        return result.rowcount == 1


def _finish(engine: Engine, delivery_id: int, *, status: str, error: str | None, sent_at: datetime | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(alert_deliveries)
            .where(alert_deliveries.c.id == delivery_id)
            .values(status=status, last_error=error, sent_at=sent_at)
        )


@dataclass(frozen=True)
class AlertRecord:
    id: int
    kind: str
    key: str
    severity: str
    title: str
    message: str
    raised_at: datetime
    last_seen_at: datetime
    occurrences: int
    deliveries: dict[str, str]  # channel -> status (attempts)


def list_alerts(
    engine: Engine, *, since: datetime | None = None, severity: Severity | None = None, limit: int = 100
) -> list[AlertRecord]:
    """Newest first; ``severity`` keeps that level and above."""
    query = select(alerts).order_by(alerts.c.raised_at.desc(), alerts.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(alerts.c.raised_at >= as_utc_instant(since))
    if severity is not None:
        allowed = [s.value for s in Severity if s.rank >= severity.rank]
        query = query.where(alerts.c.severity.in_(allowed))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        ids = [row["id"] for row in rows]
        deliveries: dict[int, dict[str, str]] = {i: {} for i in ids}
        if ids:
            for d in conn.execute(select(alert_deliveries).where(alert_deliveries.c.alert_id.in_(ids))).mappings():
                deliveries[d["alert_id"]][d["channel"]] = f"{d['status']} ({d['attempts']})"
    return [
        AlertRecord(
            id=int(row["id"]),
            kind=row["kind"],
            key=row["dedup_key"],
            severity=row["severity"],
            title=row["title"],
            message=row["message"],
            raised_at=as_utc(row["raised_at"]),
            last_seen_at=as_utc(row["last_seen_at"]),
            occurrences=int(row["occurrences"]),
            deliveries=deliveries[row["id"]],
        )
        for row in rows
    ]

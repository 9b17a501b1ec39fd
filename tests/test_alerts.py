"""Alert channels against real receivers on 127.0.0.1 (an HTTP webhook receiver, an aiosmtpd SMTP server):
exactly one message per channel inside the de-duplication window, failures (500, timeout, SMTP refusal) recorded per
channel and retried next cycle, never sent twice, and one broken channel never stopping the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from betpipe.clock import FixedClock
from betpipe.config import EmailSettings, MonitoringSettings, Settings, WebhookSettings
from betpipe.db.schema_monitoring import alert_deliveries, alerts
from betpipe.monitoring import (
    AlertSpec,
    EmailChannel,
    LogChannel,
    Severity,
    WebhookChannel,
    channels_from_settings,
    deliver_pending,
    list_alerts,
    raise_alerts,
    run_cycle,
)
from betpipe.monitoring.channels import Channel
from fakes.alert_receivers import SmtpServer, WebhookReceiver
from fakes.monitoring_data import NOW, PlantedFeatures, seed_bets, seed_model

WINDOW = timedelta(hours=24)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _settings(webhook: WebhookReceiver, smtp: SmtpServer, *, timeout: float = 2.0) -> Settings:
    return Settings(
        monitoring=MonitoringSettings(
            webhook=WebhookSettings(url=SecretStr(webhook.url), timeout_seconds=timeout),
            email=EmailSettings(host="127.0.0.1", port=smtp.port, recipients=["ops@example.org"], timeout_seconds=5),
        )
    )


def _channels(webhook: WebhookReceiver, smtp: SmtpServer, *, timeout: float = 2.0) -> list[Channel]:
    return channels_from_settings(_settings(webhook, smtp, timeout=timeout).monitoring)


def _deliveries(engine: Engine, kind: str | None = None) -> list[tuple[str, str, int, str | None]]:
    query = (
        select(alert_deliveries.c.channel, alert_deliveries.c.status, alert_deliveries.c.attempts)
        .add_columns(alert_deliveries.c.last_error)
        .join(alerts, alerts.c.id == alert_deliveries.c.alert_id)
        .order_by(alert_deliveries.c.channel)
    )
    if kind is not None:
        query = query.where(alerts.c.kind == kind)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query).all()]  # type: ignore[misc]


def _alert_count(engine: Engine, kind: str) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(alerts.c.id).where(alerts.c.kind == kind)).all())


SPEC = AlertSpec("test", "test:one", Severity.WARNING, "something broke", "details of what broke")


def test_settings_build_the_three_channels_and_mask_their_secrets(webhook: WebhookReceiver, smtp: SmtpServer) -> None:
    settings = _settings(webhook, smtp)
    assert [c.name for c in channels_from_settings(settings.monitoring)] == ["log", "webhook", "email"]
    shown = str(settings.masked())
    assert "/hooks/T000/B000/secret" not in shown
    assert [c.name for c in channels_from_settings(Settings().monitoring)] == ["log"]


def test_one_alert_reaches_each_channel_once_inside_its_window(
    engine: Engine, webhook: WebhookReceiver, smtp: SmtpServer
) -> None:
    channels = _channels(webhook, smtp)
    for minutes in (0, 30, 60):
        clock = FixedClock(NOW + timedelta(minutes=minutes))
        raise_alerts(engine, [SPEC], channels=channels, window=WINDOW, clock=clock)
        deliver_pending(engine, channels, clock=clock)
    assert [text["text"].splitlines()[0] for text in webhook.received] == ["[WARNING] something broke"]
    assert [m["Subject"] for m in smtp.messages] == ["[betpipe warning] something broke"]
    assert [(c, s, a) for c, s, a, _ in _deliveries(engine)] == [
        ("email", "sent", 1),
        ("log", "sent", 1),
        ("webhook", "sent", 1),
    ]
    (record,) = list_alerts(engine)
    assert record.occurrences == 3
    later = FixedClock(NOW + WINDOW + timedelta(minutes=1))
    raise_alerts(engine, [SPEC], channels=channels, window=WINDOW, clock=later)
    deliver_pending(engine, channels, clock=later)
    assert len(webhook.received) == 2
    assert len(smtp.messages) == 2


def test_an_escalation_inside_the_window_is_a_new_alert(engine: Engine) -> None:
    channels: list[Channel] = [LogChannel()]
    clock = FixedClock(NOW)
    raise_alerts(engine, [SPEC], channels=channels, window=WINDOW, clock=clock)
    worse = AlertSpec("test", "test:one", Severity.CRITICAL, "it got worse", "much worse")
    report = raise_alerts(engine, [worse, SPEC], channels=channels, window=WINDOW, clock=clock)
    assert len(report.new_alert_ids) == 1
    assert report.suppressed == 1
    assert [a.severity for a in list_alerts(engine)] == ["critical", "warning"]
    assert [a.title for a in list_alerts(engine, severity=Severity.CRITICAL)] == ["it got worse"]
    assert list_alerts(engine, since=NOW + timedelta(seconds=1)) == []


@pytest.mark.parametrize("fault", ["fail", "hang"])
def test_a_webhook_500_or_timeout_is_recorded_failed_and_retried_next_cycle(
    engine: Engine, webhook: WebhookReceiver, smtp: SmtpServer, fault: str
) -> None:
    channels = _channels(webhook, smtp, timeout=0.5)
    webhook.mode, webhook.hang_seconds = fault, 2.0
    clock = FixedClock(NOW)
    raise_alerts(engine, [SPEC], channels=channels, window=WINDOW, clock=clock)
    report = deliver_pending(engine, channels, clock=clock)
    assert (report.sent, report.failed) == (2, 1)
    rows = {c: (s, a, e) for c, s, a, e in _deliveries(engine)}
    expected_error = "HTTP 500" if fault == "fail" else "timed out"
    assert rows["webhook"][:2] == ("failed", 1)
    assert expected_error in str(rows["webhook"][2])
    assert "secret" not in str(rows["webhook"][2])
    assert rows["email"][:2] == ("sent", 1)
    assert rows["log"][:2] == ("sent", 1)
    webhook.mode = "ok"
    retry = deliver_pending(engine, channels, clock=FixedClock(NOW + timedelta(minutes=15)))
    assert (retry.sent, retry.failed) == (1, 0)
    assert len(webhook.received) == 1
    assert len(smtp.messages) == 1
    assert {c: (s, a) for c, s, a, _ in _deliveries(engine)} == {
        "email": ("sent", 1),
        "log": ("sent", 1),
        "webhook": ("sent", 2),
    }
    assert deliver_pending(engine, channels, clock=FixedClock(NOW + timedelta(minutes=30))).sent == 0


def test_an_smtp_refusal_is_recorded_failed_and_retried(
    engine: Engine, webhook: WebhookReceiver, smtp: SmtpServer
) -> None:
    channels = _channels(webhook, smtp)
    smtp.refuse = True
    clock = FixedClock(NOW)
    raise_alerts(engine, [SPEC], channels=channels, window=WINDOW, clock=clock)
    deliver_pending(engine, channels, clock=clock)
    rows = {c: (s, a, e) for c, s, a, e in _deliveries(engine)}
    assert rows["email"][:2] == ("failed", 1)
    assert "550" in str(rows["email"][2])
    assert rows["webhook"][:2] == ("sent", 1)
    smtp.refuse = False
    deliver_pending(engine, channels, clock=FixedClock(NOW + timedelta(minutes=5)))
    assert len(smtp.messages) == 1
    assert len(webhook.received) == 1


def test_an_unreachable_smtp_server_fails_only_its_own_channel(engine: Engine, webhook: WebhookReceiver) -> None:
    with SmtpServer() as server:
        port = server.port  # a port nothing listens on once the server has stopped
    email = EmailChannel(EmailSettings(host="127.0.0.1", port=port, recipients=["ops@example.org"], timeout_seconds=2))
    channels: list[Channel] = [email, WebhookChannel(webhook.url, timeout_seconds=2), LogChannel()]
    raise_alerts(engine, [SPEC], channels=channels, window=WINDOW, clock=FixedClock(NOW))
    report = deliver_pending(engine, channels, clock=FixedClock(NOW))
    assert (report.sent, report.failed) == (2, 1)
    assert "ConnectionRefusedError" in report.errors[0]


def test_a_channel_failing_every_time_is_abandoned_after_max_attempts_and_still_listed(engine: Engine) -> None:
    channels: list[Channel] = [WebhookChannel("http://127.0.0.1:9/nowhere", timeout_seconds=1)]
    raise_alerts(engine, [SPEC], channels=channels, window=WINDOW, clock=FixedClock(NOW))
    for minute in range(4):
        deliver_pending(engine, channels, clock=FixedClock(NOW + timedelta(minutes=minute)), max_attempts=3)
    assert [(c, s, a) for c, s, a, _ in _deliveries(engine)] == [("webhook", "abandoned", 3)]
    assert list_alerts(engine)[0].deliveries == {"webhook": "abandoned (3)"}


def test_a_planted_drift_raises_exactly_one_alert_per_channel_over_two_cycles(
    engine: Engine, webhook: WebhookReceiver, smtp: SmtpServer
) -> None:
    seed_model(engine)
    settings = _settings(webhook, smtp)
    source = PlantedFeatures(shift=1.0)
    for hours in (0, 6):
        report = run_cycle(engine, settings, clock=FixedClock(NOW + timedelta(hours=hours)), feature_source=source)
        assert report.errors == []
    assert _alert_count(engine, "drift") == 1
    assert [(c, s) for c, s, _, _ in _deliveries(engine, "drift")] == [
        ("email", "sent"),
        ("log", "sent"),
        ("webhook", "sent"),
    ]
    assert sum("feature drift" in m["text"] for m in webhook.received) == 1
    assert sum("feature drift" in m["Subject"] for m in smtp.messages) == 1


def test_a_planted_loss_streak_raises_exactly_one_alert_per_channel_over_two_cycles(
    engine: Engine, webhook: WebhookReceiver, smtp: SmtpServer
) -> None:
    seed_bets(
        engine,
        pnl_cents=[-1000] * 12,
        clv=[-0.02] * 12,
        settled_at=[NOW - timedelta(minutes=10 * i) for i in range(12)],
    )
    settings = _settings(webhook, smtp)
    for hours in (0, 1):
        assert run_cycle(engine, settings, clock=FixedClock(NOW + timedelta(hours=hours))).errors == []
    for kind in ("loss_streak", "daily_loss"):
        assert _alert_count(engine, kind) == 1, kind
        assert [c for c, s, _, _ in _deliveries(engine, kind) if s == "sent"] == ["email", "log", "webhook"]
    assert sum("losing bets in a row" in m["text"] for m in webhook.received) == 1
    assert sum("losing bets in a row" in m["Subject"] for m in smtp.messages) == 1

"""Alert channels: the log (structlog), a Slack-compatible webhook (httpx) and SMTP email (smtplib).

A channel only sends: ``send`` returns on success and raises on any failure, and the caller (``alerts.deliver``)
records the outcome per channel, so one broken channel never stops the others. Must never log or put in an error
message a webhook URL or an SMTP password: both are secrets (Slack webhook URLs are bearer credentials).
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Any, Protocol

import httpx

from betpipe.config import EmailSettings, MonitoringSettings, WebhookSettings
from betpipe.logs import get_logger

__all__ = [
    "AlertMessage",
    "Channel",
    "ChannelError",
    "EmailChannel",
    "LogChannel",
    "Severity",
    "WebhookChannel",
    "channels_from_settings",
]

log = get_logger(__name__)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ("info", "warning", "critical").index(self.value)


class ChannelError(RuntimeError):
    """A delivery failed; the message is safe to store and show (no URL, no credentials)."""


@dataclass(frozen=True)
class AlertMessage:
    """What a channel is given to send: one persisted alert."""

    id: int
    kind: str
    severity: Severity
    title: str
    message: str
    raised_at: datetime
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"[{self.severity.value.upper()}] {self.title}\n{self.message}\n(betpipe alert {self.id}, {self.kind})"


class Channel(Protocol):
    name: str
    min_severity: Severity

    def send(self, alert: AlertMessage) -> None: ...


class LogChannel:
    """Always available: the structured log line is the alert of last resort."""

    name = "log"

    def __init__(self, min_severity: Severity = Severity.INFO) -> None:
        self.min_severity = min_severity

    def send(self, alert: AlertMessage) -> None:
        emit = log.error if alert.severity is Severity.CRITICAL else log.warning
        emit("alert", alert_id=alert.id, kind=alert.kind, severity=alert.severity.value, title=alert.title)


class WebhookChannel:
    """POST ``{"text": ...}`` (Slack's incoming-webhook body); anything but a 2xx within the timeout is a failure."""

    name = "webhook"

    def __init__(self, url: str, *, timeout_seconds: float = 5.0, min_severity: Severity = Severity.WARNING) -> None:
        self._url = url
        self._timeout = httpx.Timeout(timeout_seconds)
        self.min_severity = min_severity

    def send(self, alert: AlertMessage) -> None:
        try:
            with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
                response = client.post(self._url, json={"text": alert.text})
        except httpx.TimeoutException:
            raise ChannelError(f"webhook timed out after {self._timeout.read} s") from None
        except httpx.HTTPError as error:  # connection refused, DNS, protocol: the type says enough, the URL stays out
            raise ChannelError(f"webhook request failed: {type(error).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise ChannelError(f"webhook answered HTTP {response.status_code}")


class EmailChannel:
    """One plain-text mail per alert to every recipient; a refused recipient or sender is a failure."""

    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        if not settings.host or not settings.recipients:
            raise ValueError("email channel needs a host and at least one recipient")
        self._settings = settings
        self.min_severity = Severity(settings.min_severity)

    def send(self, alert: AlertMessage) -> None:
        config = self._settings
        mail = EmailMessage()
        mail["From"] = config.sender
        mail["To"] = ", ".join(config.recipients)
        mail["Subject"] = f"[betpipe {alert.severity.value}] {alert.title}"
        mail.set_content(alert.text)
        try:
            with smtplib.SMTP(str(config.host), config.port, timeout=config.timeout_seconds) as smtp:
                if config.starttls:
                    smtp.starttls()
                if config.username and config.password is not None:
                    smtp.login(config.username, config.password.get_secret_value())
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as error:
            raise ChannelError(f"SMTP refused every recipient: {_codes(error.recipients)}") from None
        except smtplib.SMTPResponseException as error:
            raise ChannelError(f"SMTP error {error.smtp_code}: {_text(error.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise ChannelError(f"SMTP failed: {type(error).__name__}: {error}") from None
        if refused:
            raise ChannelError(f"SMTP refused some recipients: {_codes(refused)}")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _codes(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items())


def channels_from_settings(settings: MonitoringSettings) -> list[Channel]:
    """The configured channels: the log (unless switched off), the webhook if a URL is set, email if a host is."""
    channels: list[Channel] = []
    if settings.log_channel:
        channels.append(LogChannel())
    hook: WebhookSettings = settings.webhook
    if hook.url is not None:
        channels.append(
            WebhookChannel(
                hook.url.get_secret_value(),
                timeout_seconds=hook.timeout_seconds,
                min_severity=Severity(hook.min_severity),
            )
        )
    if settings.email.host and settings.email.recipients:
        channels.append(EmailChannel(settings.email))
    return channels

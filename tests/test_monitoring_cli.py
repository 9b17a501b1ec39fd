"""`betpipe monitor run` and `betpipe alerts list` through the real CLI on a configured SQLite store, alerting a real
webhook receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.config import load_settings
from betpipe.db import make_engine
from fakes.alert_receivers import WebhookReceiver
from fakes.monitoring_data import seed_bets

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BETPIPE_DATABASE_URL", raising=False)
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    engine = make_engine(load_settings().effective_database_url)
    yield engine
    engine.dispose()


def test_monitor_run_on_an_empty_store_says_no_data(store: Engine) -> None:
    result = runner.invoke(app, ["monitor", "run"])
    assert result.exit_code == 0, result.output
    assert "no data: no predictions or settled bets" in result.output
    assert "alerts: 0 new" in result.output
    listed = runner.invoke(app, ["alerts", "list"])
    assert listed.exit_code == 0
    assert "no alerts yet" in listed.output


def test_monitor_run_alerts_the_webhook_once_and_alerts_list_filters(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    seed_bets(
        store, pnl_cents=[-1000] * 10, clv=[-0.01] * 10, settled_at=[now - timedelta(minutes=i) for i in range(10)]
    )
    with WebhookReceiver() as webhook:
        monkeypatch.setenv("BETPIPE_MONITORING__WEBHOOK__URL", webhook.url)
        for _ in range(2):
            result = runner.invoke(app, ["monitor", "run"])
            assert result.exit_code == 0, result.output
        assert "secret" not in result.output
    assert sum("losing bets in a row" in m["text"] for m in webhook.received) == 1
    critical = runner.invoke(app, ["alerts", "list", "--severity", "critical"])
    assert critical.exit_code == 0, critical.output
    assert "daily_loss" in critical.output
    assert "loss_streak" not in critical.output
    assert "webhook: sent (1)" in critical.output
    everything = runner.invoke(app, ["alerts", "list", "--since", now.date().isoformat()])
    assert "loss_streak" in everything.output
    bad = runner.invoke(app, ["alerts", "list", "--since", "yesterday"])
    assert bad.exit_code == 2
    assert "not an ISO date" in bad.output

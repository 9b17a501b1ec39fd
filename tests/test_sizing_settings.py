"""Issue 14, defect 5: ``[bankroll]`` kelly_fraction and max_stake_fraction (and ``[risk]`` max_stake as a sizing cap)
decide the live stakes; a staking text that states them explicitly wins. Checked on the policy and on a real dry run
(the code ``betpipe bet run --dry-run`` and ``GET /opportunities`` call) of a small sample-league store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from betpipe.betting import StakingPolicy
from betpipe.clock import FixedClock
from betpipe.config import BankrollSettings, RiskSettings, Settings
from betpipe.db import make_engine, upgrade
from betpipe.live.betting_run import betting_run
from betpipe.live.opportunities import live_strategy
from pipeline_store import live_settings, prepare_store

UNCAPPED = {"max_stake_fraction": "1"}


def _settings(base: Settings, bankroll: dict[str, str] | None = None, **risk: str) -> Settings:
    """``base`` with some ``[bankroll]`` / ``[risk]`` fields changed, everything else (store, pipeline) kept."""
    return base.model_copy(
        update={
            "bankroll": BankrollSettings(**{**base.bankroll.model_dump(), **(bankroll or {})}),
            "risk": RiskSettings(**{**base.risk.model_dump(), **risk}),
        }
    )


# ------------------------------------------------------------------------------------------------ the policy


def test_the_default_live_policy_takes_the_bankroll_settings() -> None:
    policy = StakingPolicy.from_settings(Settings())
    assert policy.kind == "kelly"
    assert policy.kelly_fraction == Settings().bankroll.kelly_fraction == Decimal("0.25")
    assert policy.max_fraction == Settings().bankroll.max_stake_fraction == Decimal("0.02")
    assert policy.max_stake == Settings().risk.max_stake
    assert policy.min_edge == Settings().pipeline.min_edge


def test_the_documented_environment_variables_set_the_live_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_BANKROLL__KELLY_FRACTION", "0.1")
    monkeypatch.setenv("BETPIPE_BANKROLL__MAX_STAKE_FRACTION", "0.005")
    monkeypatch.setenv("BETPIPE_RISK__MAX_STAKE", "7.50")
    policy = StakingPolicy.from_settings(Settings())
    assert (policy.kelly_fraction, policy.max_fraction, policy.max_stake) == (
        Decimal("0.1"),
        Decimal("0.005"),
        Decimal("7.50"),
    )


def test_a_staking_text_that_states_a_value_wins_over_the_bankroll_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_BANKROLL__KELLY_FRACTION", "0.1")
    monkeypatch.setenv("BETPIPE_PIPELINE__STAKING", "kelly:0.5,simultaneous,max_fraction=0.04")
    policy = StakingPolicy.from_settings(Settings())
    assert (policy.kelly_fraction, policy.max_fraction, policy.simultaneous) == (Decimal("0.5"), Decimal("0.04"), True)
    monkeypatch.setenv("BETPIPE_PIPELINE__STAKING", "kelly,simultaneous")  # states neither: the settings fill both
    policy = StakingPolicy.from_settings(Settings())
    assert (policy.kelly_fraction, policy.max_fraction) == (Decimal("0.1"), Decimal("0.02"))


def test_flat_staking_keeps_its_stake_and_is_capped_too() -> None:
    config = Settings(pipeline={"staking": "flat:30"}, bankroll={"max_stake_fraction": "0.01"})  # type: ignore[arg-type]
    policy = StakingPolicy.from_settings(config)
    assert (policy.kind, policy.flat_stake, policy.max_fraction) == ("flat", Decimal("30"), Decimal("0.01"))
    assert str(policy).startswith("flat:30,")  # no Kelly fraction on a flat policy


def test_an_impossible_setting_is_a_one_line_error_naming_the_settings() -> None:
    with pytest.raises(ValueError, match="kelly"):
        StakingPolicy.from_settings(Settings(bankroll={"kelly_fraction": "1.5"}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"max_stake_fraction|max_fraction"):
        StakingPolicy.from_settings(Settings(bankroll={"max_stake_fraction": "0"}))  # type: ignore[arg-type]
    # Valid settings one by one, impossible together: only the policy sees it, and names every setting involved.
    both = Settings(pipeline={"staking": "kelly,min_stake=2"}, risk={"max_stake": "1"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^staking settings: max_stake must be >= min_stake .*risk\.max_stake 1\b"):
        StakingPolicy.from_settings(both)


# ------------------------------------------------------------------------------------- a real live dry run


@dataclass(frozen=True)
class _Store:
    engine: Engine
    settings: Settings
    eve: datetime

    def stakes(self, settings: Settings) -> tuple[dict[tuple[int, str], Decimal], list[str | None]]:
        run = betting_run(self.engine, settings, FixedClock(self.eve), dry_run=True)
        candidates = run.opportunities.decision.candidates
        assert candidates, "the sample league's soft book should offer the blend strategy some value"
        return {(c.event_id, c.selection): c.stake for c in candidates}, run.checks


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Store]:
    """One sample-league store for every dry run here (a dry run writes nothing, so they cannot disturb each other)."""
    root = tmp_path_factory.mktemp("sizing-settings")
    url = f"sqlite:///{root / 'betpipe.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    settings = live_settings(url, root / "data")
    eve = prepare_store(engine, settings)
    yield _Store(engine, settings, eve)
    engine.dispose()


def test_the_kelly_fraction_setting_scales_the_proposed_stakes(store: _Store) -> None:
    quarter, _ = store.stakes(_settings(store.settings, {**UNCAPPED, "kelly_fraction": "0.25"}, max_stake="1000000"))
    tenth, _ = store.stakes(_settings(store.settings, {**UNCAPPED, "kelly_fraction": "0.1"}, max_stake="1000000"))
    assert set(tenth) <= set(quarter)
    assert sum(tenth.values()) < sum(quarter.values())
    for key, stake in tenth.items():  # 0.1 of Kelly is 0.4 of 0.25 of Kelly, give or take the cent rounding down
        assert abs(stake - quarter[key] * Decimal("0.4")) <= Decimal("0.01")


def test_the_max_stake_fraction_setting_caps_every_proposed_stake(store: _Store) -> None:
    uncapped, _ = store.stakes(_settings(store.settings, UNCAPPED, max_stake="1000000"))
    bankroll = store.settings.bankroll.bankroll
    assert max(uncapped.values()) > bankroll * Decimal("0.01"), "the cap must bind for this test to mean anything"
    capped, _ = store.stakes(_settings(store.settings, {"max_stake_fraction": "0.01"}, max_stake="1000000"))
    assert set(capped) == set(uncapped)
    assert max(capped.values()) == bankroll * Decimal("0.01")
    assert all(stake == min(uncapped[key], bankroll * Decimal("0.01")) for key, stake in capped.items())


def test_the_risk_max_stake_caps_sizing_so_the_control_is_a_safety_net(store: _Store) -> None:
    stakes, checks = store.stakes(_settings(store.settings, UNCAPPED, max_stake="5.00"))
    assert max(stakes.values()) == Decimal("5.00")
    assert not any(check and "stake" in check and "above" in check for check in checks)


def test_with_the_default_settings_no_stake_is_sized_into_a_per_bet_or_per_event_rejection(store: _Store) -> None:
    """The issue's dry run: stakes of 3-4 % of the bankroll, then rejected by the per-event limit (40 of 1000)."""
    stakes, checks = store.stakes(store.settings)
    assert max(stakes.values()) <= store.settings.bankroll.bankroll * store.settings.bankroll.max_stake_fraction
    single_bets_per_event = store.settings.risk.max_bets_per_event == 1
    assert single_bets_per_event
    assert not [check for check in checks if check and ("event" in check or "stake" in check)], checks
    assert strategy_name_is_unchanged(store.settings)


def strategy_name_is_unchanged(settings: Settings) -> bool:
    """The ledger's strategy name (part of the idempotency key) still carries the staking text, as before."""
    return f"|{settings.pipeline.staking}|" in live_strategy(settings).name

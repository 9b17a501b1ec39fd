"""Dashboard page "Risk": open exposure against its limit, today's loss against the daily loss limit, the halt
state (kill switch), and their history: open exposure and daily P&L over time against the same limits.

The numbers are ``betting.account_status`` with ``RiskLimits.from_settings``: what the ledger enforces. Draws only.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import streamlit as st

from betpipe.betting import RiskLimits
from betpipe.monitoring import dashboard_data as data
from betpipe.monitoring.dashboard import common
from betpipe.monitoring.dashboard.common import Source


def _share(value: Decimal, limit: Decimal) -> float:
    return 0.0 if limit <= 0 else min(1.0, float(value / limit))


def _now(accounts: list[data.AccountRisk], limits: RiskLimits) -> None:
    halted = [a for a in accounts if a.halted]
    for account in halted:
        st.error(f"Account `{account.account}` is HALTED: {account.halted_reason or 'no reason recorded'}.")
    if not halted:
        st.success("Not halted: the kill switch is off for every account shown.")
    exposure = sum((a.open_exposure for a in accounts), Decimal(0))
    loss = sum((a.loss_today for a in accounts), Decimal(0))
    cols = st.columns(2)
    with cols[0]:
        st.metric("Open exposure", common.fmt_money(exposure), help="stakes of placed, unsettled bets")
        st.progress(_share(exposure, limits.max_open_exposure), f"of the {limits.max_open_exposure} limit")
    with cols[1]:
        st.metric("Loss today (UTC)", common.fmt_money(loss), help="net loss of bets settled today")
        st.progress(_share(loss, limits.daily_loss_limit), f"of the {limits.daily_loss_limit} daily loss limit")
    if len(accounts) > 1:
        st.caption(f"{len(accounts)} accounts; the limits apply to each account on its own.")
        st.dataframe(
            pl.DataFrame(
                {
                    "account": [a.account for a in accounts],
                    "halted": [a.halted for a in accounts],
                    "open exposure": [float(a.open_exposure) for a in accounts],
                    "open bets": [a.open_bets for a in accounts],
                    "loss today": [float(a.loss_today) for a in accounts],
                    "bankroll": [float(a.bankroll) for a in accounts],
                }
            ),
            hide_index=True,
        )


def _history(bets: pl.DataFrame, limits: RiskLimits, accounts: int) -> None:
    exposure = data.exposure_curve(bets)
    daily = data.pnl_curve(bets)
    if exposure.height < 2 and daily.height < 2:
        st.info("Less than two days of bets: no history to draw yet.")
        return
    left, right = st.columns(2)
    with left:
        st.subheader("Open exposure over time")
        peak = float(exposure["open_exposure"].fill_null(0).to_numpy().max(initial=0.0))
        together = ", all accounts together" if accounts > 1 else ""
        st.caption(f"Daily maximum (peak {peak:,.2f}{together}); the limit is {limits.max_open_exposure} per account.")
        common.line_chart(exposure, "day", "open_exposure", y_title="open stakes")
    with right:
        st.subheader("Daily P&L against the loss limit")
        limit = float(limits.daily_loss_limit)
        breaches = daily.filter(pl.col("pnl") <= -limit).height
        st.caption(
            f"{breaches} of {daily.height} settlement day(s) lost {limit:,.2f} or more"
            + (" (all accounts together)." if accounts > 1 else ".")
        )
        common.bar_chart(daily, "day", "pnl", y_title="P&L per settlement day")


def render(source: Source) -> None:
    st.title("Risk")
    limits = common.limits()
    with common.readable("the ledger's risk state"):
        accounts = common.risk(source, common.now_minute())
        if not accounts:
            st.info(f"No account `{source.account}` in {source.ledger_label} yet: no exposure, no losses, not halted.")
            return
        _now(accounts, limits)
        _history(common.bets(source), limits, len(accounts))


if __name__ == "__main__":
    render(common.current_source())

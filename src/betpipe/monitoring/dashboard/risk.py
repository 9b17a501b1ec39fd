"""Dashboard page "Risk": open exposure against its limit, today's loss against the daily loss limit, the halt
state (kill switch), their history drawn against the same limits (``charts.limit_chart``: dashed lines), and the
bets the controls refused, counted per rule.

The numbers are ``betting.account_status`` with ``RiskLimits.from_settings``: what the ledger enforces. The limits
hold per account, so the history is drawn per account, never as a sum no limit applies to. Draws only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import streamlit as st

from betpipe import charts
from betpipe.betting import RiskLimits
from betpipe.monitoring import dashboard_data as data
from betpipe.monitoring.dashboard import common
from betpipe.monitoring.dashboard.common import Source
from betpipe.monitoring.dashboard_bets import MAX_ACCOUNT_LINES, account_names, rejection_counts, rejection_list


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
        st.progress(
            _share(exposure, limits.max_open_exposure), f"of the {common.fmt_money(limits.max_open_exposure)} limit"
        )
    with cols[1]:
        st.metric("Loss today (UTC)", common.fmt_money(loss), help="net loss of bets settled today")
        st.progress(
            _share(loss, limits.daily_loss_limit),
            f"of the {common.fmt_money(limits.daily_loss_limit)} daily loss limit",
        )
    if len(accounts) > 1:
        unit = common.currency()
        st.caption(f"{len(accounts)} accounts; the limits apply to each account on its own.")
        st.dataframe(
            pl.DataFrame(
                {
                    "account": [a.account for a in accounts],
                    "halted": [a.halted for a in accounts],
                    f"open exposure ({unit})": [float(a.open_exposure) for a in accounts],
                    "open bets": [a.open_bets for a in accounts],
                    f"loss today ({unit})": [float(a.loss_today) for a in accounts],
                    f"bankroll ({unit})": [float(a.bankroll) for a in accounts],
                }
            ),
            hide_index=True,
        )


def _per_account(bets: pl.DataFrame, shape: str) -> pl.DataFrame:
    """``exposure`` or ``pnl`` per account and day; beyond ``MAX_ACCOUNT_LINES`` accounts, the one nearest its limit
    each day (highest exposure, lowest P&L), which is what a per-account limit is about."""
    frames = []
    for (account,), rows in bets.partition_by("account", as_dict=True).items():
        curve = data.exposure_curve(rows) if shape == "exposure" else data.pnl_curve(rows).select("day", "pnl")
        frames.append(curve.with_columns(pl.lit(str(account)).alias("account")))
    frame = pl.concat(frames) if frames else pl.DataFrame()
    if frame.is_empty() or frame["account"].n_unique() <= MAX_ACCOUNT_LINES:
        return frame
    value = "open_exposure" if shape == "exposure" else "pnl"
    nearest = pl.col(value).max() if shape == "exposure" else pl.col(value).min()
    label = "highest account" if shape == "exposure" else "lowest account"
    return frame.group_by("day").agg(nearest).sort("day").with_columns(pl.lit(label).alias("account"))


def _long(frame: pl.DataFrame) -> bool:
    """Over more than four months a day-wide bar is under a pixel: draw dots instead."""
    first, last = frame["day"].min(), frame["day"].max()
    return isinstance(first, date) and isinstance(last, date) and (last - first).days > 120


def _history(bets: pl.DataFrame, limits: RiskLimits) -> None:
    names = pl.col("account").replace(account_names(bets))
    exposure = _per_account(bets, "exposure")
    daily = _per_account(bets, "pnl")
    if not exposure.is_empty():
        exposure = exposure.with_columns(names)
    if not daily.is_empty():
        daily = daily.with_columns(names)
    if exposure["day"].n_unique() < 2 and (daily.is_empty() or daily["day"].n_unique() < 2):
        st.info("Less than two days of bets: no history to draw yet.")
        return
    unit = common.currency()
    many = exposure["account"].n_unique() > 1
    series = "account" if many else None
    left, right = st.columns(2)
    with left:
        st.subheader("Open exposure over time")
        peak = float(exposure["open_exposure"].fill_null(0).to_numpy().max(initial=0.0))
        st.caption(
            f"Daily maximum per account (peak {common.fmt_money(peak)}); the dashed line is the limit, "
            f"{common.fmt_money(limits.max_open_exposure)} per account."
        )
        cap = {f"limit {limits.max_open_exposure}": float(limits.max_open_exposure)}
        common.chart(
            charts.limit_chart(
                data.at_midnight(exposure),
                value="open_exposure",
                title="Open exposure",
                currency=unit,
                limits=cap,
                series=series,
            )
        )
    with right:
        st.subheader("Daily P&L against the loss limit")
        if daily.is_empty():
            st.info("No bet is settled yet.")
            return
        limit = float(limits.daily_loss_limit)
        breaches = daily.filter(pl.col("pnl") <= -limit).height
        what = "account-day(s)" if many else "settlement day(s)"
        st.caption(f"{breaches} of {daily.height} {what} lost {common.fmt_money(limit)} or more (the dashed line).")
        common.chart(
            charts.limit_chart(
                data.at_midnight(daily),
                value="pnl",
                title="Daily P&L",
                currency=unit,
                limits={f"daily loss limit -{limits.daily_loss_limit}": -limit},
                series=series,
                mark="point" if many or _long(daily) else "bar",
            )
        )


def _rejections(source: Source) -> None:
    st.subheader("Refused bets")
    frame = common.filters().apply(common.rejections(source))
    if frame.is_empty():
        st.success("No bet was refused by a risk control, the input check or the book.")
        return
    counts = rejection_counts(frame)
    st.caption(
        f"{frame.height} decision(s) refused, counted per rule (the control that refused each; `input` is a "
        "malformed or late decision, `book` the book's own refusal)."
    )
    common.table(counts)
    common.table(rejection_list(frame), height=300)


def render(source: Source) -> None:
    st.title("Risk")
    limits = common.limits()
    chosen = common.filters()
    with common.readable("the ledger's risk state"):
        accounts = common.risk(source, common.now_minute())
        if chosen.accounts:
            accounts = [a for a in accounts if a.account in chosen.accounts]
        if not accounts:
            st.info(f"No account `{source.account}` in {source.ledger_label} yet: no exposure, no losses, not halted.")
            return
        _now(accounts, limits)
        common.filter_caption("history")
        _history(common.filtered_bets(source), limits)
        _rejections(source)


if __name__ == "__main__":
    render(common.current_source())

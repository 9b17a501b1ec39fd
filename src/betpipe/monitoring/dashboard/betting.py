"""Dashboard page "Betting": the bankroll and its drawdown, cumulative P&L next to CLV, returns per month and year,
yield and hit rate by competition, market and book, the edge and CLV distributions, the open bets and the settled-bet
history, all narrowed by the sidebar's filters.

Draws only, and only with ``betpipe.charts`` (the definitions the HTML backtest report draws); money comes from
integer cents (``dashboard_data``) and is labelled with the ledger's currency. Yield is P&L / turnover, as the
backtest report and the CLI call it. No bets, one day, or bets without a CLV (no closing price) each get a sentence,
never an error.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from betpipe import charts
from betpipe.monitoring import dashboard_bets as ledger
from betpipe.monitoring import dashboard_data as data
from betpipe.monitoring.dashboard import common
from betpipe.monitoring.dashboard.common import Source


def _headline(bets: pl.DataFrame) -> None:
    settled = bets.filter(pl.col("settled_at").is_not_null())
    staked = float(settled["stake"].sum())
    pnl = float(settled["pnl"].sum())
    clv = settled["clv"].drop_nulls()
    cols = st.columns(6)
    cols[0].metric("Settled bets", settled.height)
    unit = common.currency()
    cols[1].metric(f"Turnover ({unit})", f"{staked:,.2f}", help="stakes of the settled bets")
    cols[2].metric(f"P&L ({unit})", f"{pnl:+,.2f}")
    cols[3].metric("Yield", common.fmt_share(pnl / staked if staked else None), help="P&L / turnover")
    cols[4].metric("Mean CLV", common.fmt_share(clv.mean() if clv.len() else None))
    cols[5].metric("Open bets", bets.height - settled.height)
    missing = settled.height - clv.len()
    if missing:
        st.caption(f"{missing} settled bet(s) have no CLV (no closing price to compare with): left out of CLV.")


def _bankroll(source: Source) -> None:
    filters = common.filters()
    limits = common.limits()
    curve = ledger.bankroll_curve(filters.apply(common.bets(source), dates=False), limits.starting_bankroll, filters)
    st.subheader("Bankroll and drawdown")
    if curve.height < 2:
        st.info("Fewer than two settlement days: no bankroll curve to draw yet.")
        return
    many = curve["account"].n_unique() > 1
    curve = curve.with_columns(pl.col("account").replace(ledger.account_names(common.bets(source))))
    worst = curve.sort("drawdown").row(0, named=True)
    st.caption(
        f"Starting bankroll {common.fmt_money(limits.starting_bankroll)} per account plus settled P&L, per settlement "
        f"day. Deepest drawdown: {common.fmt_money(-worst['drawdown'])} ({-worst['drawdown_share']:.1%} below the "
        f"peak) on {worst['day']:%d %b %Y}"
        + (f", {worst['account']}." if many else ".")
        + (
            " Other filters than account show the bankroll as if only those bets had been placed."
            if filters.competitions or filters.markets or filters.books
            else ""
        )
    )
    equity = ledger.equity_frame(curve, from_start=filters.start is None)
    series = "account" if many else None
    start = float(equity.sort("at")["bankroll"][0]) if filters.start is None else float(limits.starting_bankroll)
    floor = {f"bankroll floor {limits.bankroll_floor}": float(limits.bankroll_floor)}
    left, right = st.columns(2)
    with left:
        common.chart(
            charts.equity_curve(
                equity, currency=common.currency(), starting_bankroll=start, series=series, limits=floor
            )
        )
    with right:
        # As tall as the bankroll beside it, so the two plots share their dates side by side.
        common.chart(charts.drawdown_chart(equity, series=series).properties(height=charts.HEIGHT))


def _curve(bets: pl.DataFrame) -> None:
    st.subheader("Cumulative P&L and CLV")
    curve = data.pnl_curve(bets)
    if curve.is_empty():
        st.info("No bet is settled yet: no P&L or CLV to draw.")
        return
    if curve.height == 1:
        st.info("Only one settlement day so far: a curve needs two.")
        common.table(curve)
        return
    long = data.at_midnight(
        curve.select(
            "day",
            pl.col("cumulative_pnl").alias("P&L"),
            pl.col("cumulative_clv").alias("CLV (stake x CLV)"),
        ).unpivot(index="day", variable_name="series")
    )
    st.caption(
        "CLV as money: each bet's stake x its closing-line value, summed. It is what the closing prices say the bets "
        "were worth; P&L is what luck made of it."
    )
    unit = common.currency()
    common.chart(
        charts.series_chart(
            long,
            value="value",
            series="series",
            title="Cumulative P&L and CLV",
            y_title=unit,
            fmt=charts.MONEY_EXACT,
            axis_format=charts.MONEY,
        )
    )


def _periods(source: Source) -> None:
    """Returns per month and year on the whole bankroll: the bets of every filter but the dates, as the bankroll."""
    filters = common.filters()
    bets = filters.apply(common.bets(source), dates=False)
    starting = common.limits().starting_bankroll
    monthly = ledger.period_frame(bets, starting, "1mo")
    if monthly.is_empty():
        return
    st.subheader("Returns per month and year")
    st.caption("P&L per calendar month and year of settlement, as a share of the bankroll at the period's start.")
    left, right = st.columns(2)
    with left:
        common.chart(charts.monthly_heatmap(monthly))
    with right:
        yearly = ledger.period_frame(bets, starting, "1y")
        common.chart(charts.period_returns(yearly, currency=common.currency(), period="year"))


def _breakdowns(bets: pl.DataFrame) -> None:
    st.subheader("Yield by competition, market and book")
    for tab, by in zip(
        st.tabs(["By competition", "By market", "By book"]), ("competition", "market", "book"), strict=True
    ):
        with tab:
            table = data.breakdown(bets, by)
            if table.is_empty():
                st.info("No settled bet yet.")
            else:
                common.table(table)


def _distributions(bets: pl.DataFrame) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Edge taken")
        edges = bets.filter(pl.col("edge").is_not_null())
        if edges.is_empty():
            st.info("No bet records an edge.")
        else:
            st.caption(
                "Probability x price - 1 at placement; the last bar also counts the edges above the 99th percentile."
            )
            common.chart(charts.edge_histogram(edges))
    with right:
        st.subheader("Closing-line value")
        known = bets.filter(pl.col("clv").is_not_null())
        if known.is_empty():
            st.info("No settled bet has a closing price to compare with: no CLV yet.")
        else:
            above = float((known["clv"].to_numpy() > 0).mean())
            st.caption(
                f"The price taken against the fair closing price, per bet: {above:.0%} of {known.height} bets beat the "
                "close. The dashed line is the mean."
            )
            common.chart(charts.clv_histogram(known))


def _open(bets: pl.DataFrame) -> None:
    st.subheader("Open bets")
    table = data.open_bets(bets)
    if table.is_empty():
        st.info("No open bets: everything placed has been settled.")
        return
    common.table(table)


def _history(bets: pl.DataFrame) -> None:
    st.subheader("Settled bets")
    table = ledger.settled_history(bets)
    if table.is_empty():
        st.info("No bet is settled yet.")
        return
    st.caption(f"{table.height} settled bet(s), newest first. CLV: the price taken against the fair closing price.")
    common.table(table, height=420)


def render(source: Source) -> None:
    st.title("Betting")
    with common.readable("the ledger"):
        if common.bets(source).is_empty():
            st.info(common.no_bets_sentence(source))
            return
        bets = common.filtered_bets(source)
        common.filter_caption()
        if bets.is_empty():
            st.info("No bet matches the filters in the sidebar.")
            return
        _headline(bets)
        _bankroll(source)
        _curve(bets)
        _periods(source)
        _breakdowns(bets)
        _distributions(bets)
        _open(bets)
        _history(bets)


if __name__ == "__main__":
    render(common.current_source())

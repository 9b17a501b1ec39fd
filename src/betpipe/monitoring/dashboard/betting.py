"""Dashboard page "Betting": cumulative P&L and CLV, ROI and win rate by competition and market, the edge
histogram, and the open bets of the selected ledger account(s).

Draws only; money comes from integer cents (``dashboard_data``). No bets, one day, or bets without a CLV (no
closing price) each get a sentence, never an error.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from betpipe.monitoring import dashboard_data as data
from betpipe.monitoring.dashboard import common
from betpipe.monitoring.dashboard.common import Source

TABLE_FORMAT = {
    "staked": st.column_config.NumberColumn("staked", format="%.2f"),
    "pnl": st.column_config.NumberColumn("P&L", format="%.2f"),
    "roi": st.column_config.NumberColumn("ROI", format="percent"),
    "win_rate": st.column_config.NumberColumn("win rate", format="percent"),
    "mean_clv": st.column_config.NumberColumn("mean CLV", format="percent"),
}


def _headline(bets: pl.DataFrame) -> None:
    settled = bets.filter(pl.col("settled_at").is_not_null())
    staked = float(settled["stake"].sum())
    pnl = float(settled["pnl"].sum())
    clv = settled["clv"].drop_nulls()
    cols = st.columns(6)
    cols[0].metric("Settled bets", settled.height)
    cols[1].metric("Staked", common.fmt_money(staked))
    cols[2].metric("P&L", common.fmt_money(pnl))
    cols[3].metric("ROI", common.fmt_share(pnl / staked if staked else None))
    cols[4].metric("Mean CLV", common.fmt_share(clv.mean() if clv.len() else None))
    cols[5].metric("Open bets", bets.height - settled.height)
    missing = settled.height - clv.len()
    if missing:
        st.caption(f"{missing} settled bet(s) have no CLV (no closing price to compare with): left out of CLV.")


def _curve(bets: pl.DataFrame) -> None:
    st.subheader("Cumulative P&L and CLV")
    curve = data.pnl_curve(bets)
    if curve.is_empty():
        st.info("No bet is settled yet: no P&L or CLV to draw.")
        return
    if curve.height == 1:
        st.info("Only one settlement day so far: a curve needs two.")
        st.dataframe(curve, hide_index=True)
        return
    long = curve.select(
        "day",
        pl.col("cumulative_pnl").alias("P&L"),
        pl.col("cumulative_clv").alias("CLV (stake x CLV)"),
    ).unpivot(index="day", variable_name="series")
    st.caption(
        "CLV as money: each bet's stake x its closing-line value, summed. It is what the closing prices say the bets "
        "were worth; P&L is what luck made of it."
    )
    common.line_chart(long, "day", "value", "series", y_title="currency units")


def _breakdowns(bets: pl.DataFrame) -> None:
    left, right = st.columns(2)
    for cell, by in ((left, "competition"), (right, "market")):
        with cell:
            st.subheader(f"By {by}")
            table = data.breakdown(bets, by)
            if table.is_empty():
                st.info("No settled bet yet.")
            else:
                st.dataframe(table, hide_index=True, column_config=TABLE_FORMAT)


def _edges(bets: pl.DataFrame) -> None:
    st.subheader("Edge taken")
    histogram = data.edge_histogram(bets)
    if histogram.is_empty():
        st.info("No bet records an edge.")
        return
    st.caption(
        "Probability x price - 1 at placement; the last bar includes every edge above "
        f"{histogram['edge_from'][-1]:.1%}."
    )
    shown = histogram.with_columns(((pl.col("edge_from") + pl.col("edge_to")) / 2).alias("edge"))
    common.bar_chart(shown, "edge:Q", "bets", y_title="bets")


def _open(bets: pl.DataFrame) -> None:
    st.subheader("Open bets")
    table = data.open_bets(bets)
    if table.is_empty():
        st.info("No open bets: everything placed has been settled.")
        return
    st.dataframe(table, hide_index=True, column_config={"stake": st.column_config.NumberColumn(format="%.2f")})


def render(source: Source) -> None:
    st.title("Betting")
    with common.readable("the ledger"):
        bets = common.bets(source)
        if bets.is_empty():
            st.info(common.no_bets_sentence(source))
            return
        _headline(bets)
        _curve(bets)
        _breakdowns(bets)
        left, right = st.columns(2)
        with left:
            _edges(bets)
        with right:
            _open(bets)


if __name__ == "__main__":
    render(common.current_source())

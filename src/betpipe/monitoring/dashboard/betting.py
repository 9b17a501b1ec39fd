"""Dashboard page "Betting": the bankroll and its drawdown, cumulative P&L and CLV, yield and win rate by
competition, market and book, the edge histogram, the open bets and the settled-bet history, all narrowed by the
sidebar's filters.

Draws only; money comes from integer cents (``dashboard_data``) and is labelled with the ledger's currency. Yield
is P&L / staked, as the backtest report and the CLI call it. No bets, one day, or bets without a CLV (no closing
price) each get a sentence, never an error.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from betpipe.monitoring import dashboard_bets as ledger
from betpipe.monitoring import dashboard_data as data
from betpipe.monitoring.dashboard import common
from betpipe.monitoring.dashboard.common import Source


def _money(label: str) -> Any:
    return st.column_config.NumberColumn(f"{label} ({common.currency()})", format="%.2f")


def _formats() -> dict[str, Any]:
    return {
        "staked": _money("staked"),
        "stake": _money("stake"),
        "pnl": _money("P&L"),
        "yield": st.column_config.NumberColumn("yield", format="percent", help="P&L / staked"),
        "win_rate": st.column_config.NumberColumn("win rate", format="percent"),
        "mean_clv": st.column_config.NumberColumn("mean CLV", format="percent"),
        "clv": st.column_config.NumberColumn("CLV", format="percent", width="small"),
        "edge": st.column_config.NumberColumn("edge", format="percent"),
        "price": st.column_config.NumberColumn("price", format="%.2f", width="small"),
        "kickoff": st.column_config.DatetimeColumn("kickoff (UTC)", format="YYYY-MM-DD HH:mm"),
        "match": st.column_config.TextColumn("match", width="medium"),
        "market": st.column_config.TextColumn("market", width="small"),
        "selection": st.column_config.TextColumn("selection", width="small"),
        "book": st.column_config.TextColumn("book", width="small"),
        "state": st.column_config.TextColumn("result", width="small"),
        "competition": st.column_config.TextColumn("competition", width="small"),
    }


def _headline(bets: pl.DataFrame) -> None:
    settled = bets.filter(pl.col("settled_at").is_not_null())
    staked = float(settled["stake"].sum())
    pnl = float(settled["pnl"].sum())
    clv = settled["clv"].drop_nulls()
    cols = st.columns(6)
    cols[0].metric("Settled bets", settled.height)
    unit = common.currency()
    cols[1].metric(f"Staked ({unit})", f"{staked:,.2f}")
    cols[2].metric(f"P&L ({unit})", f"{pnl:+,.2f}")
    cols[3].metric("Yield", common.fmt_share(pnl / staked if staked else None), help="P&L / staked")
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
    unit = common.currency()
    many = curve["account"].n_unique() > 1
    curve = curve.with_columns(pl.col("account").replace(ledger.account_names(common.bets(source))))
    worst = curve.sort("drawdown").row(0, named=True)
    st.caption(
        f"Starting bankroll {common.fmt_money(limits.starting_bankroll)} per account plus settled P&L, per settlement "
        f"day. Deepest drawdown: {common.fmt_money(-worst['drawdown'])} ({-worst['drawdown_share']:.1%} below the "
        f"peak) on {worst['day']:%d %b %Y}"
        + (f", {worst['account']}." if curve["account"].n_unique() > 1 else ".")
        + (
            " Other filters than account show the bankroll as if only those bets had been placed."
            if filters.competitions or filters.markets or filters.books
            else ""
        )
    )
    left, right = st.columns(2)
    with left:
        common.line_chart(
            curve,
            "day",
            "bankroll",
            "account" if many else None,
            y_title=f"bankroll ({unit})",
            limits=[(float(limits.bankroll_floor), f"bankroll floor {limits.bankroll_floor}")],
        )
    with right:
        common.line_chart(
            curve.with_columns(pl.col("drawdown_share") * 100),
            "day",
            "drawdown_share",
            "account" if many else None,
            y_title="drawdown from the peak (%)",
            area=not many,
        )


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
    common.line_chart(long, "day", "value", "series", y_title=common.currency())


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
                st.dataframe(table, hide_index=True, column_config=_formats())


def _distributions(bets: pl.DataFrame) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Edge taken")
        edges = data.edge_histogram(bets)
        if edges.is_empty():
            st.info("No bet records an edge.")
        else:
            st.caption(
                "Probability x price - 1 at placement; the last bar includes every edge above "
                f"{edges['edge_from'][-1]:.1%}."
            )
            shown = edges.select(
                (pl.col("edge_from") * 100).alias("from"), (pl.col("edge_to") * 100).alias("to"), "bets"
            )
            common.histogram(shown, x_title="edge (%)")
    with right:
        st.subheader("Closing-line value")
        clv = ledger.histogram(bets["clv"], scale=100)
        if clv.is_empty():
            st.info("No settled bet has a closing price to compare with: no CLV yet.")
        else:
            known = bets["clv"].drop_nulls()
            above = float((known.to_numpy() > 0).mean())
            st.caption(
                f"The price taken against the fair closing price, per bet: {above:.0%} of {known.len()} bets beat the "
                "close. The end bars hold the 1 % tails."
            )
            common.histogram(clv, x_title="CLV (%)")


def _open(bets: pl.DataFrame) -> None:
    st.subheader("Open bets")
    table = data.open_bets(bets)
    if table.is_empty():
        st.info("No open bets: everything placed has been settled.")
        return
    st.dataframe(table, hide_index=True, column_config=_formats(), width="stretch")


def _history(bets: pl.DataFrame) -> None:
    st.subheader("Settled bets")
    table = ledger.settled_history(bets)
    if table.is_empty():
        st.info("No bet is settled yet.")
        return
    st.caption(f"{table.height} settled bet(s), newest first. CLV: the price taken against the fair closing price.")
    st.dataframe(table, hide_index=True, column_config=_formats(), width="stretch", height=420)


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
        _breakdowns(bets)
        _distributions(bets)
        _open(bets)
        _history(bets)


if __name__ == "__main__":
    render(common.current_source())

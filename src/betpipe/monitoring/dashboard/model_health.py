"""Dashboard page "Model health": daily Brier / log loss / RPS per model version, prediction volume, champion vs
challenger, and calibration (of served predictions, else of the probabilities the ledger's bets were placed at).

Draws only, with ``betpipe.charts`` (the definitions the HTML backtest report draws); each empty state (no metrics,
one day, nothing settled, a NULL score) is a sentence, never an error.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from betpipe import charts
from betpipe.monitoring import dashboard_data as data
from betpipe.monitoring.dashboard import common
from betpipe.monitoring.dashboard.common import Source

SCORES = {"brier": "Brier", "log_loss": "log loss", "rps": "RPS"}


def _trends(frame: pl.DataFrame) -> None:
    st.subheader("Scores per day")
    if frame.is_empty():
        st.info(
            "No model metrics yet: no served prediction has been recorded and scored. "
            "They appear after the service predicts and `betpipe monitor run` runs."
        )
        return
    days = frame["day"].n_unique()
    scored = frame.filter(pl.col("brier").is_not_null())
    cols = st.columns(3)
    cols[0].metric("Days with predictions", days)
    cols[1].metric("Predictions", int(frame["predictions"].sum()))
    cols[2].metric("Settled events scored", int(frame["settled_events"].sum()))
    unscored = frame.height - scored.height
    if scored.is_empty():
        st.info("Predictions are recorded but none of their events is settled yet: no Brier, log loss or RPS yet.")
    elif scored["day"].n_unique() == 1:
        st.info("Only one day has scores so far: a trend needs two. That day's scores:")
        st.dataframe(scored.select("day", "model", "settled_events", *SCORES), hide_index=True)
    else:
        shown = data.at_midnight(scored)
        for cell, (column, label) in zip(st.columns(3), SCORES.items(), strict=True):
            with cell:
                title = f"{label} (lower is better)"
                common.chart(
                    charts.series_chart(shown, value=column, series="model", title=title, y_title=label, zero=False)
                )
    if unscored:
        st.caption(f"{unscored} day x model row(s) have predictions but no settled event: no score, left as gaps.")
    st.subheader("Prediction volume")
    volume = charts.series_chart(
        data.at_midnight(frame),
        value="predictions",
        series="model",
        title="Predictions per day",
        y_title="predictions",
        fmt=",d",
        mark="bar",
    )
    common.chart(volume)


def _aliases(frame: pl.DataFrame) -> None:
    st.subheader("Champion vs challenger")
    if frame.is_empty():
        st.info("No champion or challenger registered yet (`betpipe train --promote`, `betpipe models promote`).")
        return
    if frame.filter(pl.col("alias") == "challenger").is_empty():
        st.caption("No challenger is registered: only the champion is shown.")
    common.table(frame.drop("version_id"))
    if int(frame["settled_events"].sum()) == 0:
        st.caption("No settled event is scored for these versions yet: their scores are empty, not zero.")


def _calibration(predictions: pl.DataFrame, bet_probabilities: pl.DataFrame) -> None:
    st.subheader("Calibration")
    if predictions.height:
        st.caption(f"Served predictions with a result, every outcome pooled: {int(predictions['rows'].sum())} rows.")
        common.chart(charts.calibration_chart(predictions, of="predictions"))
    elif bet_probabilities.height:
        st.caption(
            "No scored served predictions: showing the probabilities the ledger's bets were placed at against how "
            f"often they won ({int(bet_probabilities['rows'].sum())} settled bets). Bets are selected for edge, "
            "so points below the diagonal mean the model overrated what it bet on."
        )
        common.chart(charts.calibration_chart(bet_probabilities))
    else:
        st.info("Nothing to calibrate yet: no served prediction and no settled bet has an outcome.")


def _bet_scores(bets: pl.DataFrame) -> None:
    """Monthly Brier of the bet probabilities: the one model trend a backtest ledger alone can show."""
    settled = bets.filter(pl.col("state").is_in(["won", "lost", "half_won", "half_lost"]))
    if settled.is_empty():
        return
    monthly = (
        settled.with_columns(
            pl.col("settled_at").dt.truncate("1mo").dt.date().alias("month"),
            pl.col("state").is_in(["won", "half_won"]).cast(pl.Float64).alias("hit"),
        )
        .group_by("month")
        .agg(
            ((pl.col("probability") - pl.col("hit")) ** 2).mean().alias("brier"),
            pl.col("probability").mean().alias("mean probability"),
            pl.col("hit").mean().alias("hit rate"),
            pl.len().alias("bets"),
        )
        .sort("month")
    )
    st.subheader("Probabilities of the bets placed, per month")
    if monthly.height < 2:
        st.info("Only one month of settled bets so far: a trend needs two.")
        st.dataframe(monthly, hide_index=True)
        return
    long = monthly.unpivot(index="month", on=["mean probability", "hit rate"], variable_name="series")
    common.chart(
        charts.series_chart(
            data.at_midnight(long, "month"),
            value="value",
            series="series",
            title="Mean probability bet on and hit rate, per month",
            y_title="probability / hit rate",
            fmt=".1%",
            axis_format=".0%",
        )
    )


def render(source: Source) -> None:
    st.title("Model health")
    trends = pl.DataFrame()
    with common.readable("model metrics"):
        trends = common.trends(source)
        _trends(trends)
        _aliases(common.aliases(source))
    with common.readable("predictions and bets"):
        bets = common.filtered_bets(source)
        _calibration(common.prediction_calibration(source), data.bet_calibration(bets))
        if trends.is_empty():
            _bet_scores(bets)


if __name__ == "__main__":
    render(common.current_source())

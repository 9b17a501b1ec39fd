"""Dashboard page "System": ingestion freshness per source, the scheduler's job runs, and recent alerts.

Draws only. A store without the ``job_runs`` table (before the scheduler) or without any rows says so in words.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from betpipe.config import Settings
from betpipe.monitoring.dashboard import common
from betpipe.monitoring.dashboard.common import Source


def _freshness(source: Source) -> None:
    st.subheader("Ingestion freshness")
    frame = common.freshness(source, common.now_minute())
    if frame.is_empty():
        st.info("Nothing ingested yet: no odds snapshot and no ingest run recorded.")
        return
    config = Settings().monitoring
    stale = frame.filter(
        (pl.col("odds_age_hours").fill_null(float("inf")) > config.max_odds_age_hours)
        | (pl.col("ingest_age_hours").fill_null(float("inf")) > config.max_ingest_age_hours)
    )
    if stale.height:
        st.warning(
            f"{stale.height} of {frame.height} source(s) are stale (odds older than {config.max_odds_age_hours:g} h "
            f"or no successful ingest within {config.max_ingest_age_hours:g} h): {', '.join(stale['source'])}."
        )
    else:
        st.success(f"All {frame.height} source(s) are fresh.")
    hours = st.column_config.NumberColumn(format="%.1f")
    st.dataframe(frame, hide_index=True, column_config={"odds_age_hours": hours, "ingest_age_hours": hours})


def _jobs(source: Source) -> None:
    st.subheader("Job runs")
    frame = common.job_runs(source)
    if frame is None:
        st.info("This store has no `job_runs` table yet (created by the scheduler's migration): no job history.")
        return
    if frame.is_empty():
        st.info("No scheduled job has run yet (`betpipe run`).")
        return
    failed = frame.filter(pl.col("status") != "succeeded")
    summary = frame.group_by("job").agg(
        pl.len().alias("runs shown"),
        (pl.col("status") == "failed").sum().alias("failed"),
        pl.col("started_at").max().alias("last start"),
        pl.col("status").sort_by("started_at").last().alias("last status"),
    )
    failures = int((frame["status"] == "failed").sum())
    (st.warning if failures else st.success)(f"{failures} failed run(s) among the last {frame.height}.")
    st.dataframe(summary.sort("job"), hide_index=True)
    if failed.height:
        st.dataframe(failed, hide_index=True)


def _alerts(source: Source) -> None:
    st.subheader("Recent alerts")
    frame = common.alerts(source)
    if frame.is_empty():
        st.success("No alert has been raised.")
        return
    critical = int((frame["severity"] == "critical").sum())
    st.caption(f"Newest {frame.height} alert(s), {critical} critical. Deliveries: channel: status (attempts).")
    st.dataframe(frame, hide_index=True)


def render(source: Source) -> None:
    st.title("System")
    with common.readable("ingestion freshness"):
        _freshness(source)
    with common.readable("job runs"):
        _jobs(source)
    with common.readable("alerts"):
        _alerts(source)


if __name__ == "__main__":
    render(common.current_source())

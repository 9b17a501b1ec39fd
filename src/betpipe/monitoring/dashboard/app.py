"""Entry of the Streamlit dashboard (``streamlit run`` starts this file): page setup, the sidebar, the pages.

Must never write to the database and never compute a number itself: the pages draw what ``dashboard_data`` loads.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from betpipe.config import mask_url
from betpipe.monitoring.dashboard import common
from betpipe.monitoring.dashboard.common import TTL_SECONDS, current_source

HERE = Path(__file__).parent


def main() -> None:
    st.set_page_config(page_title="betpipe", layout="wide")
    source = current_source()
    with st.sidebar:
        st.caption(f"store: {mask_url(source.store_url)}")
        st.caption(f"ledger: {source.ledger_label}, account `{source.account}`")
        st.caption(f"read-only; figures are at most {TTL_SECONDS} s old; amounts in {common.currency()}")
        with common.readable("the ledger's filters"):
            common.sidebar_filters(source)
    pages = [
        st.Page(HERE / "model_health.py", title="Model health", default=True),
        st.Page(HERE / "betting.py", title="Betting"),
        st.Page(HERE / "risk.py", title="Risk"),
        st.Page(HERE / "system.py", title="System"),
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()

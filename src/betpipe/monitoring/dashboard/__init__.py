"""The Streamlit dashboard (``betpipe dashboard``): model health, betting, risk and system pages over the store.

One module per page, each runnable by Streamlit as a script and importable (its ``render`` draws the page);
``app.py`` is the entry that ``streamlit run`` starts. Pages only draw: every number comes from
``betpipe.monitoring.dashboard_data``. The dashboard never writes to the database.
"""

from __future__ import annotations

from pathlib import Path

APP_PATH = Path(__file__).with_name("app.py")
PAGE_FILES = ("model_health.py", "betting.py", "risk.py", "system.py")

__all__ = ["APP_PATH", "PAGE_FILES"]

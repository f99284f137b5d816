"""The operators' dashboard: `phm dashboard --store DIR` (or `streamlit run phm/dashboard/app/app.py
-- --store DIR`, or PHM_STORE=DIR). Reads the store; its only writes are the operator actions
of logged-in users (phm.dashboard.actions). Every page refreshes itself on a timer
(st.fragment) without reloading the browser page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from phm.dashboard.login import login_box

HERE = Path(__file__).parent

st.set_page_config(page_title="phm: plant health", page_icon="🛠️", layout="wide")
pages = [
    st.Page(HERE / "views" / "fleet.py", title="Fleet", icon="🏭", url_path="fleet", default=True),
    st.Page(HERE / "views" / "asset.py", title="Asset", icon="⚙️", url_path="asset"),
    st.Page(HERE / "views" / "alerts.py", title="Alerts", icon="🚨", url_path="alerts"),
    st.Page(HERE / "views" / "system.py", title="System", icon="📡", url_path="system"),
]
login_box()  # the sidebar's login on every page (phm.dashboard.login)
st.navigation(pages).run()

"""The operators' dashboard: `phm dashboard --store DIR` (or `streamlit run
phm/dashboard/app/server.py -- --store DIR`, or PHM_STORE=DIR). Reads the store; its only
writes are the operator actions of logged-in users (phm.dashboard.actions). Every page
refreshes itself on a timer (st.fragment) without reloading the browser page.

Every page has its own URL (`/fleet`, `/asset`, `/alerts`, `/system`, `/engineer`); the root
shows the fleet too. Streamlit serves the default page at `/` only, so the fleet is listed twice:
once hidden at the root, once at `/fleet` in the menu.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from phm.dashboard.login import login_box

HERE = Path(__file__).parent
VIEWS = HERE / "views"

st.set_page_config(page_title="phm: plant health", page_icon="🛠️", layout="wide")
pages = [
    st.Page(VIEWS / "fleet.py", title="Fleet", icon="🏭", url_path="home", default=True,
            visibility="hidden"),
    st.Page(VIEWS / "fleet.py", title="Fleet", icon="🏭", url_path="fleet"),
    st.Page(VIEWS / "asset.py", title="Asset", icon="⚙️", url_path="asset"),
    st.Page(VIEWS / "alerts.py", title="Alerts", icon="🚨", url_path="alerts"),
    st.Page(VIEWS / "system.py", title="System", icon="📡", url_path="system"),
    st.Page(VIEWS / "engineer.py", title="Engineer", icon="🔬", url_path="engineer"),
]  # fmt: skip
login_box()  # the sidebar's login on every page (phm.dashboard.login)
st.navigation(pages).run()

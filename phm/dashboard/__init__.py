"""The operators' dashboard: store queries (`queries`), the `phm dashboard` command (`cli`).

The Streamlit pages live in dashboards/ at the repository root; they read the store only,
through `phm.dashboard.queries`.
"""

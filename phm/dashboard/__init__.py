"""The operators' dashboard: store queries (`queries`), the `phm dashboard` command (`cli`).

The Streamlit pages live in phm/dashboard/app/ (shipped in the package); they read the store only,
through `phm.dashboard.queries`.
"""

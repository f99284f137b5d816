"""Fleet: every asset with its status, health, RUL and top fault mode, most urgent first."""

from __future__ import annotations

import time

import polars as pl
import streamlit as st

from phm.dashboard import alarm_queries as aq
from phm.dashboard import queries as q
from phm.dashboard.ui import BADGE, REFRESH_S, ago, cached, rul_text, steady, store_or_stop, warn

st.title("Fleet")
steady()
store = store_or_stop()
registry = store.state.assets()
with st.sidebar:
    st.caption(f"store `{store.root}`")
    sites = st.multiselect("Site", sorted({r[2] for r in registry}), key="f_site")
    lines = st.multiselect("Line", sorted({r[3] for r in registry}), key="f_line")
    types = st.multiselect("Asset type", sorted({r[1] for r in registry}), key="f_type")


@st.fragment(run_every=REFRESH_S)
def fleet_view() -> None:
    warn(store)
    df = aq.with_alarm_state(store, cached(store, "fleet"))  # + alarm_state, data; stale not "ok"
    if df.height == 0:
        st.info(
            "No assets yet: the store has no registered assets and no predictions. "
            "Start `phm demo` (or `phm ingest` and `phm monitor`) and this page fills in."
        )
        return
    shown = q.filter_fleet(df, sites, lines, types)
    counts = dict(shown.group_by("status").len().iter_rows())
    # the status counts as one line of text, not five metric tiles in columns: 10 fewer
    # elements per visit (a gain inside the noise of docs/BENCHMARKS.md, issue 19)
    tally = [f"**{shown.height}** assets"]
    tally += [f"{BADGE[s]} **{counts.get(s, 0)}**" for s in ("alarm", "watch", "ok", "no data")]
    st.markdown("#### " + " · ".join(tally))
    flagged = {k: counts.get(k, 0) for k in aq.STATUS_BADGE if counts.get(k, 0)}
    if flagged:
        st.caption(" · ".join(f"{aq.STATUS_BADGE[k]}: {n}" for k, n in flagged.items()))
    if df["scored_at"].is_null().all():
        st.info("No predictions yet: the monitor has not scored any asset.")
    now = time.time()
    table = shown.select(
        pl.col("asset"),
        ("asset?asset=" + pl.col("asset")).alias("open"),
        pl.col("status").replace_strict(BADGE | aq.STATUS_BADGE, default=pl.col("status")),
        pl.col("alarm_state").alias("alarm handling"),
        pl.col("data"),
        pl.col("health"),
        pl.struct("rul_median", "rul_lower", "rul_upper", "rul_failed")
        .map_elements(
            lambda r: rul_text(r["rul_median"], r["rul_lower"], r["rul_upper"], r["rul_failed"]),
            return_dtype=pl.Utf8,
        )
        .alias("RUL"),
        pl.when(
            pl.col("top_fault").is_not_null()
            & pl.col("status").is_in(["alarm", "watch"])
            & (pl.col("top_fault_prob") >= 0.005)
        )
        .then(
            pl.format(
                "{} ({}%)",
                pl.col("top_fault"),
                (pl.col("top_fault_prob") * 100).round(0).cast(pl.Int64),
            )
        )
        .when(pl.col("top_fault").is_not_null() & pl.col("status").is_in(["alarm", "watch"]))
        .then(pl.col("top_fault"))  # a mode named by the root causes, without a probability
        .alias("top fault mode"),
        pl.col("disagreement").fill_null(""),
        pl.col("open_alerts").alias("open alerts"),
        pl.col("risk"),
        pl.col("scored_at")
        .map_elements(lambda t: ago(now - t) + " ago", return_dtype=pl.Utf8)
        .alias("scored"),
        pl.col("site"),
        pl.col("line"),
        pl.col("type"),
    )
    st.dataframe(
        table,
        hide_index=True,
        height=min(38 + 35 * table.height, 700),
        column_config={
            "health": st.column_config.ProgressColumn(
                "health",
                help="P(healthy) of the latest prediction",
                min_value=0,
                max_value=1,
                format="%.2f",
                color="auto",
            ),
            "RUL": st.column_config.TextColumn(
                "RUL (h, 90%)",
                help="hours of life left: median (90% interval); open: no "
                "fault evidence; failed: the displayed RUL reached 0",
            ),
            "risk": st.column_config.NumberColumn(
                "risk", format="%.2f", help="the monitor's risk: max(1 - health, RUL urgency)"
            ),
            "scored": st.column_config.TextColumn(
                "scored", help="age of the data the latest prediction scored (data time)"
            ),
            "open": st.column_config.LinkColumn("page", display_text="open ›"),
            "alarm handling": st.column_config.TextColumn(
                "alarm handling", help="acknowledged, shelved or out of service (Alerts page)"
            ),
            "data": st.column_config.TextColumn(
                "data", help="fresh, stale (behind the plant's newest data) or comms lost"
            ),
        },
        key="fleet_table",
    )
    st.caption(
        f"{shown.height} of {df.height} assets, most urgent first (status, then risk); "
        f"refreshes every {REFRESH_S:g} s"
    )


fleet_view()

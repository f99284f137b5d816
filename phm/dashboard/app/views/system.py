"""System: ingest rate, data lag, broker connection, dead letters and model versions."""

from __future__ import annotations

import polars as pl
import streamlit as st

from phm.dashboard import alarm_queries as aq
from phm.dashboard import charts
from phm.dashboard import queries as q
from phm.dashboard.ui import REFRESH_S, ago, steady, store_or_stop, warn, when

st.title("System")
steady()
store = store_or_stop()


@st.fragment(run_every=REFRESH_S)
def system_view() -> None:
    warn(store)
    s = q.system_status(store)
    c = s["counters"]
    cols = st.columns(4)
    if "broker_connected" not in c:
        cols[0].metric("Broker", "unknown", help="no ingest worker has reported yet")
    else:
        state = "🟢 connected" if s["broker_connected"] else "🔴 disconnected"
        cols[0].metric("Broker", state, help=f"status written {ago(s['status_age_s'])} ago")
    cols[1].metric("Last message", ago(s["last_message_age_s"]) + " ago")
    limits = store.base_plant.alarms
    lag = aq.lag_level(s["data_lag_s"], limits)
    cols[2].metric(
        "Data lag",
        {"ok": "🟢", "watch": "🟠", "alarm": "🔴"}[lag] + " " + ago(s["data_lag_s"]),
        help=f"now - newest data time in the lake; amber above {ago(limits.lag_watch_s)}, "
        f"red above {ago(limits.lag_alarm_s)} ([alarms] of the plant TOML)",
    )
    cols[3].metric("Dead letters", f"{s['dead_letters']:,}")
    if s["status_age_s"] is not None and s["status_age_s"] > 30:
        st.warning(f"The ingest worker last reported {ago(s['status_age_s'])} ago: is it running?")
    cols = st.columns(5)
    cols[0].metric(
        "Ingest, last min", f"{s['rows_per_s_last_min']:,.0f}/s", help="rows (snapshots) per s"
    )
    cols[1].metric("Messages", f"{c.get('ingest_messages', 0):,}")
    cols[2].metric("Readings", f"{c.get('ingest_readings', 0):,}")
    cols[3].metric("Duplicates dropped", f"{c.get('ingest_duplicates', 0):,}")
    cols[4].metric("Last commit", ago(s["last_commit_age_s"]) + " ago")

    st.subheader("Ingest rate")
    rate = q.ingest_rate(store)
    if rate.height == 0:
        st.info("No data committed in the last 30 minutes.")
    else:
        fig = charts.bars(
            rate["time"].to_numpy(),
            rate["rows_s"].to_numpy(),
            "rows (snapshots for vibration) committed per second, by minute",
            "rows per second",
            "wall clock (UTC)",
            series=rate["stream"].to_list(),
            per="minutes",
            integer=False,
        )
        st.vega_lite_chart(fig, key="rate", width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader("Models")
        if s["models"]:
            st.dataframe(
                [{"model version": m, "assets scored": n} for m, n in s["models"].items()],
                hide_index=True,
                key="models",
            )
        else:
            st.info("No predictions yet: no model version to show.")
    with right:
        st.subheader("Dead letters by reason")
        if s["dead_by_reason"]:
            reasons = s["dead_by_reason"]
            fig = charts.bars(
                list(reasons),
                list(reasons.values()),
                "dead letters by reason",
                "messages",
                "reason",
                height=260,
            )
            st.vega_lite_chart(fig, key="dead_reasons", width="stretch")
        else:
            st.success("No dead letters: every message was accepted.")
    dl = q.dead_letters(store, 100)
    if dl.height:
        st.subheader("Newest dead letters")
        st.dataframe(
            dl.with_columns(
                dl["received_at"].map_elements(when, return_dtype=pl.Utf8).alias("received")
            ).select("received", "reason", "topic", "detail", "bytes"),
            hide_index=True,
            key="dead_table",
        )
    st.caption(f"store `{store.root}`; refreshes every {REFRESH_S:g} s")


system_view()

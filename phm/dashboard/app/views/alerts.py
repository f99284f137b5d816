"""Alerts: open, acknowledged and cleared alerts with their ranked root causes, evidence
paths and recommended actions; acknowledging needs a name and a note."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from phm.dashboard import queries as q
from phm.dashboard.ui import REFRESH_S, SEVERITY_COLOR, store_or_stop, when
from phm.store.state import STATUSES, Alert, UnknownAlertError

SHOW_MAX = 50  # alerts listed per status
RANK_COLORS = ["#d62728", "#ff7f0e", "#1f77b4", "#7f7f7f", "#9467bd"]

st.title("Alerts")
store = store_or_stop()
assets = sorted({a.asset_id for a in store.state.alerts()})
with st.sidebar:
    only = st.selectbox("Asset", ["all", *assets], key="alerts_asset")
asset = None if only == "all" else only


def label(a: Alert) -> str:
    return f"#{a.alert_id} {a.asset_id} {a.severity} ({a.status}): {a.message}"


def acknowledge_form() -> None:
    alerts = list(reversed(store.state.alerts(asset=asset)))  # newest first
    live = [a for a in alerts if a.status == "open"] + [
        a for a in alerts if a.status == "acknowledged"
    ]  # the open ones first: they are what needs a person
    with st.expander("Acknowledge an alert", expanded=bool(live)):
        if not live:
            st.write("No open or acknowledged alerts to acknowledge.")
            return
        with st.form("ack", clear_on_submit=False):
            chosen = st.selectbox(
                "Alert", [a.alert_id for a in live], key="ack_alert",
                format_func=lambda i: label(next(a for a in live if a.alert_id == i)),
            )  # fmt: skip
            by = st.text_input("Your name", key="ack_by")
            note = st.text_area("Note (what you saw, what you will do)", key="ack_note")
            sent = st.form_submit_button("Acknowledge")
        if sent:
            if not by.strip() or not note.strip():
                missing = [n for n, v in (("name", by), ("note", note)) if not v.strip()]
                st.error(f"Acknowledging needs a name and a note: {' and '.join(missing)} empty.")
                return
            try:
                store.acknowledge(int(chosen), by, note)
            except UnknownAlertError as exc:
                st.error(str(exc))
                return
            st.success(f"Alert #{chosen} acknowledged by {by.strip()}.")


def cause_figure(causes: list[dict]) -> go.Figure:
    pos, edges = q.cause_graph(causes)
    fig = go.Figure()
    for a, b, rank in reversed(edges):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        fig.add_trace(go.Scatter(
            x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip", showlegend=False,
            line={"color": RANK_COLORS[min(rank, len(RANK_COLORS) - 1)], "width": 3 if rank == 0
                  else 1.5},
        ))  # fmt: skip
        fig.add_annotation(
            x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
            showarrow=True, arrowhead=3, arrowsize=1.2, opacity=0.6, text="",
        )  # fmt: skip
    names = list(pos)
    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
        text=names, textposition="top center", marker={"size": 14, "color": "#4c78a8"},
        hovertext=names, showlegend=False,
    ))  # fmt: skip
    depth = max((p[1] for p in pos.values()), default=0) - min(
        (p[1] for p in pos.values()), default=0
    )
    fig.update_layout(
        height=int(180 + 60 * depth),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"visible": False, "range": [-0.6, max(p[0] for p in pos.values()) + 0.6]},
        yaxis={"visible": False, "range": [-depth - 0.5, 0.6]},
        title="evidence paths (top cause bold)",
    )
    return fig


def show_alert(a: Alert) -> None:
    color = SEVERITY_COLOR.get(a.severity, "#7f7f7f")
    title = f"#{a.alert_id} · {a.asset_id} · {a.severity} · {a.status} · {a.message}"
    if a.acknowledgements:
        title += f" · acknowledged by {a.acknowledgements[-1].by}"
    with st.expander(title, expanded=a.status != "cleared"):
        st.markdown(
            f"<span style='color:{color}'>■</span> **{a.severity}** {a.kind} alert on "
            f"[{a.asset_id}](asset?asset={a.asset_id}), opened {when(a.opened_at)}, "
            f"updated {when(a.updated_at)}"
            + (f", cleared {when(a.cleared_at)}" if a.cleared_at else ""),
            unsafe_allow_html=True,
        )
        for k in a.acknowledgements:
            st.markdown(f"✔ acknowledged by **{k.by}** at {when(k.at)}: {k.note}")
        history = q.alert_history(store, a.alert_id)
        if history.height > 1:
            st.markdown("**History** (each change an operator reads)")
            st.dataframe(
                history.with_columns(pl.col("at").map_elements(when, return_dtype=pl.Utf8)).select(
                    "at", "severity", "status", "mode", "rul_median", "failed", "message"
                ),
                hide_index=True,
            )
        causes = q.root_causes(a)
        if not causes:
            st.caption("no root-cause analysis yet")
            return
        st.markdown("**Ranked root causes**")
        st.dataframe(
            [
                {
                    "rank": i + 1,
                    "cause": c["cause"],
                    "probability": c["probability"],
                    "recommended actions": "; ".join(c["actions"]) or "-",
                }
                for i, c in enumerate(causes)
            ],
            hide_index=True,
            column_config={
                "probability": st.column_config.ProgressColumn(min_value=0, max_value=1)
            },
            key=f"causes_{a.alert_id}",
        )
        if any(c["path"] for c in causes):
            st.plotly_chart(cause_figure(causes), key=f"graph_{a.alert_id}")
        seen = q.symptoms(a)
        if seen:
            st.caption("symptoms: " + ", ".join(f"{k} {v:.2f}" for k, v in list(seen.items())[:8]))
        top = causes[0]
        if top["actions"]:
            st.markdown("**What to do** (top cause: " + top["cause"] + ")")
            st.markdown("\n".join(f"1. {x}" for x in top["actions"]))


acknowledge_form()


@st.fragment(run_every=REFRESH_S)
def alert_lists() -> None:
    alerts = store.state.alerts(asset=asset)
    if not alerts:
        st.info("No alerts yet: the monitor has raised none" + (f" for {asset}." if asset else "."))
        return
    by_status = {s: [a for a in reversed(alerts) if a.status == s] for s in STATUSES}
    for status, items in by_status.items():
        st.subheader(f"{status.capitalize()} ({len(items)})")
        if not items:
            st.caption(f"no {status} alerts")
        for a in items[:SHOW_MAX]:
            show_alert(a)
        if len(items) > SHOW_MAX:
            st.caption(f"{len(items) - SHOW_MAX} older {status} alerts not shown")
    st.caption(f"refreshes every {REFRESH_S:g} s")


alert_lists()

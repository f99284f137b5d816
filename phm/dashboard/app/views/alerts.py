"""Alerts: open, acknowledged and cleared alerts with their ranked root causes, evidence
paths and recommended actions; acknowledging needs a name and a note."""

from __future__ import annotations

import polars as pl
import streamlit as st

from phm.dashboard import charts
from phm.dashboard import queries as q
from phm.dashboard.ui import (
    REFRESH_S,
    SEVERITY_COLOR,
    graph_labels,
    steady,
    store_or_stop,
    when,
)
from phm.store.state import STATUSES, Alert, UnknownAlertError

SHOW_MAX = 50  # alerts listed per status
GRAPHS_MAX = 5  # evidence graphs drawn per status (each is a chart for the browser to draw)

st.title("Alerts")
steady()
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


def show_alert(a: Alert, graph: bool = True) -> None:
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
        st.markdown(charts.causes_markdown(causes), unsafe_allow_html=True)
        labels = charts.evidence_labels(a.details, graph_labels())
        if any(c["path"] for c in causes) and not graph:
            st.caption(f"evidence graphs drawn for the {GRAPHS_MAX} newest analysed alerts; "
                       f"pick {a.asset_id} in the sidebar to see this one's")  # fmt: skip
        elif any(c["path"] for c in causes):
            fig = charts.cause_figure(causes, labels)
            st.plotly_chart(fig, key=f"graph_{a.alert_id}", config={"displaylogo": False})
        seen = charts.symptoms_text(q.symptoms(a), labels)
        if seen:
            st.caption("strongest symptoms (score 0-1): " + seen)
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
        drawn = 0
        for a in items[:SHOW_MAX]:
            show_alert(a, graph=drawn < GRAPHS_MAX)
            drawn += bool(q.root_causes(a))
        if len(items) > SHOW_MAX:
            st.caption(f"{len(items) - SHOW_MAX} older {status} alerts not shown")
    st.caption(f"refreshes every {REFRESH_S:g} s")


alert_lists()

"""Alerts after ISA-18.2: the flood summary, the active alerts by priority then age, the shelved,
out-of-service and cleared ones, each card with its ranked root causes, evidence paths and
recommended actions and its operator actions (acknowledge with a note, shelve with a reason and
an expiry, out-of-service for engineers; phm.dashboard.actions checks the login on the
server), and the audit trail of every operator action."""

from __future__ import annotations

import polars as pl
import streamlit as st

from phm.dashboard import actions, charts
from phm.dashboard import alarm_queries as aq
from phm.dashboard import queries as q
from phm.dashboard.auth import NotAllowedError, allowed
from phm.dashboard.login import VIEW_ONLY, current_session, operators, users_book
from phm.dashboard.ui import (
    REFRESH_S,
    SEVERITY_COLOR,
    graph_labels,
    steady,
    store_or_stop,
    when,
)
from phm.store.state import UnknownAlertError

SHOW_MAX = 50  # alerts listed per status
OPEN_MAX = 5  # alerts shown open per status (not cleared); the rest one line each until opened
SHELVE_HOURS = (1, 2, 4, 8, 12, 24, 72)  # the shelving durations offered on a card
MESSAGE_KEY = "alarm_message"  # session key: the outcome of the last action, shown once

st.title("Alerts")
steady()
store = store_or_stop()
assets = sorted({a.asset_id for a in store.state.alerts()})
with st.sidebar:
    only = st.selectbox("Asset", ["all", *assets], key="alerts_asset")
asset = None if only == "all" else only


def _act(what: str, alert_id: int, asset_id: str) -> None:
    """An action button's callback: run the action with this session's login and leave the
    outcome for the page to show (the server refuses what the login may not do)."""
    session = current_session()
    ss = st.session_state
    try:
        if what == "acknowledge":
            who = actions.acknowledge(store, session, alert_id, ss.get(f"ack_note_{alert_id}", ""))
            ss[f"ack_note_{alert_id}"] = ""
            done = f"Alert #{alert_id} acknowledged by {who}."
        elif what == "shelve":
            hours = float(ss.get(f"shelve_hours_{alert_id}", SHELVE_HOURS[0]))
            reason = ss.get(f"shelve_reason_{alert_id}", "")
            expires = actions.shelve(store, session, alert_id, reason, hours)
            done = f"Alert #{alert_id} shelved until {when(expires)}."
        elif what == "unshelve":
            actions.unshelve(store, session, alert_id)
            done = f"Alert #{alert_id} unshelved."
        elif what == "out_of_service":
            note = ss.get(f"oos_note_{alert_id}", "")
            actions.set_out_of_service(store, session, asset_id, note)
            done = f"{asset_id} taken out of service: its alarms are suppressed."
        else:
            actions.return_to_service(store, session, asset_id)
            done = f"{asset_id} returned to service."
        ss[MESSAGE_KEY] = ("success", done)
    except NotAllowedError as exc:
        ss[MESSAGE_KEY] = ("error", f"Refused: {exc}")
    except (ValueError, KeyError, UnknownAlertError) as exc:
        ss[MESSAGE_KEY] = ("error", f"{what.replace('_', ' ').capitalize()} needs: {exc}")


def action_forms(v: aq.AlarmView) -> None:
    """The operator actions of one alert card (none without a users file)."""
    if not can_act:
        return
    a = v.alert
    if v.state == "cleared":
        return
    engineer = allowed(current_session(), "out_of_service")
    if v.state == "out of service":
        if engineer:
            st.button(
                "Return to service",
                key=f"rts_{a.alert_id}",
                on_click=_act,
                args=("return_to_service", a.alert_id, a.asset_id),
            )
        return
    if v.state == "shelved":
        st.button(
            "Unshelve",
            key=f"unshelve_{a.alert_id}",
            on_click=_act,
            args=("unshelve", a.alert_id, a.asset_id),
        )
        return
    cols = st.columns(3 if engineer else 2)
    with cols[0].form(f"ack_{a.alert_id}", border=False):
        st.text_input(
            "Acknowledge: note",
            key=f"ack_note_{a.alert_id}",
            placeholder="what you saw, what you will do",
        )
        st.form_submit_button(
            "Acknowledge",
            key=f"ack_btn_{a.alert_id}",
            on_click=_act,
            args=("acknowledge", a.alert_id, a.asset_id),
        )
    with cols[1].form(f"shelve_{a.alert_id}", border=False):
        st.text_input("Shelve: reason", key=f"shelve_reason_{a.alert_id}")
        st.selectbox("for (hours)", SHELVE_HOURS, key=f"shelve_hours_{a.alert_id}")
        st.form_submit_button(
            "Shelve",
            key=f"shelve_btn_{a.alert_id}",
            on_click=_act,
            args=("shelve", a.alert_id, a.asset_id),
        )
    if len(cols) == 3:
        with cols[2].form(f"oos_{a.alert_id}", border=False):
            st.text_input(f"Take {a.asset_id} out of service: note", key=f"oos_note_{a.alert_id}")
            st.form_submit_button(
                "Out of service",
                key=f"oos_btn_{a.alert_id}",
                on_click=_act,
                args=("out_of_service", a.alert_id, a.asset_id),
            )


def show_alert(v: aq.AlarmView, expanded: bool) -> None:
    """An alert's card: one line (priority, id, asset, severity, state, message); opened, its
    actions, history, root causes with their evidence graph and what to do. A closed card's
    body is not computed (a lazy expander) until an operator opens it."""
    a = v.alert
    color = SEVERITY_COLOR.get(a.severity, "#7f7f7f")
    title = (
        f"{aq.PRIORITY_BADGE.get(v.priority, v.priority)} · #{a.alert_id} · {a.asset_id} · "
        f"{a.severity} · {v.state_text()} · {a.message}"
    )
    # keyed: a card keeps its elements (and a note being typed) when others arrive above it
    card = st.expander(title, expanded=expanded, key=f"alert_card_{a.alert_id}", on_change="rerun")
    with card:
        if not card.open:
            return
        action_forms(v)
        raised, data = aq.raised_at(a), q.alert_data_time(a)
        plant = f"raised at {when(raised)}"
        if data is not None and data != raised:  # staleness: the asset's data stopped earlier
            plant += f", the asset's latest data {when(data)}"
        st.markdown(
            f"<span style='color:{color}'>■</span> **{a.severity}** {a.kind} alert on "
            f"[{a.asset_id}](asset?asset={a.asset_id}); {plant} (plant time, as on the charts); "
            f"opened {when(a.opened_at)}, "
            f"updated {when(a.updated_at)}"
            + (f", cleared {when(a.cleared_at)}" if a.cleared_at else "")
            + " (wall clock)",
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
        if any(c["path"] for c in causes):
            fig = charts.cause_figure(causes, labels)
            st.vega_lite_chart(fig, key=f"graph_{a.alert_id}", width="stretch")
        seen = charts.symptoms_text(q.symptoms(a), labels)
        if seen:
            st.caption("strongest symptoms (score 0-1): " + seen)
        top = causes[0]
        if top["actions"]:
            st.markdown("**What to do** (top cause: " + top["cause"] + ")")
            st.markdown("\n".join(f"1. {x}" for x in top["actions"]))


def flood_view() -> None:
    f = aq.flood_summary(store, operators())
    st.subheader("Flood summary (last 24 h, plant time)")
    cols = st.columns(4)
    cols[0].metric("Alerts raised, 24 h", f.total)
    cols[1].metric(
        "Peak per 10 min",
        f.peak_10min,
        help=f"most alerts raised within any 10 minutes; {f.operators} operator(s) on shift",
    )
    cols[2].metric(
        "Flood",
        "🔴 flood" if f.flood else "🟢 no flood",
        help=f"ISA-18.2 / EEMUA 191: more than {aq.FLOOD_PER_10MIN} alerts per 10 minutes "
        "per operator",
    )
    cols[3].metric("Plant time", when(f.end)[11:16] + " UTC", help=f"newest data: {when(f.end)}")
    left, right = st.columns([3, 1])
    fig = charts.bars(
        f.hourly["hour"],
        f.hourly["alerts"],
        "alerts raised per hour (plant time, UTC)",
        "alerts / h",
        None,
        per="hours",
    )
    left.vega_lite_chart(fig, key="flood_hourly", width="stretch")
    right.markdown("**Top assets, 24 h**")
    right.dataframe(f.top_assets, hide_index=True, key="flood_top")


def audit_view() -> None:
    with st.expander("Audit trail: every operator action", expanded=False):
        df = aq.audit_frame(store)
        if df.height == 0:
            st.caption("no operator actions yet")
            return
        st.dataframe(
            df.with_columns(pl.col("at").map_elements(when, return_dtype=pl.Utf8)),
            hide_index=True,
            key="audit",
        )


session = current_session()
can_act = users_book() is not None
if not can_act:
    st.info(VIEW_ONLY)
elif session is None:
    st.caption("Log in (sidebar) to acknowledge or shelve alerts; viewers only read.")

GROUPS = {  # group -> heading
    "active": "Active",
    "shelved": "Shelved",
    "out of service": "Out of service",
    "cleared": "Cleared",
}


@st.fragment(run_every=REFRESH_S)
def alert_lists() -> None:
    message = st.session_state.pop(MESSAGE_KEY, None)
    if message is not None:
        (st.success if message[0] == "success" else st.error)(message[1])
    views = aq.alarm_views(store, asset=asset)
    if not views:
        st.info("No alerts yet: the monitor has raised none" + (f" for {asset}." if asset else "."))
        return
    flood_view()
    for group, items in aq.by_state(views).items():
        st.subheader(f"{GROUPS[group]} ({len(items)})")
        if not items:
            st.caption(f"no {GROUPS[group].lower()} alerts")
        for i, v in enumerate(items[:SHOW_MAX]):
            show_alert(v, expanded=group != "cleared" and i < OPEN_MAX)
        if len(items) > SHOW_MAX:
            st.caption(f"{len(items) - SHOW_MAX} more {GROUPS[group].lower()} alerts not shown")
    st.caption(
        f"active alerts by priority (critical, high, medium, low), then age (the longest "
        f"waiting first); the first {OPEN_MAX} of each list open, open any other card to act "
        f"on it; refreshes every {REFRESH_S:g} s"
    )
    audit_view()


alert_lists()

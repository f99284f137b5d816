"""Asset: live sensor and feature trends, spectra with bearing markers, RUL and fault modes
over time, the model's expert load and the alert timeline of one asset (`?asset=ID`)."""

from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from phm.dashboard import alarm_queries as aq
from phm.dashboard import queries as q
from phm.dashboard.ui import (
    BADGE,
    REFRESH_S,
    SEVERITY_COLOR,
    ago,
    dates,
    rul_text,
    store_or_stop,
    when,
)

WINDOWS = {"1 h": 3600.0, "6 h": 21600.0, "24 h": 86400.0, "7 d": 604800.0, "30 d": 2592000.0}
WINDOWS_ALL = [*WINDOWS, "all"]
MARKER_COLORS = {"BPFI": "#d62728", "BPFO": "#9467bd", "BSF": "#8c564b", "FTF": "#17becf"}

store = store_or_stop()
assets = [r[0] for r in store.state.assets()] or sorted(
    {p.asset_id for p in store.state.latest_predictions()}
)
wanted = st.query_params.get("asset")
if not assets:
    st.title("Asset")
    st.info("No assets yet: nothing is registered in the store. Start `phm demo`.")
    st.stop()
if wanted is not None and wanted not in assets:
    st.title("Asset")
    st.error(f"**Unknown asset `{wanted}`**: the store knows {len(assets)} assets.")
    wanted = None
with st.sidebar:
    asset = st.selectbox(
        "Asset", assets, index=assets.index(wanted) if wanted in assets else 0, key="asset_pick"
    )
    window_name = st.radio(
        "Window", WINDOWS_ALL, index=WINDOWS_ALL.index(st.query_params.get("window", "24 h"))
        if st.query_params.get("window", "24 h") in WINDOWS_ALL else 2, key="asset_window",
    )  # fmt: skip
st.query_params["asset"] = asset  # the URL names what is shown, so it can be shared
st.query_params["window"] = window_name
span = WINDOWS.get(window_name)
st.title(f"Asset {asset}")


def _layout(fig: go.Figure, height: int = 320, **kw: object) -> go.Figure:
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, **kw)
    return fig


def header() -> None:
    fleet = q.fleet(store).filter(pl.col("asset") == asset)
    row = fleet.row(0, named=True) if fleet.height else None
    cols = st.columns(5)
    if row is None:
        return
    cols[0].metric("Status", BADGE[row["status"]])
    cols[1].metric("Health P(healthy)", "-" if row["health"] is None else f"{row['health']:.2f}")
    interval = rul_text(row["rul_median"], row["rul_lower"], row["rul_upper"], row["rul_failed"])
    rul = interval.split(" (")[0]
    cols[2].metric("RUL median", rul, help=f"RUL median and 90% interval: {interval}")
    label = "Top fault mode"
    if row["top_fault_prob"] is not None:
        label += f" ({row['top_fault_prob']:.0%})"
    cols[3].metric(label, row["top_fault"] or "-", help=row["disagreement"] or None)
    last = q.latest_data_time(store, asset)
    cols[4].metric("Latest data", ago(None if last is None else time.time() - last) + " ago")
    st.caption(
        f"{row['type']} · {row['site']} / {row['line']} · RUL {interval} · "
        f"model {row['model'] or '-'}"
    )


def sensor_trends() -> None:
    st.subheader("Sensor trends")
    plant = store.plant()
    streams = [
        s
        for s, spec in plant.types[plant.assets[asset].type].streams.items()
        if spec.kind == "rows"
    ]
    if not streams:
        st.info("This asset type has no row streams.")
    for stream in streams:
        df, n = q.sensor_trends(store, asset, stream, span)
        if df.height == 0:
            st.info(f"No {stream} data yet in the last {window_name}.")
            continue
        fig = go.Figure()
        x = dates(df["time"].to_numpy())
        for c in df.columns[1:]:
            fig.add_trace(go.Scattergl(x=x, y=df[c].to_numpy(), name=c, mode="lines"))
        title = f"{stream}: {n:,} rows, {df.height:,} points drawn"
        st.plotly_chart(_layout(fig, title=title), key=f"trend_{stream}")
    feats = q.feature_trends(store, asset, span)
    if feats.height:
        fig = go.Figure()
        x = dates(feats["time"].to_numpy())
        for c in feats.columns[1:]:
            axis = "y2" if c.endswith("kurtosis") else "y"
            fig.add_trace(go.Scattergl(x=x, y=feats[c].to_numpy(), name=c, mode="lines+markers",
                                       yaxis=axis))  # fmt: skip
        _layout(fig, title="vibration features: RMS (g, left) and kurtosis (right)")
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "kurtosis"})
        st.plotly_chart(fig, key="features")


def _marked(fig: go.Figure, markers: dict[str, float], top: float, color: str | None) -> None:
    """Dotted lines at the marker frequencies; only fundamentals get a label (harmonics,
    named like `2×BPFI`, would crowd the top of the plot)."""
    for name, hz in markers.items():
        harmonic = name[0].isdigit() and "×" in name and not name.startswith("1×")
        base = name.split("×")[-1] if "×" in name and name.split("×")[-1] else name
        c = color or MARKER_COLORS.get(base, "#7f7f7f")
        fig.add_vline(x=hz, line={"color": c, "dash": "dot", "width": 0.8 if harmonic else 1.5})
        if not harmonic:
            fig.add_annotation(x=hz, y=top, text=name, showarrow=False, textangle=-90,
                               font={"size": 10, "color": c}, yanchor="top", xshift=-6)  # fmt: skip


def spectra() -> None:
    st.subheader("Vibration spectra (latest snapshot)")
    sp = q.latest_spectra(store, asset)
    if sp is None:
        st.info("No vibration snapshot yet for this asset.")
        return
    ch = st.radio("Channel", sp.channels, horizontal=True, key="spec_channel")
    j = sp.channels.index(ch)
    st.caption(
        f"snapshot at {when(sp.time)}, fs {sp.fs:g} Hz, shaft {sp.shaft_hz:.2f} Hz "
        f"({sp.shaft_hz * 60:.0f} rpm); dotted lines: shaft harmonics (grey) and bearing "
        "defect frequencies BPFI, BPFO, BSF, FTF with harmonics"
    )
    left, right = st.columns(2)
    fig = go.Figure(go.Scatter(x=sp.freqs, y=sp.amplitude[j], mode="lines", name="amplitude"))
    _marked(fig, sp.shaft_markers, float(sp.amplitude[j].max()), "#7f7f7f")
    _layout(fig, title="spectrum (g)", xaxis_title="Hz", showlegend=False)
    left.plotly_chart(fig, key="spectrum")
    fig = go.Figure(go.Scatter(x=sp.env_freqs, y=sp.envelope[j], mode="lines", name="envelope"))
    top = float(sp.envelope[j][1:].max()) if sp.envelope.shape[-1] > 1 else 1.0
    _marked(fig, {k: v for k, v in sp.shaft_markers.items() if k == "1×"}, top, "#7f7f7f")
    _marked(fig, sp.defect_markers, top, None)
    _layout(fig, title="envelope spectrum (g)", xaxis_title="Hz", showlegend=False)
    right.plotly_chart(fig, key="envelope")


def prognosis() -> None:
    st.subheader("Prognosis")
    hist = q.prediction_history(store, asset, span)
    if hist.height == 0:
        st.info("No predictions yet for this asset: the monitor has not scored it.")
        return
    x = dates(hist["time"].to_numpy())
    mode = "lines+markers" if hist.height < 60 else "lines"  # a lone point needs a marker
    left, right = st.columns(2)
    fig = go.Figure()
    lo = hist["rul_lower"].fill_null(np.nan).to_numpy()
    hi = hist["rul_upper"].fill_null(np.nan).to_numpy()
    med = hist["rul_median"].fill_null(np.nan).to_numpy()
    open_top = np.isnan(hi) & ~np.isnan(med)
    if open_top.any():  # an open upper end (beyond the model's horizon): band to the top
        top = np.nanmax(np.concatenate([hi, med])) * 1.5
        hi = np.where(open_top, top, hi)
        st.caption("where the 90% interval has no upper end, its band runs to the plot's top")
    fig.add_trace(go.Scatter(x=x, y=hi, mode="lines", line={"width": 0}, showlegend=False))
    fig.add_trace(go.Scatter(x=x, y=lo, mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(31,119,180,0.2)", name="90% interval"))  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=hist["rul_median"].fill_null(np.nan).to_numpy(),
                             mode=mode, name="median", line={"color": "#1f77b4"}))  # fmt: skip
    left.plotly_chart(_layout(fig, title="RUL (hours of life)", yaxis_title="h"), key="rul")
    fig = go.Figure()
    for c in [c for c in hist.columns if c.startswith("p_")]:
        fig.add_trace(go.Scatter(x=x, y=hist[c].to_numpy(), mode=mode, name=c[2:],
                                 stackgroup="modes"))  # fmt: skip
    _layout(fig, title="fault-mode probabilities", yaxis={"range": [0, 1]})
    right.plotly_chart(fig, key="modes")


def expert_load() -> None:
    st.subheader("Model: expert load")
    times, loads = q.expert_load_history(store, asset, span)
    if len(times) == 0:
        st.info("No expert loads recorded in the predictions yet.")
        return
    n_layers, n_experts = loads.shape[1:]
    left, right = st.columns(2)
    fig = go.Figure(go.Heatmap(z=loads[-1], x=[f"e{e}" for e in range(n_experts)],
                               y=[f"layer {i}" for i in range(n_layers)], colorscale="Blues",
                               zmin=0))  # fmt: skip
    left.plotly_chart(_layout(fig, title="latest prediction: share of tokens per routed expert"),
                      key="load_latest")  # fmt: skip
    layer = 0 if n_layers == 1 else right.selectbox("Layer", range(n_layers), key="load_layer")
    fig = go.Figure(go.Heatmap(z=loads[:, layer, :].T, x=dates(times),
                               y=[f"e{e}" for e in range(n_experts)], colorscale="Blues",
                               zmin=0))  # fmt: skip
    right.plotly_chart(_layout(fig, title=f"layer {layer} load over time"), key="load_time")


def alert_timeline() -> None:
    st.subheader("Alerts")
    alerts = store.state.alerts(asset=asset)
    if not alerts:
        st.info("No alerts for this asset.")
        return
    df = q.alerts_frame(alerts)
    fig = go.Figure()
    for r in df.iter_rows(named=True):
        fig.add_trace(go.Scatter(
            x=dates([r["opened_at"], r["end"]]), y=[f"#{r['id']}", f"#{r['id']}"],
            mode="lines+markers", line={"width": 12, "color": SEVERITY_COLOR[r["severity"]]},
            name=f"#{r['id']} {r['severity']} ({r['status']})", hovertext=r["message"],
        ))  # fmt: skip
    st.plotly_chart(_layout(fig, height=120 + 30 * df.height, title="alert timeline"),
                    key="alert_timeline")  # fmt: skip
    st.dataframe(
        df.select("id", "severity", "status", "message", "acknowledged_by").reverse(),
        hide_index=True,
        key="asset_alerts",
    )
    st.caption(aq.asset_alarm_note(store, asset) + " · act on alerts on the Alerts page.")


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    try:
        header()
        sensor_trends()
        spectra()
        prognosis()
        expert_load()
        alert_timeline()
    except q.UnknownAssetError as exc:
        st.error(str(exc))
    st.caption(f"refreshes every {REFRESH_S:g} s; window {window_name} of the asset's data")


live()

"""Asset: live sensor trends (one chart per unit; context codes as a table of changes), the
ISO 20816 vibration severity on its zone bands, spectra with bearing markers, the asset against
its baseline and its sister assets, RUL and fault modes over time and the alert timeline of
one asset (`?asset=ID`). Every chart is on plant time (the data's timestamps, UTC) and updates
in place on a timer (st.fragment); the model's internals are on the Engineer page."""

from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from phm.dashboard import alarm_queries as aq
from phm.dashboard import charts
from phm.dashboard import queries as q
from phm.dashboard.ui import (
    BADGE,
    REFRESH_S,
    SEVERITY_COLOR,
    ago,
    cached,
    dates,
    rul_text,
    steady,
    store_or_stop,
    when,
)

WINDOWS = {"1 h": 3600.0, "6 h": 21600.0, "24 h": 86400.0, "7 d": 604800.0, "30 d": 2592000.0}
WINDOWS_ALL = [*WINDOWS, "all"]
MARKER_COLORS = {"BPFI": "#d62728", "BPFO": "#9467bd", "BSF": "#8c564b", "FTF": "#17becf"}
STALE_S = 3600.0  # data older than this (against the wall clock) is flagged on the page

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
        "Window",
        WINDOWS_ALL,
        index=WINDOWS_ALL.index(st.query_params.get("window", "24 h"))
        if st.query_params.get("window", "24 h") in WINDOWS_ALL
        else 2,
        key="asset_window",
    )
st.query_params["asset"] = asset  # the URL names what is shown, so it can be shared
st.query_params["window"] = window_name
span = WINDOWS.get(window_name)
st.title(f"Asset {asset}")
steady()
has_vibration = q.has_stream(store, asset, "vibration")


def show(fig: go.Figure, key: str, where: object = st) -> None:
    where.plotly_chart(fig, key=key, config={"displaylogo": False})


def header() -> None:
    fleet = cached(store, "fleet").filter(pl.col("asset") == asset)
    row = fleet.row(0, named=True) if fleet.height else None
    if row is None:
        return
    for text in cached(store, "warnings"):
        if text.startswith("Untrained") and row["model"] and row["model"] in text:
            st.warning(text, icon="⚠️")
    last = q.latest_data_time(store, asset)
    age = None if last is None else time.time() - last
    if age is not None and age > STALE_S:
        st.warning(
            f"**Stale data**: the newest data of {asset} is {ago(age)} old "
            f"({when(last)}); what this page shows may no longer hold."
        )
    cols = st.columns([1, 1, 1, 1.6, 1])  # a fault mode's name needs the room
    cols[0].metric("Status", BADGE[row["status"]])
    cols[1].metric("Health P(healthy)", "-" if row["health"] is None else f"{row['health']:.2f}")
    interval = rul_text(row["rul_median"], row["rul_lower"], row["rul_upper"], row["rul_failed"])
    cols[2].metric(
        "RUL (median)", interval.split(" (")[0], help=f"RUL median and 90% interval: {interval}"
    )
    if row["top_fault"] is None or row["status"] == "ok":
        cols[3].metric("Top fault mode", "none", help="no fault mode ahead of healthy")
    else:
        p = row["top_fault_prob"]
        cols[3].metric(
            "Top fault mode" + (f" ({p:.0%})" if p is not None and p >= 0.005 else ""),
            row["top_fault"].replace("_", " "),
            help=row["disagreement"] or None,
        )
    cols[4].metric("Latest data", ago(age) + " ago", help=f"plant time {when(last)}")
    st.caption(
        f"{row['type']} · {row['site']} / {row['line']} · RUL {interval} · "
        f"model {row['model'] or '-'} · times are plant time (the data's timestamps), UTC"
    )


def sensor_trends() -> None:
    st.subheader("Sensor trends")
    plant = store.plant()
    streams = plant.types[plant.assets[asset].type].streams
    rows = [s for s, spec in streams.items() if spec.kind == "rows"]
    if not rows:
        st.info("This asset type has no row streams.")
    for stream in rows:
        df, n = cached(store, "sensor_trends", asset, stream, span)
        if df.height == 0:
            st.info(f"No {stream} data yet in the last {window_name}.")
            continue
        x = dates(df["time"].to_numpy())
        groups = charts.channel_groups(streams[stream].channels)
        columns = {c: df[c].to_numpy() for c in df.columns[1:]}
        units = sorted({g.unit for g in groups} - {"as logged"})
        how = f"{', '.join(units)}; one panel per unit" if units else "one panel per quantity"
        fig = charts.stacked(x, groups, columns, f"{stream} ({how})")
        show(fig, f"trend_{stream}")
        st.caption(f"{stream}: {n:,} rows in the window, drawn as {df.height:,} time-bucket means")
        codes = [c for c in streams[stream].channels if charts.is_categorical(c)]
        if codes:
            changes = cached(store, "categorical_changes", asset, stream, codes, span)
            st.markdown(f"**{stream}: context changes** (lot, run, recipe, step; newest first)")
            st.dataframe(
                changes.with_columns(
                    pl.col("time").map_elements(when, return_dtype=pl.Utf8).alias("plant time"),
                    *[pl.col(c).cast(pl.Int64) for c in codes],
                ).select("plant time", *codes),
                hide_index=True,
                height=220,
                key=f"codes_{stream}",
            )


def vibration() -> None:
    st.subheader("Vibration")
    feats = cached(store, "feature_trends", asset, span)
    if feats.height == 0:
        st.info("No vibration snapshot yet for this asset.")
        return
    x = dates(feats["time"].to_numpy())
    channels = [c[: -len("_rms")] for c in feats.columns if c.endswith("_rms")]
    left, right = st.columns(2)
    if all(f"{c}_velocity" in feats.columns for c in channels):
        bounds = q.severity_boundaries(store, asset)
        fig = charts.severity_figure(
            x, {c: feats[f"{c}_velocity"].to_numpy() for c in channels}, bounds
        )
        show(fig, "severity", left)
    kurt = {c: np.round(feats[f"{c}_kurtosis"].to_numpy(), 2) for c in channels}
    fig = charts.lines(x, kurt, mode="lines+markers" if feats.height < 60 else "lines")
    fig.add_hline(
        y=3.0, line={"color": "#7f7f7f", "dash": "dot"}, annotation_text="3: Gaussian (healthy)"
    )
    top = max(6.0, float(np.nanmax([v.max() for v in kurt.values()])) + 0.5)
    charts.layout(
        fig,
        "kurtosis of the acceleration (impulsiveness)",
        "kurtosis (-)",
        yaxis={"range": [0, top], "tickformat": ".1f"},
    )
    show(fig, "kurtosis", right)
    st.caption(
        "velocity RMS per snapshot over 10-1000 Hz from the accelerometers; bands: ISO 20816 "
        "zones of the asset's machine group; the last 2 days of the window at most"
    )
    spectra()


def _marked(fig: go.Figure, markers: dict[str, float], top: float, color: str | None) -> None:
    """Dotted lines at the marker frequencies; only fundamentals get a label (harmonics,
    named like `2×BPFI`, would crowd the top of the plot). Added in one layout update: plotly
    copies the layout on every add_vline, which made a spectrum cost half a second."""
    shapes, notes = list(fig.layout.shapes), list(fig.layout.annotations)
    for name, hz in markers.items():
        harmonic = name[0].isdigit() and "×" in name and not name.startswith("1×")
        base = name.split("×")[-1] if "×" in name and name.split("×")[-1] else name
        c = color or MARKER_COLORS.get(base, "#7f7f7f")
        shapes.append({
            "type": "line", "x0": hz, "x1": hz, "xref": "x", "y0": 0, "y1": 1, "yref": "paper",
            "line": {"color": c, "dash": "dot", "width": 0.8 if harmonic else 1.5},
        })  # fmt: skip
        if not harmonic:
            notes.append({
                "x": hz, "y": top, "text": name, "showarrow": False, "textangle": -90,
                "font": {"size": 10, "color": c}, "yanchor": "top", "xshift": -6,
            })  # fmt: skip
    fig.update_layout(shapes=shapes, annotations=notes)


def spectra() -> None:
    sp = cached(store, "latest_spectra", asset)
    if sp is None:
        return
    ch = st.radio("Spectrum channel", sp.channels, horizontal=True, key="spec_channel")
    j = sp.channels.index(ch)
    st.caption(
        f"latest snapshot at {when(sp.time)}, fs {sp.fs:g} Hz, shaft {sp.shaft_hz:.2f} Hz "
        f"({sp.shaft_hz * 60:.0f} rpm); dotted lines: shaft harmonics (grey) and bearing "
        "defect frequencies BPFI, BPFO, BSF, FTF with harmonics"
    )
    left, right = st.columns(2)
    fig = go.Figure(go.Scatter(x=sp.freqs, y=sp.amplitude[j], mode="lines", name="amplitude"))
    _marked(fig, sp.shaft_markers, float(sp.amplitude[j].max()), "#7f7f7f")
    charts.layout(
        fig, f"amplitude spectrum, {ch}", "acceleration (g)", "frequency (Hz)", showlegend=False
    )
    show(fig, "spectrum", left)
    fig = go.Figure(go.Scatter(x=sp.env_freqs, y=sp.envelope[j], mode="lines", name="envelope"))
    top = float(sp.envelope[j][1:].max()) if sp.envelope.shape[-1] > 1 else 1.0
    _marked(fig, {k: v for k, v in sp.shaft_markers.items() if k == "1×"}, top, "#7f7f7f")
    _marked(fig, sp.defect_markers, top, None)
    charts.layout(
        fig, f"envelope spectrum, {ch}", "envelope (g)", "frequency (Hz)", showlegend=False
    )
    show(fig, "envelope", right)


def comparison() -> None:
    st.subheader("Against its baseline and its sister assets")
    cmp = cached(store, "trend_comparison", asset, span)
    frame = cmp["frame"]
    if cmp["metric"] is None or frame.height == 0:
        st.info("No predictions yet to compare.")
        return
    x = dates(frame["time"].to_numpy())
    sisters = {
        "time": x,
        "median": frame["median"].fill_null(np.nan).to_numpy(),
        "p10": frame["p10"].fill_null(np.nan).to_numpy(),
        "p90": frame["p90"].fill_null(np.nan).to_numpy(),
        "n": cmp["sisters"],
    }
    if cmp["metric"] == "velocity":
        title, y_title, y_range = "vibration velocity RMS", "velocity RMS (mm/s)", None
    else:
        title, y_title, y_range = "health", "P(healthy)", (0.0, 1.0)
    fig = charts.comparison_figure(
        x,
        frame["own"].fill_null(np.nan).to_numpy(),
        sisters if cmp["sisters"] else None,
        cmp["baseline"],
        asset,
        y_title,
        f"{title}: {asset} against its sister assets",
        y_range,
    )
    show(fig, "comparison")
    st.caption(
        f"hourly means of the predictions; band: the 10-90% range of {cmp['sisters']} sister "
        "assets of the same type, dashed: their median; dotted: the asset's own first day"
    )


def prognosis() -> None:
    st.subheader("Prognosis")
    hist = cached(store, "prediction_history", asset, span)
    if hist.height == 0:
        st.info("No predictions yet for this asset: the monitor has not scored it.")
        return
    x = dates(hist["time"].to_numpy())
    mode = "lines+markers" if hist.height < 60 else "lines"  # a lone point needs a marker
    med = hist["rul_median"].fill_null(np.nan).to_numpy()
    modes = [c for c in hist.columns if c.startswith("p_")]
    left, right = st.columns(2) if not np.isnan(med).all() else (None, st.container())
    if left is None:
        st.info(
            "**No RUL to draw**: over this window the model saw no fault evidence, so the "
            "remaining life is open (not estimated). A RUL appears once a fault develops."
        )
    else:
        fig = go.Figure()
        lo = hist["rul_lower"].fill_null(np.nan).to_numpy()
        hi = hist["rul_upper"].fill_null(np.nan).to_numpy()
        open_top = np.isnan(hi) & ~np.isnan(med)
        if open_top.any():  # an open upper end (beyond the model's horizon): band to the top
            hi = np.where(open_top, np.nanmax(np.concatenate([hi, med])) * 1.5, hi)
        fig.add_trace(go.Scatter(x=x, y=hi, mode="lines", line={"width": 0}, showlegend=False))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=lo,
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(31,119,180,0.2)",
                name="90% interval",
            )
        )
        fig.add_trace(go.Scatter(x=x, y=med, mode=mode, name="median", line={"color": "#1f77b4"}))
        charts.layout(fig, "remaining useful life", "RUL (hours)", yaxis={"rangemode": "tozero"})
        show(fig, "rul", left)
        if open_top.any():
            left.caption("where the 90% interval has no upper end, its band runs to the top")
    fig = go.Figure()
    for c in modes:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=hist[c].to_numpy(),
                mode=mode,
                name=c[2:].replace("_", " "),
                stackgroup="modes",
            )
        )
    charts.layout(fig, "fault-mode probabilities (stacked)", "probability", yaxis={"range": [0, 1]})
    fig.update_layout(legend={"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0,
                              "xanchor": "left"}, height=380)  # fmt: skip
    show(fig, "modes", right)


def alert_timeline() -> None:
    st.subheader("Alerts")
    alerts = store.state.alerts(asset=asset)
    if not alerts:
        st.info("No alerts for this asset.")
        return
    df = q.alerts_frame(alerts)
    end_data = q.latest_data_time(store, asset)
    fig = go.Figure()
    spans = []
    for a, r in zip(alerts, df.iter_rows(named=True), strict=True):
        start, end = _data_span(a, end_data)
        spans += [start, end]
        fig.add_trace(
            go.Scatter(
                x=dates([start, end]),
                y=[f"#{r['id']}", f"#{r['id']}"],
                mode="lines+markers",
                line={"width": 12, "color": SEVERITY_COLOR[r["severity"]]},
                name=f"#{r['id']} {r['severity']} ({r['status']})",
                hovertext=r["message"],
            )
        )
    charts.layout(
        fig, "alert timeline", "alert", height=140 + 30 * df.height, yaxis={"type": "category"}
    )
    fig.update_traces(marker={"size": 10})
    pad = max(3600.0, 0.05 * (max(spans) - min(spans)))  # a new alert is a point: show it
    fig.update_xaxes(range=[str(d) for d in dates([min(spans) - pad, max(spans) + pad])])
    show(fig, "alert_timeline")
    st.dataframe(
        df.with_columns(pl.col("opened_at").map_elements(when, return_dtype=pl.Utf8))
        .select("id", "severity", "status", "opened_at", "message", "acknowledged_by")
        .rename({"opened_at": "opened (wall clock)"})
        .reverse(),
        hide_index=True,
        key="asset_alerts",
    )
    st.caption(
        "Timeline on plant time (the scored data's time) · "
        + aq.asset_alarm_note(store, asset)
        + " · act on alerts on the Alerts page."
    )


def _data_span(a: object, end_data: float | None) -> tuple[float, float]:
    """An alert's span on plant time: from the data time of its first version to that of
    its last (cleared) or to the asset's newest data (live); wall times where none is kept."""
    versions = store.state.alert_history(a.alert_id)
    times = [v.details.get("data_time") for v in versions if v.details.get("data_time")]
    if not times:
        return a.opened_at, a.cleared_at or a.updated_at
    end = times[-1] if a.status == "cleared" else max(times[-1], end_data or times[-1])
    return float(times[0]), float(end)


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    try:
        header()
        sensor_trends()
        if has_vibration:
            vibration()
        comparison()
        prognosis()
        alert_timeline()
    except q.UnknownAssetError as exc:
        st.error(str(exc))
    st.caption(
        f"the model's internals (expert load) are on the [Engineer page](engineer?asset={asset}); "
        f"refreshes every {REFRESH_S:g} s; window {window_name} of the asset's data"
    )


live()

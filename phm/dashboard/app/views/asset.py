"""Asset: the status of one asset (`?asset=ID`) above five tabs (`&view=TAB`), of which only the
open one is computed and drawn: Overview (the ISO 20816 vibration severity on its zone bands,
RUL and fault modes over time), Trends (live sensor trends, one chart per unit; context codes
as a table of changes), Spectra (kurtosis, spectra with bearing markers), Compare (the asset
against its baseline and its sister assets) and Alerts (the alert timeline). Every chart is on
plant time (the data's timestamps, UTC) and updates
in place on a timer (st.fragment); the model's internals are on the Engineer page."""

from __future__ import annotations

import time

import numpy as np
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


def show(chart: dict, key: str, where: object = st) -> None:
    where.vega_lite_chart(chart, key=key, width="stretch")


def header() -> None:
    row = cached(store, "asset_row", asset)
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
        how = f"one chart per unit ({', '.join(units)})" if units else "one chart per quantity"
        for i, chart in enumerate(charts.stacked(x, groups, columns, stream)):
            show(chart, f"trend_{stream}_{i}")
        st.caption(
            f"{stream}: {n:,} rows in the window, drawn as {df.height:,} time-bucket means; {how}"
        )
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


def severity() -> None:
    st.subheader("Vibration severity")
    feats = cached(store, "feature_trends", asset, span)
    if feats.height == 0:
        st.info("No vibration snapshot yet for this asset.")
        return
    channels = [c[: -len("_rms")] for c in feats.columns if c.endswith("_rms")]
    if not all(f"{c}_velocity" in feats.columns for c in channels):
        st.info("No velocity RMS in this asset's snapshots (older features).")
        return
    bounds = q.severity_boundaries(store, asset)
    fig = charts.severity_figure(
        dates(feats["time"].to_numpy()),
        {c: feats[f"{c}_velocity"].to_numpy() for c in channels},
        bounds,
    )
    show(fig, "severity")
    st.caption(
        "velocity RMS per snapshot over 10-1000 Hz from the accelerometers; bands: ISO 20816 "
        "zones of the asset's machine group; the last 2 days of the window at most"
    )


def vibration() -> None:
    st.subheader("Impulsiveness and spectra")
    if not has_vibration:
        st.info("This asset type has no vibration sensor: no spectra to draw.")
        return
    feats = cached(store, "feature_trends", asset, span)
    if feats.height == 0:
        st.info("No vibration snapshot yet for this asset.")
        return
    x = dates(feats["time"].to_numpy())
    channels = [c[: -len("_rms")] for c in feats.columns if c.endswith("_rms")]
    kurt = {c: feats[f"{c}_kurtosis"].to_numpy() for c in channels}
    top = max(6.0, float(np.nanmax([v.max() for v in kurt.values()])) + 0.5)
    fig = charts.lines(
        x,
        kurt,
        "kurtosis of the acceleration (impulsiveness)",
        "kurtosis (-)",
        points=feats.height < 60,
        domain=(0.0, top),
        fmt=".1f",
        extra=charts.rule_y(3.0, "3: Gaussian (healthy)"),
    )
    show(fig, "kurtosis")
    spectra()


def _markers(markers: dict[str, float], color: str | None) -> list[dict]:
    """Dotted lines at the marker frequencies; only fundamentals get a label (harmonics,
    named like `2×BPFI`, would crowd the top of the plot)."""
    rows = []
    for name, hz in markers.items():
        harmonic = name[0].isdigit() and "×" in name and not name.startswith("1×")
        base = name.split("×")[-1] if "×" in name and name.split("×")[-1] else name
        rows.append(
            {
                "hz": float(hz),
                "name": name,
                "label": "" if harmonic else name,
                "color": color or MARKER_COLORS.get(base, "#7f7f7f"),
                "w": 0.8 if harmonic else 1.5,
            }
        )
    if not rows:
        return []
    x = {"field": "hz", "type": "quantitative"}
    return [
        {
            "data": {"values": rows},
            "mark": {"type": "rule", "strokeDash": [3, 3]},
            "encoding": {
                "x": x,
                "color": {"field": "color", "type": "nominal", "scale": None},
                "strokeWidth": {"field": "w", "type": "quantitative", "scale": None},
                "tooltip": [
                    {"field": "name", "title": "marker"},
                    {"field": "hz", "title": "Hz", "format": ".2f"},
                ],
            },
        },
        {
            "data": {"values": [r for r in rows if r["label"]]},
            "mark": {
                "type": "text",
                "angle": 270,
                "align": "right",
                "baseline": "bottom",
                "y": 2,
                "dx": -2,
                "fontSize": 10,
            },
            "encoding": {
                "x": x,
                "text": {"field": "label"},
                "color": {"field": "color", "type": "nominal", "scale": None},
            },
        },
    ]


def _spectrum(
    freqs: np.ndarray, amp: np.ndarray, markers: list[dict], title: str, y_title: str
) -> dict:
    values = [
        {"hz": f, "a": a}
        for f, a in zip(charts.rounded(freqs), charts.rounded(amp, 4), strict=True)
    ]
    line = {
        "data": {"values": values},
        "mark": {"type": "line", "strokeWidth": 1, "color": "#1f77b4"},
        "encoding": {
            "x": {"field": "hz", "type": "quantitative", "title": "frequency (Hz)"},
            "y": {"field": "a", "type": "quantitative", "title": y_title},
            "tooltip": [
                {"field": "hz", "title": "Hz", "format": ".2f"},
                {"field": "a", "title": y_title, "format": ".4g"},
            ],
        },
    }
    return charts.spec(title, [line, *markers])


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
    fig = _spectrum(
        sp.freqs,
        sp.amplitude[j],
        _markers(sp.shaft_markers, "#7f7f7f"),
        f"amplitude spectrum, {ch}",
        "acceleration (g)",
    )
    show(fig, "spectrum", left)
    shaft = {k: v for k, v in sp.shaft_markers.items() if k == "1×"}
    markers = _markers(shaft, "#7f7f7f") + _markers(sp.defect_markers, None)
    fig = _spectrum(
        sp.env_freqs, sp.envelope[j], markers, f"envelope spectrum, {ch}", "envelope (g)"
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
        lo = hist["rul_lower"].fill_null(np.nan).to_numpy()
        hi = hist["rul_upper"].fill_null(np.nan).to_numpy()
        open_top = np.isnan(hi) & ~np.isnan(med)
        if open_top.any():  # an open upper end (beyond the model's horizon): band to the top
            hi = np.where(open_top, np.nanmax(np.concatenate([hi, med])) * 1.5, hi)
        t = charts.times_ms(x)
        band = [
            {"t": ti, "lo": a, "hi": b, "s": "90% interval"}
            for ti, a, b in zip(t, charts.rounded(lo), charts.rounded(hi), strict=True)
        ]
        y = charts.y_axis("RUL (hours)", zero=True, field="lo")
        layers = [
            {
                "data": {"values": band},
                "mark": {"type": "area", "opacity": 0.2},
                "encoding": {
                    "x": charts.time_x(),
                    "y": y,
                    "y2": {"field": "hi"},
                    "color": {"field": "s", "type": "nominal"},
                },
            },
            charts.series_layer(
                x, {"median": med}, charts.y_axis("RUL (hours)", zero=True), points=mode != "lines"
            ),
        ]
        for layer in layers:
            layer["encoding"]["color"]["scale"] = {
                "domain": ["90% interval", "median"],
                "range": ["#1f77b4", "#1f77b4"],
            }
        show(charts.spec("remaining useful life", layers), "rul", left)
        if open_top.any():
            left.caption("where the 90% interval has no upper end, its band runs to the top")
    t = charts.times_ms(x)
    values = [
        {"t": ti, "p": p, "mode": c[2:].replace("_", " ")}
        for c in modes
        for ti, p in zip(t, charts.rounded(hist[c].fill_null(np.nan).to_numpy(), 4), strict=True)
    ]
    area = {
        "data": {"values": values},
        "mark": {"type": "area", "line": mode != "lines", "opacity": 0.85},
        "encoding": {
            "x": charts.time_x(),
            "y": {
                "field": "p",
                "type": "quantitative",
                "title": "probability",
                "stack": True,
                "scale": {"domain": [0, 1]},
            },
            "color": {
                "field": "mode",
                "type": "nominal",
                "title": None,
                "sort": [c[2:].replace("_", " ") for c in modes],
            },
            "order": {"field": "mode"},
            "tooltip": [
                {"field": "mode"},
                {"field": "p", "format": ".2f"},
                {"field": "t", "type": "temporal", "format": "%Y-%m-%d %H:%M", "formatType": "utc"},
            ],
        },
    }
    show(charts.spec("fault-mode probabilities (stacked)", [area]), "modes", right)


def alert_timeline() -> None:
    st.subheader("Alerts")
    alerts = store.state.alerts(asset=asset)
    if not alerts:
        st.info("No alerts for this asset.")
        return
    df = q.alerts_frame(alerts)
    end_data = q.latest_data_time(store, asset)
    spans, rows = [], []
    for a, r in zip(alerts, df.iter_rows(named=True), strict=True):
        start, end = _data_span(a, end_data)
        spans += [start, end]
        rows.append(
            {
                "alert": f"#{r['id']}",
                "start": start,
                "end": end,
                "severity": r["severity"],
                "status": r["status"],
                "message": r["message"],
            }
        )
    pad = max(3600.0, 0.05 * (max(spans) - min(spans)))  # a new alert is a point: show it
    t0, t1 = charts.times_ms([min(spans) - pad, max(spans) + pad])
    for row in rows:
        row["start"], row["end"] = charts.times_ms([row["start"], row["end"]])
    x = charts.time_x()
    x["field"] = "start"
    x["scale"]["domain"] = [t0, t1]
    layer = {
        "data": {"values": rows},
        "mark": {"type": "bar", "height": 12, "cornerRadius": 2, "minBandSize": 4},
        "encoding": {
            "x": x,
            "x2": {"field": "end"},
            "y": {"field": "alert", "type": "nominal", "title": "alert", "sort": None},
            "color": {
                "field": "severity",
                "type": "nominal",
                "title": None,
                "scale": {"domain": list(SEVERITY_COLOR), "range": list(SEVERITY_COLOR.values())},
            },
            "tooltip": [
                {"field": "alert"},
                {"field": "severity"},
                {"field": "status"},
                {"field": "message"},
            ],
        },
    }
    points = {**layer, "mark": {"type": "point", "filled": True, "size": 60}}
    show(charts.spec("alert timeline", [layer, points], 120 + 30 * df.height), "alert_timeline")
    st.dataframe(
        df.with_columns(
            pl.col("data_time").map_elements(when, return_dtype=pl.Utf8),
            pl.col("opened_at").map_elements(when, return_dtype=pl.Utf8),
        )
        .select("id", "severity", "status", "data_time", "message", "acknowledged_by", "opened_at")
        .rename({"data_time": "latest data (plant time)", "opened_at": "opened (wall clock)"})
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


def overview() -> None:
    if has_vibration:
        severity()
    prognosis()


TABS = {  # tab label (the URL's `view`) -> what it draws; only the open tab is run and sent
    "Overview": overview,
    "Trends": sensor_trends,
    "Spectra": vibration,
    "Compare": comparison,
    "Alerts": alert_timeline,
}


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    try:
        header()
        for tab, draw in zip(
            st.tabs(list(TABS), key="view", bind="query-params"), TABS.values(), strict=True
        ):
            if tab.open:
                with tab:
                    draw()
    except q.UnknownAssetError as exc:
        st.error(str(exc))
    st.caption(
        f"the model's internals (expert load) are on the [Engineer page](engineer?asset={asset}); "
        f"refreshes every {REFRESH_S:g} s; window {window_name} of the asset's data"
    )


live()

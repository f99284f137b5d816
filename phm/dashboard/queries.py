"""What the dashboard shows, as plain data read from the store (no Streamlit here).

Every function takes a `DashboardStore` (the state store, the lake and the plant of one store
folder, as written by `phm demo` / `phm ingest` + `phm monitor`) and returns polars frames,
numpy arrays or small dicts, so the pages stay thin and the bench can time the queries alone.
Times are Unix seconds; RUL is in the model's unit (hours of life for the demo pumps).

Urgency (the fleet's sort order): status from the open alerts (alarm > watch > ok > no data),
then the monitor's risk score (`phm.monitor.alerts.risk_score`: the larger of 1 - P(healthy)
and the RUL urgency), then the asset id.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from phm.errors import PhmError
from phm.features.severity import SeverityZones, velocity_rms_mm_s
from phm.features.spectral import BearingGeometry, envelope_spectrum, kurtosis, rms
from phm.kg.loader import load_graph, shipped_graphs
from phm.monitor.alerts import AlertPolicy, risk_score
from phm.monitor.headline import headline, top_fault  # noqa: F401  (its old home)
from phm.monitor.rul_track import RulTrack
from phm.plant import Asset, Plant, load_plant
from phm.store.lake import DAY_S, Lake, utc_date
from phm.store.state import (
    Alert,
    Prediction,
    StateStore,
    alert_root_causes,
    state_exists,
    state_location,
)

STATUS_RANK = {"alarm": 3, "watch": 2, "ok": 1, "no data": 0}
MAX_POINTS = 600  # points per series sent to the browser (a chart is ~800 px wide)
EXACT_ROWS = 200_000  # windows with more rows are bucketed in polars without reading them all
FEATURE_SPAN_S = 2 * 86_400.0  # vibration feature trends cover at most this much of a window
ENVELOPE_MAX_HZ = 500.0  # the envelope spectrum is drawn up to here (defect lines live low)
SPECTRUM_MAX_HZ = 2_000.0
SHAFT_HARMONICS = 5
DEFECT_HARMONICS = 3


class StoreMissingError(PhmError):
    """The store folder or its state store does not exist."""


class UnknownAssetError(PhmError):
    """An asset id the store's registry does not hold."""


@dataclass
class DashboardStore:
    """One store folder: `state.sqlite` and `lake/`, read with the plant's stream specs."""

    root: Path
    state: StateStore
    base_plant: Plant

    @property
    def db_path(self) -> Path | str:
        """state.sqlite, or the PostgreSQL URL of PHM_STATE_URL (`state_location`)."""
        return state_location(self.root)

    def plant(self) -> Plant:
        """The plant's types with the assets the store has registered (so a resized fleet,
        `phm demo --assets N`, reads right); the config's assets while none are registered."""
        assets = {
            a: Asset(a, t, s, line)
            for a, t, s, line in self.state.assets()
            if t in self.base_plant.types
        }
        return dataclasses.replace(self.base_plant, assets=assets or self.base_plant.assets)

    def lake(self, plant: Plant | None = None) -> Lake:
        return Lake(self.root / "lake", plant or self.plant())

    # the dashboard's writes (operator actions, checked against the login) are in
    # phm.dashboard.actions

    def read_sql(self, sql: str, args: tuple = ()) -> list[tuple]:
        """A read-only query on the state store (tables of docs/live-path.md)."""
        return self.state.read_sql(sql, args)


def open_store(root: str | Path, plant_path: str | Path | None = None) -> DashboardStore:
    """The store at `root` (a folder holding state.sqlite and lake/); never creates one."""
    root = Path(root)
    if not root.is_dir():
        raise StoreMissingError(
            f"store folder {root} does not exist: start `phm demo` (its store is "
            "data/demo/live) or pass `phm dashboard --store DIR`"
        )
    db = state_location(root)
    if not state_exists(db):
        raise StoreMissingError(
            f"{root} holds no state store (state.sqlite): no ingest or monitor has written "
            "there yet"
        )
    return DashboardStore(root, StateStore(db, readonly=True), load_plant(plant_path))


# -- fleet ---------------------------------------------------------------------------------


def alert_status(alerts: list[Alert]) -> str:
    """ok / watch / alarm: the worst severity of the alerts not cleared."""
    live = [a.severity for a in alerts if a.status != "cleared"]
    if "alarm" in live:
        return "alarm"
    return "watch" if live else "ok"


def displayed(p: Prediction | None, alerts: list[Alert], at: float | None) -> dict[str, Any]:
    """What the fleet shows of one asset: the headline mode of its open alert (decided by
    `phm.monitor.headline.headline` on the alert's own fault probabilities and analysis, as
    the monitor wrote it) or, without one, the model's top fault of the latest prediction; the
    prediction's displayed RUL aged to `at`, the asset's latest data time (it falls between
    scorings, 0 = failed; None = open-ended, no fault evidence)."""
    live = [a for a in alerts if a.status != "cleared" and a.kind == "condition"]
    if live:
        d = live[-1].details  # an alert of an older monitor may lack its fault probabilities
        head = headline(d.get("fault_probs") or (p.fault_probs if p is not None else {}), d)
    else:
        head = headline(p.fault_probs if p is not None else {}, None)
    track = None
    if p is not None and p.rul_median is not None:
        track = RulTrack(p.time, p.rul_median, p.rul_lower, p.rul_upper)
        track = track.at(at) if at is not None else track
    return {
        "top_fault": head.mode,
        "top_fault_prob": head.probability,
        "mode_source": head.source if head.mode is not None else None,
        "disagreement": head.disagreement,
        "rul_median": None if track is None else track.median,
        "rul_lower": None if track is None else track.lower,
        "rul_upper": None if track is None else track.upper,
        "rul_failed": track is not None and track.failed,
    }


FLEET_SCHEMA = {
    "asset": pl.Utf8,
    "type": pl.Utf8,
    "site": pl.Utf8,
    "line": pl.Utf8,
    "status": pl.Utf8,
    "health": pl.Float64,
    "rul_median": pl.Float64,
    "rul_lower": pl.Float64,
    "rul_upper": pl.Float64,
    "rul_failed": pl.Boolean,
    "top_fault": pl.Utf8,
    "top_fault_prob": pl.Float64,
    "mode_source": pl.Utf8,
    "disagreement": pl.Utf8,
    "open_alerts": pl.Int64,
    "risk": pl.Float64,
    "scored_at": pl.Float64,
    "model": pl.Utf8,
}


def fleet(store: DashboardStore, policy: AlertPolicy | None = None) -> pl.DataFrame:
    """One row per asset (registered or predicted), most urgent first; see FLEET_SCHEMA. The
    mode and RUL columns are `displayed`'s; the risk is the monitor's on the model's own
    numbers (`details["model_rul"]` where the prediction has them)."""
    return _fleet(store, policy, None)


def asset_row(
    store: DashboardStore, asset: str, policy: AlertPolicy | None = None
) -> dict[str, Any] | None:
    """`fleet`'s row of one asset (None if the store knows nothing of it), read for that asset
    alone: an asset page's header need not score the whole fleet."""
    df = _fleet(store, policy, asset)
    return df.row(0, named=True) if df.height else None


def _fleet(store: DashboardStore, policy: AlertPolicy | None, only: str | None) -> pl.DataFrame:
    policy = policy or AlertPolicy()
    registry = {a: (t, s, line) for a, t, s, line in store.state.assets() if only in (None, a)}
    if only is None:
        sql, args = "SELECT asset, max(t_max) FROM segments GROUP BY asset", ()
    else:
        sql, args = "SELECT asset, max(t_max) FROM segments WHERE asset = ? GROUP BY asset", (only,)
    data_time = dict(store.read_sql(sql, args))
    latest = {p.asset_id: p for p in store.state.latest_predictions(only)}
    open_by: dict[str, list[Alert]] = {}
    for status in ("open", "acknowledged"):
        for a in store.state.alerts(status=status, asset=only):
            open_by.setdefault(a.asset_id, []).append(a)
    rows = []
    for asset in sorted(set(registry) | set(latest)):
        kind, site, line = registry.get(asset, ("?", "?", "?"))
        p = latest.get(asset)
        alerts = open_by.get(asset, [])
        status = alert_status(alerts) if (p is not None or alerts) else "no data"
        risk = None
        if p is not None:
            model_rul = p.details.get("model_rul", {"median": p.rul_median})
            risk = risk_score(p.health, model_rul.get("median"), policy)
        rows.append(
            {
                "asset": asset,
                "type": kind,
                "site": site,
                "line": line,
                "status": status,
                "health": p.health if p else None,
                **displayed(p, alerts, data_time.get(asset)),
                "open_alerts": len(alerts),
                "risk": risk,
                "scored_at": p.time if p else None,
                "model": p.model if p else None,
            }
        )
    df = pl.DataFrame(rows, schema=FLEET_SCHEMA)
    rank = pl.col("status").replace_strict(STATUS_RANK, return_dtype=pl.Int64)
    return (
        df.with_columns(_rank=rank)
        .sort(["_rank", "risk", "asset"], descending=[True, True, False], nulls_last=True)
        .drop("_rank")
    )


def filter_fleet(
    df: pl.DataFrame,
    sites: list[str] | None = None,
    lines: list[str] | None = None,
    types: list[str] | None = None,
) -> pl.DataFrame:
    """Rows whose site, line and type are among the chosen ones (None or [] keeps all)."""
    for column, chosen in (("site", sites), ("line", lines), ("type", types)):
        if chosen:
            df = df.filter(pl.col(column).is_in(chosen))
    return df


# -- asset: lake -----------------------------------------------------------------------------


def downsample(df: pl.DataFrame, max_points: int = MAX_POINTS) -> pl.DataFrame:
    """At most `max_points` rows: the mean of each of `max_points` equal time buckets (so a
    month of 1 Hz rows reaches the browser as ~600 points per channel)."""
    if df.height <= max_points:
        return df
    t0, t1 = float(df["time"][0]), float(df["time"][-1])
    width = max((t1 - t0) / max_points, 1e-9)
    values = [c for c in df.columns if c not in ("time", "seq", "row") and df[c].dtype.is_float()]
    bucket = ((pl.col("time") - t0) / width).floor().cast(pl.Int64).clip(0, max_points - 1)
    return (
        df.with_columns(_b=bucket)
        .group_by("_b", maintain_order=True)
        .agg(pl.col("time").mean(), *[pl.col(c).mean() for c in values])
        .drop("_b")
    )


def latest_data_time(store: DashboardStore, asset: str) -> float | None:
    """The newest committed row or snapshot time of the asset (from the state store)."""
    rows = store.read_sql("SELECT max(t_max) FROM segments WHERE asset = ?", (asset,))
    return rows[0][0] if rows and rows[0][0] is not None else None


def check_asset(store: DashboardStore, asset: str) -> Plant:
    """The plant, after making sure it knows `asset` (else UnknownAssetError)."""
    plant = store.plant()
    if asset not in plant.assets:
        raise UnknownAssetError(
            f"unknown asset {asset!r}: the store knows {len(plant.assets)} assets "
            f"({', '.join(sorted(plant.assets)[:5])}...)"
        )
    return plant


def sensor_trends(
    store: DashboardStore,
    asset: str,
    stream: str,
    span_s: float | None,
    max_points: int = MAX_POINTS,
) -> tuple[pl.DataFrame, int]:
    """(downsampled rows of a rows stream over the last `span_s` seconds of the asset's data
    (None: all), rows read)."""
    plant = check_asset(store, asset)
    lake = store.lake(plant)
    end = latest_data_time(store, asset)
    start = None if span_s is None or end is None else end - span_s
    listed = store.read_sql(
        "SELECT COALESCE(SUM(rows), 0), MIN(t_min), MAX(t_max) FROM segments "
        "WHERE asset = ? AND stream = ? AND t_max >= ?",
        (asset, stream, -np.inf if start is None else start),
    )[0]
    if listed[0] <= EXACT_ROWS or listed[2] is None:
        df = lake.read_rows(stream, asset, start=start)
        return downsample(df.drop("seq", "row"), max_points), df.height
    t0 = listed[1] if start is None else max(start, listed[1])
    return _bucket_means(lake, stream, asset, t0, listed[2], max_points)


def _bucket_means(
    lake: Lake, stream: str, asset: str, t0: float, t1: float, max_points: int
) -> tuple[pl.DataFrame, int]:
    """Bucket means of a long window straight from the Parquet files (layout of
    docs/live-path.md; a partition may hold rows up to a day past its date), aggregated by
    polars without materialising the rows. Unlike `Lake.read_rows` this does not drop a
    (seq, row) stored twice (a segment of a crashed worker, or one being compacted): such a
    row counts twice in its bucket's mean, a display-only difference for a plot of ~600
    points."""
    spec = lake.plant.stream(asset, stream)
    folder = lake.root / stream / f"asset={asset}"
    first = utc_date(t0 - DAY_S)
    files = [
        f
        for part in sorted(folder.glob("date=*"))
        if part.name[5:] >= first
        for f in sorted(part.glob("part-*.parquet"))
    ]
    width = max((t1 - t0) / max_points, 1e-9)
    bucket = ((pl.col("time") - t0) / width).floor().cast(pl.Int64).clip(0, max_points - 1)
    channels = list(spec.channels)
    out = (
        pl.scan_parquet(files, hive_partitioning=False)
        .select("time", *channels)
        .filter(pl.col("time") >= t0)
        .group_by(bucket.alias("_b"))
        .agg(pl.len().alias("_n"), pl.col("time").mean(), *[pl.col(c).mean() for c in channels])
        .sort("_b")
        .collect()
    )
    return out.drop("_b", "_n"), int(out["_n"].sum())


def feature_trends(
    store: DashboardStore, asset: str, span_s: float | None, max_points: int = 400
) -> pl.DataFrame:
    """RMS (g), kurtosis and, where the type names an ISO 20816 group, velocity RMS (mm/s,
    10-1000 Hz) per vibration channel of the snapshots in the last min(span_s, FEATURE_SPAN_S)
    seconds: columns time, {channel}_rms, {channel}_kurtosis, {channel}_velocity."""
    plant = check_asset(store, asset)
    lake = store.lake(plant)
    try:
        spec = plant.stream(asset, "vibration")
    except KeyError:  # an asset type without vibration (the ion mills)
        return pl.DataFrame(schema={"time": pl.Float64})
    end = lake.latest_time("vibration", asset)
    if end is None:
        return pl.DataFrame(schema={"time": pl.Float64})
    span = FEATURE_SPAN_S if span_s is None else min(span_s, FEATURE_SPAN_S)
    times, fs, data = lake.read_waveforms(asset, start=end - span)
    if len(times) > max_points:
        keep = np.linspace(0, len(times) - 1, max_points).round().astype(int)
        times, data = times[keep], data[keep]
    r, k = rms(data), kurtosis(data)  # (S, C)
    severity = plant.types[plant.assets[asset].type].iso20816
    v = None
    if severity is not None and len(times):
        v = velocity_rms_mm_s(data, float(fs), severity.accel_unit)  # (S, C)
    cols: dict[str, Any] = {"time": times}
    for j, ch in enumerate(spec.channels):
        cols[f"{ch}_rms"] = r[:, j]
        cols[f"{ch}_kurtosis"] = k[:, j]
        if v is not None:
            cols[f"{ch}_velocity"] = v[:, j]
    return pl.DataFrame(cols)


def severity_boundaries(store: DashboardStore, asset: str) -> tuple[float, float, float] | None:
    """The ISO 20816 A/B, B/C and C/D boundaries (mm/s) of the asset's machine group (the
    type's `iso20816` table); None where the type names none."""
    plant = check_asset(store, asset)
    spec = plant.types[plant.assets[asset].type].iso20816
    return None if spec is None else SeverityZones(spec.group, spec.foundation).boundaries


def has_stream(store: DashboardStore, asset: str, stream: str) -> bool:
    """Whether the asset's type has the stream (an ion mill has no vibration)."""
    plant = check_asset(store, asset)
    return stream in plant.types[plant.assets[asset].type].streams


def categorical_changes(
    store: DashboardStore,
    asset: str,
    stream: str,
    channels: list[str],
    span_s: float | None,
    limit: int = 50,
) -> pl.DataFrame:
    """The rows where any of `channels` (context codes: lot, run, recipe, step) changed value,
    newest first, over the last min(span_s, 1 day) of the stream: time and the channels."""
    plant = check_asset(store, asset)
    end = latest_data_time(store, asset)
    if end is None or not channels:
        return pl.DataFrame(schema={"time": pl.Float64})
    span = DAY_S if span_s is None else min(span_s, DAY_S)
    rows = store.lake(plant).read_rows(stream, asset, start=end - span)
    if rows.height == 0:
        return pl.DataFrame(schema={"time": pl.Float64})
    df = rows.select("time", *channels)
    changed = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1)) for c in channels])
    return df.filter(changed).reverse().head(limit)


SISTER_SCHEMA = {"time": pl.Float64, "own": pl.Float64, "median": pl.Float64,
                 "p10": pl.Float64, "p90": pl.Float64}  # fmt: skip


def trend_comparison(
    store: DashboardStore, asset: str, span_s: float | None, bucket_s: float = 3600.0
) -> dict[str, Any]:
    """The asset against its sister assets (the same type) and its own baseline, on the
    ISO 20816 velocity RMS of its predictions (mm/s) where they carry one, else on health
    (P(healthy)): {"metric", "unit", "frame" (SISTER_SCHEMA: per `bucket_s` bucket of plant
    time, the asset's mean and the sisters' median, 10% and 90% quantiles of their bucket
    means), "sisters" (how many), "baseline" (the asset's median over its first day of
    predictions)}. Predictions are read in SQL, aggregated per asset and bucket."""
    plant = check_asset(store, asset)
    kind = plant.assets[asset].type
    last = store.read_sql("SELECT max(time) FROM predictions WHERE asset_id = ?", (asset,))[0][0]
    empty = {"metric": None, "unit": "", "frame": pl.DataFrame(schema=SISTER_SCHEMA),
             "sisters": 0, "baseline": None}  # fmt: skip
    if last is None:
        return empty
    start = -np.inf if span_s is None else last - span_s
    velocity = "json_extract(p.details, '$.iso20816.velocity_mm_s')"
    has_v = store.read_sql(
        f"SELECT count(*) FROM predictions p WHERE asset_id = ? AND {velocity} IS NOT NULL",
        (asset,),
    )[0][0]
    value, metric, unit = (
        (velocity, "velocity", "mm/s") if has_v else ("p.health", "health", "P(healthy)")
    )
    rows = store.read_sql(
        f"SELECT p.asset_id, CAST(p.time / ? AS INTEGER) AS b, AVG({value}) "
        "FROM predictions p JOIN assets a ON a.asset_id = p.asset_id "
        f"WHERE a.type = ? AND p.time >= ? AND {value} IS NOT NULL GROUP BY p.asset_id, b",
        (bucket_s, kind, start),
    )
    if not rows:
        return empty
    df = pl.DataFrame(rows, schema={"asset": pl.Utf8, "b": pl.Int64, "v": pl.Float64},
                      orient="row")  # fmt: skip
    own = df.filter(pl.col("asset") == asset).select("b", pl.col("v").alias("own"))
    sisters = df.filter(pl.col("asset") != asset)
    band = sisters.group_by("b").agg(
        pl.col("v").median().alias("median"),
        pl.col("v").quantile(0.1, "linear").alias("p10"),
        pl.col("v").quantile(0.9, "linear").alias("p90"),
    )
    frame = (
        own.join(band, on="b", how="full", coalesce=True)
        .sort("b")
        .with_columns(time=(pl.col("b").cast(pl.Float64) + 0.5) * bucket_s)
        .select(*SISTER_SCHEMA)
        .cast(SISTER_SCHEMA)
    )
    first = store.read_sql(
        f"SELECT {value} FROM predictions p WHERE asset_id = ? AND {value} IS NOT NULL "
        "AND time <= (SELECT min(time) FROM predictions WHERE asset_id = ?) + ?",
        (asset, asset, DAY_S),
    )
    baseline = float(np.median([r[0] for r in first])) if first else None
    return {"metric": metric, "unit": unit, "frame": frame,
            "sisters": sisters["asset"].n_unique(), "baseline": baseline}  # fmt: skip


def graph_labels() -> dict[str, str]:
    """Readable labels of the shipped knowledge graphs: node id -> label, and each symptom's
    detector key (the evidence names of `details["symptoms"]`) -> its symptom's label."""
    out: dict[str, str] = {}
    for name in shipped_graphs():
        for node in load_graph(name).nodes.values():
            if node.label:
                out.setdefault(node.id, node.label)
                if node.detector:
                    out.setdefault(node.detector, node.label)
    return out


@dataclass
class Spectra:
    """The latest snapshot's spectra: amplitude spectrum (C, F) and envelope spectrum (C, G),
    with marker frequencies (Hz) for the shaft harmonics and the bearing defects."""

    time: float
    fs: float
    channels: tuple[str, ...]
    freqs: np.ndarray
    amplitude: np.ndarray
    env_freqs: np.ndarray
    envelope: np.ndarray
    shaft_hz: float
    shaft_markers: dict[str, float]
    defect_markers: dict[str, float]


def shaft_speed_hz(lake: Lake, asset: str, t: float, default: float) -> float:
    """Shaft speed at time t from the process stream's speed_rpm (last row within 10 min
    before t), else `default` (the type's nominal shaft_hz)."""
    try:
        rows = lake.read_rows("process", asset, start=t - 600.0, end=t + 1.0)
    except (KeyError, PhmError):
        return default
    if rows.height == 0 or "speed_rpm" not in rows.columns:
        return default
    rpm = rows["speed_rpm"].drop_nans().drop_nulls()
    return float(rpm[-1]) / 60.0 if rpm.len() and rpm[-1] > 0 else default


def latest_spectra(store: DashboardStore, asset: str) -> Spectra | None:
    """Spectra of the asset's latest vibration snapshot (None without one)."""
    plant = check_asset(store, asset)
    try:
        spec = plant.stream(asset, "vibration")
    except KeyError:
        return None
    lake = store.lake(plant)
    t = lake.latest_time("vibration", asset)
    if t is None:
        return None
    times, fs, data = lake.read_waveforms(asset, start=t, end=t + 1e-3)
    if len(times) == 0:
        return None
    x = data[-1].astype(np.float64)  # (C, L)
    n = x.shape[-1]
    window = np.hanning(n)
    amp = np.abs(np.fft.rfft((x - x.mean(-1, keepdims=True)) * window, axis=-1)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    env_freqs, env = envelope_spectrum(x[None], fs)
    keep = freqs <= SPECTRUM_MAX_HZ
    env_keep = env_freqs <= ENVELOPE_MAX_HZ
    pump = plant.types[plant.assets[asset].type].pump
    shaft = shaft_speed_hz(lake, asset, float(times[-1]), pump.shaft_hz if pump else 0.0)
    defects: dict[str, float] = {}
    if shaft > 0 and pump is not None:
        geometry = BearingGeometry.from_spec(pump)
        for name, hz in geometry.defect_frequencies(shaft).as_dict().items():
            for k in range(1, DEFECT_HARMONICS + 1):
                defects[f"{k}×{name.upper()}" if k > 1 else name.upper()] = k * hz
    shafts = {f"{k}×": k * shaft for k in range(1, SHAFT_HARMONICS + 1)} if shaft > 0 else {}
    return Spectra(
        float(times[-1]),
        float(fs),
        spec.channels,
        freqs[keep],
        amp[:, keep],
        env_freqs[env_keep],
        env[0][:, env_keep],
        shaft,
        shafts,
        defects,
    )


# -- asset: predictions and alerts ----------------------------------------------------------


def prediction_history(
    store: DashboardStore, asset: str, span_s: float | None = None, max_points: int = MAX_POINTS
) -> pl.DataFrame:
    """The asset's predictions (last `span_s` s of them; None: all), thinned to `max_points`:
    time, health, rul_median, rul_lower, rul_upper, model, p_{mode} per fault mode."""
    start = None
    if span_s is not None:
        last = store.read_sql("SELECT max(time) FROM predictions WHERE asset_id = ?", (asset,))
        if last and last[0][0] is not None:
            start = float(last[0][0]) - span_s
    preds = store.state.predictions(asset, start=start)
    if len(preds) > max_points:
        keep = np.linspace(0, len(preds) - 1, max_points).round().astype(int)
        preds = [preds[i] for i in keep]
    modes = sorted({m for p in preds for m in p.fault_probs})
    cols: dict[str, Any] = {
        "time": [p.time for p in preds],
        "health": [p.health for p in preds],
        "rul_median": [p.rul_median for p in preds],
        "rul_lower": [p.rul_lower for p in preds],
        "rul_upper": [p.rul_upper for p in preds],
        "model": [p.model for p in preds],
    }
    for m in modes:
        cols[f"p_{m}"] = [p.fault_probs.get(m) for p in preds]
    schema = {k: pl.Float64 for k in cols} | {"model": pl.Utf8}
    return pl.DataFrame(cols, schema=schema)


def expert_load_history(
    store: DashboardStore, asset: str, span_s: float | None = None, max_points: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """(times (T,), loads (T, layers, experts)) of the asset's predictions whose expert-load
    shape matches the newest one's (a new model version may have another shape)."""
    preds = [p for p in store.state.predictions(asset) if p.expert_load]
    if span_s is not None and preds:
        preds = [p for p in preds if p.time >= preds[-1].time - span_s]
    if not preds:
        return np.zeros(0), np.zeros((0, 0, 0))
    shape = np.asarray(preds[-1].expert_load).shape
    preds = [p for p in preds if np.asarray(p.expert_load).shape == shape]
    if len(preds) > max_points:
        keep = np.linspace(0, len(preds) - 1, max_points).round().astype(int)
        preds = [preds[i] for i in keep]
    times = np.array([p.time for p in preds])
    return times, np.array([p.expert_load for p in preds], dtype=np.float64)


def alerts_frame(alerts: list[Alert], now: float | None = None) -> pl.DataFrame:
    """Alerts as rows for tables and the timeline: end = cleared_at, or now while live (wall
    clock); data_time = the plant time of the scoring behind the latest version."""
    now = time.time() if now is None else now
    rows = [
        {
            "id": a.alert_id,
            "asset": a.asset_id,
            "kind": a.kind,
            "severity": a.severity,
            "status": a.status,
            "opened_at": a.opened_at,
            "updated_at": a.updated_at,
            "end": a.cleared_at if a.cleared_at is not None else max(now, a.updated_at),
            "message": a.message,
            "acknowledged_by": ", ".join(k.by for k in a.acknowledgements),
            "data_time": alert_data_time(a),
        }
        for a in alerts
    ]
    schema = {
        "id": pl.Int64,
        "asset": pl.Utf8,
        "kind": pl.Utf8,
        "severity": pl.Utf8,
        "status": pl.Utf8,
        "opened_at": pl.Float64,
        "updated_at": pl.Float64,
        "end": pl.Float64,
        "message": pl.Utf8,
        "acknowledged_by": pl.Utf8,
        "data_time": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def alert_data_time(a: Alert) -> float | None:
    """The asset's own newest data (plant) time behind an alert's latest version, if it has one.
    For a staleness alert this is older than the plant time it was raised at
    (`alarm_queries.raised_at`): the card and the asset's alert table both read it here."""
    t = a.details.get("data_time") if isinstance(a.details, dict) else None
    return float(t) if isinstance(t, int | float) and np.isfinite(t) else None


ALERT_HISTORY_SCHEMA = {
    "at": pl.Float64,
    "severity": pl.Utf8,
    "status": pl.Utf8,
    "mode": pl.Utf8,
    "rul_median": pl.Float64,
    "failed": pl.Boolean,
    "message": pl.Utf8,
}


def alert_history(store: DashboardStore, alert_id: int) -> pl.DataFrame:
    """The versions an alert showed, oldest first (opening, each change an operator reads,
    clearing; see ALERT_HISTORY_SCHEMA): its headline mode and displayed RUL over time."""
    rows = []
    for v in store.state.alert_history(alert_id):
        rul = v.details.get("rul") if isinstance(v.details.get("rul"), dict) else {}
        rows.append(
            {
                "at": v.at,
                "severity": v.severity,
                "status": v.status,
                "mode": v.details.get("mode"),
                "rul_median": rul.get("median"),
                "failed": bool(rul.get("failed", False)),
                "message": v.message,
            }
        )
    return pl.DataFrame(rows, schema=ALERT_HISTORY_SCHEMA)


def root_causes(alert: Alert) -> list[dict[str, Any]]:
    """The alert's ranked root causes, most probable first (`alert_root_causes`)."""
    return alert_root_causes(alert.details)


def symptoms(alert: Alert) -> dict[str, float]:
    """The symptom scores the root causes rest on (details["symptoms"]), strongest first."""
    raw = alert.details.get("symptoms") if isinstance(alert.details, dict) else None
    if not isinstance(raw, dict):
        return {}
    good = {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)}
    return dict(sorted(good.items(), key=lambda kv: -kv[1]))


def cause_graph(causes: list[dict[str, Any]]) -> tuple[dict[str, tuple[float, float]], list]:
    """Node positions and edges for drawing the evidence paths: each path runs left to right
    (x = position along it); a node shared by several paths is drawn once, at its first place.
    Returns ({node: (x, y)}, [(a, b, rank)]) with rank the index of the cause (0 = top)."""
    pos: dict[str, tuple[float, float]] = {}
    edges = []
    for rank, c in enumerate(causes):
        for x, node in enumerate(c["path"]):
            if node not in pos:
                column = [p for p in pos.values() if p[0] == x]
                pos[node] = (float(x), -float(len(column)))
        edges += [(a, b, rank) for a, b in zip(c["path"], c["path"][1:], strict=False)]
    return pos, edges


STALE_DATA_S = 3600.0  # an asset whose newest data is older than this (wall clock) is stale


def warnings(store: DashboardStore, now: float | None = None) -> list[str]:
    """What every page warns about first: models that score untrained (their predictions
    carry `details["model_untrained"]`, set by the monitor) and assets whose newest data is
    older than STALE_DATA_S."""
    now = time.time() if now is None else now
    out = []
    untrained = sorted(
        {p.model for p in store.state.latest_predictions() if p.details.get("model_untrained")}
    )
    if untrained:
        out.append(
            f"Untrained model: {', '.join(untrained)} scores without a training run; its "
            "health, fault modes and RUL are not evidence. Train it (`phm train`)."
        )
    rows = store.read_sql(
        "SELECT asset, max(t_max) AS t FROM segments GROUP BY asset HAVING t < ?",
        (now - STALE_DATA_S,),
    )
    if rows:
        names = ", ".join(a for a, _ in rows[:5]) + (" ..." if len(rows) > 5 else "")
        oldest = min(t for _, t in rows)
        out.append(
            f"Stale data: {len(rows)} asset(s) sent nothing for over "
            f"{STALE_DATA_S / 3600:.0f} h ({names}; the oldest {(now - oldest) / 3600:.1f} h ago)."
        )
    return out


# -- system --------------------------------------------------------------------------------


def ingest_rate(store: DashboardStore, window_s: float = 1800.0, bucket_s: float = 60.0,
                now: float | None = None) -> pl.DataFrame:  # fmt: skip
    """Rows (or snapshots) committed per second, per stream and `bucket_s` bucket of wall
    time, over the last `window_s` seconds (from the segments table): minute, stream, rows_s."""
    now = time.time() if now is None else now
    rows = store.read_sql(
        "SELECT stream, CAST((committed_at - ?) / ? AS INTEGER) AS b, SUM(rows) "
        "FROM segments WHERE committed_at >= ? GROUP BY stream, b ORDER BY b",
        (now - window_s, bucket_s, now - window_s),
    )
    t0 = now - window_s
    return pl.DataFrame(
        {
            "time": [t0 + (b + 0.5) * bucket_s for _, b, _ in rows],
            "stream": [s for s, _, _ in rows],
            "rows_s": [n / bucket_s for _, _, n in rows],
        },
        schema={"time": pl.Float64, "stream": pl.Utf8, "rows_s": pl.Float64},
    )


def system_status(store: DashboardStore, now: float | None = None) -> dict[str, Any]:
    """Counters, broker connection, data lag (now - newest data time), the last minute's
    ingest rate and the model versions of the latest predictions."""
    now = time.time() if now is None else now
    counters = store.state.counters()
    newest = store.read_sql("SELECT max(t_max), max(committed_at) FROM segments")[0]
    last_min = store.read_sql(
        "SELECT COALESCE(SUM(rows), 0) FROM segments WHERE committed_at >= ?", (now - 60.0,)
    )[0][0]
    models: dict[str, int] = {}
    for p in store.state.latest_predictions():
        models[p.model] = models.get(p.model, 0) + 1
    status_at = counters.get("ingest_status_at")
    last_msg = counters.get("ingest_last_message_at")
    return {
        "counters": counters,
        "broker_connected": bool(counters.get("broker_connected", 0)),
        "status_age_s": None if status_at is None else now - status_at,
        "last_message_age_s": None if not last_msg else now - last_msg,
        "data_lag_s": None if newest[0] is None else now - newest[0],
        "last_commit_age_s": None if newest[1] is None else now - newest[1],
        "rows_per_s_last_min": float(last_min) / 60.0,
        "models": models,
        "dead_letters": counters.get("dead_letters", 0),
        "dead_by_reason": {
            k.removeprefix("dead_letter_"): v
            for k, v in counters.items()
            if k.startswith("dead_letter_")
        },
    }


def dead_letters(store: DashboardStore, limit: int = 100) -> pl.DataFrame:
    """The newest dead letters: received_at, topic, reason, detail, bytes (the whole
    payload's size; only its first bytes may be stored)."""
    dl = store.state.dead_letters(limit)
    return pl.DataFrame(
        {
            "received_at": [d.received_at for d in dl],
            "topic": [d.topic for d in dl],
            "reason": [d.reason for d in dl],
            "detail": [d.detail for d in dl],
            "bytes": [d.size for d in dl],
        },
        schema={
            "received_at": pl.Float64,
            "topic": pl.Utf8,
            "reason": pl.Utf8,
            "detail": pl.Utf8,
            "bytes": pl.Int64,
        },
    )

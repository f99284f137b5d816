"""`phm bench replay`: recordings replayed through the whole live path, and what it alerted.

Mosquitto (a local subprocess, or `--broker`) -> `phm replay` (phm.sim.replay) -> the ingest
worker -> the lake -> the monitor with the plant's scorers (the replay type's healthy-baseline
scorer) -> alerts in the state store. Every asset is commissioned on its first snapshots; with
`--commission` each fault recording plays on its own asset after the healthy recording of the
same `--commission-by` values, so the healthy stretch after commissioning is checked too.

Per asset and recording it reports: whether an alert was open during the recording, and for a
fault recording the time to alert: signal seconds from the recording's first snapshot to the
prediction at which the monitor's hysteresis opened the alert (the asset's stored predictions
stepped through `phm.monitor.alerts.step` with the monitor's policy, which is what the monitor
did) and the wall seconds from that first snapshot's publication to the alert in the store
(ingest, lake and monitor latency included). A healthy recording passes with no alert; a
fault recording passes with an alert opened during it. Writes JSON (`--out`).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from phm.bench.results import markdown_table, write_result
from phm.datasets.recordings import open_manifest
from phm.errors import PhmError
from phm.ingest.broker import MosquittoProcess, free_port
from phm.ingest.worker import IngestWorker
from phm.monitor.alerts import AlertPolicy, AlertState, risk_score, step
from phm.monitor.baseline_scorer import (
    anomaly_health,
    baseline_config,
    fit_baseline,
    snapshot_features,
)
from phm.monitor.scorer import Monitor
from phm.plant import load_plant
from phm.sim.replay import (
    common_rate,
    read_truth,
    replay_assets,
    replay_plant,
    run_replay,
    snapshots_of,
)
from phm.store.lake import Lake
from phm.store.state import StateStore

log = logging.getLogger(__name__)


def _monitor_loop(monitor: Monitor, stop: threading.Event, interval_s: float) -> None:
    """Evaluate back to back while there is something new, else every `interval_s`."""
    while not stop.is_set():
        if not monitor.evaluate():
            stop.wait(interval_s)


def replay_through_live_path(
    manifest: str | Path,
    where: str,
    store: Path,
    *,
    asset_columns: tuple[str, ...] = (),
    commission: str = "",
    commission_by: tuple[str, ...] = (),
    speed: float = 1.0,
    broker_url: str | None = None,
    template: Path | None = None,
    interval_s: float = 0.2,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Replay the selected recordings into a fresh store at `store` through a broker (a
    Mosquitto subprocess unless `broker_url`), ingest and the monitor, the assets typed by
    `template` (default phm/configs/plant_replay.toml); the per-recording figures (see the
    module doc) and the run's counts."""
    recordings = open_manifest(manifest)
    assets = replay_assets(recordings, where, asset_columns, commission, commission_by)
    store.mkdir(parents=True, exist_ok=True)
    plant_path = store / "plant.toml"
    plant_path.write_text(replay_plant(assets, template, sampling_hz=common_rate(assets)))
    plant = load_plant(plant_path)
    broker = None
    if broker_url is None:
        broker = MosquittoProcess(free_port(), store / "mosquitto").start()
        broker_url = broker.url
    worker = IngestWorker(
        broker_url, store, plant, client_id=f"phm-bench-replay-{uuid.uuid4().hex[:8]}"
    ).start()
    stop = threading.Event()
    thread = None
    began = time.time()
    try:
        deadline = time.monotonic() + 15
        while not worker.subscribed:
            if time.monotonic() > deadline:
                raise PhmError(f"ingest could not subscribe on {broker_url}")
            time.sleep(0.02)
        monitor = Monitor(store, plant)
        thread = threading.Thread(target=_monitor_loop, args=(monitor, stop, interval_s))
        thread.start()
        truth_path = store / "truth.jsonl"
        stats = run_replay(plant, assets, broker_url, speed, truth_path=truth_path)
        lake = Lake(store / "lake", plant)
        truth = read_truth(truth_path)
        last = {t["asset_id"]: t["end"] for t in truth}  # end of the last snapshot
        period = {t["asset_id"]: (t["end"] - t["start"]) / t["snapshots"] for t in truth}
        deadline = time.monotonic() + timeout_s
        while True:  # until the monitor has scored every asset's last snapshot
            done = all(monitor.last_scored.get(a, 0.0) >= last[a] - period[a] - 1e-6 for a in last)
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not done:
            raise PhmError(f"the monitor did not score every replayed snapshot in {timeout_s} s")
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        worker.stop()
        if broker is not None:
            broker.kill()
    rows = _figures(store, plant_path, truth, speed, AlertPolicy())
    stored = {a.asset_id: len(lake.read_waveforms(a.asset_id)[0]) for a in assets}
    return {
        "manifest": str(manifest),
        "where": where,
        "commission": commission,
        "commission_by": list(commission_by),
        "speed": speed,
        "template": str(template) if template is not None else "plant_replay.toml",
        "assets": len(assets),
        "snapshots_published": stats.snapshots,
        "snapshots_stored": sum(stored.values()),
        "replay_wall_s": stats.wall_s,
        "total_wall_s": time.time() - began,
        "recordings": rows,
        "passed": all(r["passed"] for r in rows),
    }


def _figures(
    store: Path, plant_path: Path, truth: list[dict[str, Any]], speed: float, policy: AlertPolicy
) -> list[dict[str, Any]]:
    """One row per (asset, recording) of the truth file (see the module doc)."""
    state = StateStore(store / "state.sqlite", readonly=True)
    rows = []
    try:
        by_asset: dict[str, list[dict[str, Any]]] = {}
        for t in truth:
            by_asset.setdefault(t["asset_id"], []).append(t)
        for asset_id, segments in by_asset.items():
            preds = state.predictions(asset_id)
            alerts = [a for a in state.alerts(asset=asset_id) if a.kind == "condition"]
            # when the monitor's hysteresis opened an alert: the prediction times
            opened_at_signal, level = [], AlertState()
            for p in preds:
                level, action = step(level, risk_score(p.health, p.rul_median, policy), policy)
                if action is not None and action.startswith("open_"):
                    opened_at_signal.append(p.time)
            anchor, wall_start = segments[0]["anchor"], segments[0]["wall_start"]
            for seg in segments:
                start, end = seg["start"], seg["end"]
                during = [t for t in opened_at_signal if start <= t < end + 1e-6]
                healthy = seg["role"] in ("commission", "healthy")
                row = {
                    "asset_id": asset_id,
                    "role": seg["role"],
                    "recording": Path(seg["path"]).name,
                    "label": seg["label"],
                    "snapshots": seg["snapshots"],
                    "predictions": sum(start <= p.time < end + 1e-6 for p in preds),
                    "alert": bool(during),
                    "time_to_alert_s": None,
                    "wall_latency_s": None,
                }
                if during:
                    row["time_to_alert_s"] = during[0] - start
                    published = wall_start + (start - anchor) / speed
                    opened = [a.opened_at for a in alerts if a.opened_at >= published]
                    row["wall_latency_s"] = min(opened) - published if opened else None
                row["passed"] = (not row["alert"]) if healthy else row["alert"]
                rows.append(row)
    finally:
        state.close()
    return rows


def score_offline(
    manifest: str | Path,
    where: str,
    *,
    asset_columns: tuple[str, ...] = (),
    commission: str = "",
    commission_by: tuple[str, ...] = (),
    template: Path | None = None,
) -> list[dict[str, Any]]:
    """Every asset's snapshots scored one by one, without MQTT: the baseline of its first
    `snapshots` (the type's `[meta.baseline]`), then per recording the highest and lowest
    score over the threshold and the snapshot at which the monitor's hysteresis (one
    evaluation per snapshot) opens an alert. The figures that chose the margin."""
    recordings = open_manifest(manifest)
    assets = replay_assets(recordings, where, asset_columns, commission, commission_by)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plant.toml"
        path.write_text(replay_plant(assets, template, sampling_hz=common_rate(assets)))
        plant = load_plant(path)
    policy, rows = AlertPolicy(), []
    for a in assets:
        type_name = plant.assets[a.asset_id].type
        spec = plant.types[type_name].streams["vibration"]
        cfg = baseline_config(plant, type_name)
        parts = [snapshots_of(seg.recording, spec) for seg in a.segments]
        data, n = np.concatenate(parts), cfg.snapshots
        baseline = fit_baseline(
            a.asset_id, data[:n], np.arange(n, dtype=float), spec.sampling_hz, spec.channels, cfg
        )
        _, X = snapshot_features(data, spec.sampling_hz, spec.channels, cfg, baseline.encoder)
        scores = baseline.score(X) / baseline.threshold
        scores[:n] = np.asarray(baseline.scores) / baseline.threshold  # as commissioned
        level, opened = AlertState(), []
        for i in range(n, len(scores)):
            level, action = step(
                level, risk_score(anomaly_health(scores[i], 1.0), None, policy), policy
            )
            if action is not None and action.startswith("open_"):
                opened.append(i)
        first = 0
        for seg, part in zip(a.segments, parts, strict=True):
            lo, hi = max(first, n), first + len(part)
            during = [i for i in opened if lo <= i < hi]
            rows.append(
                {
                    "asset_id": a.asset_id,
                    "role": seg.role,
                    "recording": seg.recording.path.name,
                    "scored": hi - lo,
                    "max_score": float(scores[lo:hi].max()),
                    "min_score": float(scores[lo:hi].min()),
                    "alert_at_snapshot": during[0] - first if during else None,
                }
            )
            first = hi
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm bench replay`."""
    parser.add_argument("manifest", type=Path, help="recordings manifest or folder")
    parser.add_argument("--where", default="", help='recordings to replay, e.g. "rig=spectraquest"')
    parser.add_argument("--asset-columns", default="rig,label,rpm", help="columns naming assets")
    parser.add_argument("--commission", default="label=N", help="healthy recordings filter")
    parser.add_argument("--commission-by", default="rig,rpm", help="columns shared with it")
    parser.add_argument("--speed", type=float, default=1.0, help="signal s per wall s")
    parser.add_argument("--broker", default=None, help="broker URL (default: a local Mosquitto)")
    parser.add_argument(
        "--template", type=Path, default=None,
        help="plant TOML with the replay type (default phm/configs/plant_replay.toml)",
    )  # fmt: skip
    parser.add_argument("--store", type=Path, default=None, help="store folder (default: temp)")
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")
    parser.add_argument(
        "--offline", action="store_true",
        help="score every snapshot without MQTT (scores over the threshold; how the margin was "
        "chosen)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run the replay, print one row per recording and the verdict, write the JSON."""
    logging.basicConfig(level=logging.WARNING)
    scratch = None
    store = args.store
    if store is None:
        scratch = Path(tempfile.mkdtemp(prefix="phm-bench-replay-"))
        store = scratch / "store"
    columns = tuple(c for c in args.asset_columns.split(",") if c)
    by = tuple(c for c in args.commission_by.split(",") if c)
    if args.offline:
        rows = score_offline(
            args.manifest, args.where, asset_columns=columns, commission=args.commission,
            commission_by=by, template=args.template,
        )  # fmt: skip
        header = ["asset", "role", "recording", "scored", "max score / threshold",
                  "min score / threshold", "alert at snapshot"]  # fmt: skip
        table = [[r["asset_id"], r["role"], r["recording"], r["scored"], r["max_score"],
                  r["min_score"], "" if r["alert_at_snapshot"] is None else r["alert_at_snapshot"]]
                 for r in rows]  # fmt: skip
        healthy = [r for r in rows if r["role"] != "replay"]
        faults = [r for r in rows if r["role"] == "replay"]
        headline = {
            "where": args.where,
            "healthy_max_score": max(r["max_score"] for r in healthy) if healthy else None,
            "healthy_alerts": sum(r["alert_at_snapshot"] is not None for r in healthy),
            "fault_min_score": min(r["min_score"] for r in faults) if faults else None,
            "fault_alerts": sum(r["alert_at_snapshot"] is not None for r in faults),
            "faults": len(faults),
        }
        write_result(args.out, "replay_offline", headline, {"recordings": rows},
                     markdown_table(header, table))  # fmt: skip
        print(headline)
        return 0
    try:
        result = replay_through_live_path(
            args.manifest, args.where, store, asset_columns=columns,
            commission=args.commission, commission_by=by, speed=args.speed,
            broker_url=args.broker, template=args.template,
        )  # fmt: skip
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    header = ["asset", "role", "recording", "label", "predictions", "alert", "to alert (s)",
              "wall latency (s)", "pass"]  # fmt: skip
    table = [
        [
            r["asset_id"], r["role"], r["recording"], r["label"], r["predictions"],
            "yes" if r["alert"] else "no",
            "" if r["time_to_alert_s"] is None else f"{r['time_to_alert_s']:.2f}",
            "" if r["wall_latency_s"] is None else f"{r['wall_latency_s']:.2f}",
            "ok" if r["passed"] else "FAIL",
        ]
        for r in result["recordings"]
    ]  # fmt: skip
    headline = {k: v for k, v in result.items() if k != "recordings"}
    write_result(
        args.out, "replay", headline, {"recordings": result["recordings"]},
        markdown_table(header, table),
    )  # fmt: skip
    print(
        f"{result['assets']} assets, {result['snapshots_published']} snapshots published, "
        f"{result['snapshots_stored']} stored; replay {result['replay_wall_s']:.1f} s, "
        f"all scored after {result['total_wall_s']:.1f} s; "
        f"{'PASS' if result['passed'] else 'FAIL'}"
    )
    return 0 if result["passed"] else 1

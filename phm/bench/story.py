"""`phm bench story --store DIR`: does a live run tell one coherent story? Checked on a store
written by `phm demo` (DIR = its `--store` + /live) against the simulator's truth file.

    phm demo --duration 300 --store /tmp/story-demo
    phm bench story --store /tmp/story-demo/live --out /tmp/story-demo/bench

Checks (issue 18, "Done when"):

- headline: every alert's headline mode (and every recorded version of it) agrees with the
  failure mode of its top root cause, or says that they disagree (`details["disagreement"]`);
  also how often the headline is the simulator's true mode and the top cause its true cause;
- RUL: while a pump's alert is open (from the scoring that opened it to its last refresh),
  its displayed RUL never rises from one scoring to the next; when it is shown failed,
  against its true failure time;
- healthy: no asset the truth calls healthy has a finite RUL (a maintenance window) in any
  prediction, nor an alert;
- ion mill: each simulated flow-cool fault in the run's data time, with the first alert of its
  tool opened from its precursor's start to 6 h after it (the tool's maintenance stop), and
  whether that was before the fault.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

from phm.bench.results import markdown_table, write_result
from phm.store.state import Alert, Prediction, StateStore

# an ion mill alert this long after a fault still counts for it: the tool is down for up to
# 6 h of maintenance after a fault (phm.sim.ion_mill MAINTENANCE_GAP_RANGE_S)
AFTER_FAULT_S = 6 * 3600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, required=True, help="a live store (state.sqlite)")
    parser.add_argument(
        "--truth", type=Path, default=None, help="the simulator's truth (default STORE/truth.jsonl)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The truth file's JSON lines (one per asset, one per fault of an ion mill)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no truth file (phm demo writes STORE/live/truth.jsonl)")
    out = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{i}: not a JSON line ({exc})") from exc
    return out


def headline_checks(
    state: StateStore, alerts: list[Alert], truth: dict[str, dict] | None = None
) -> list[dict[str, Any]]:
    """Per alert and recorded version: headline mode, top cause and its mode, disagreement,
    whether they are coherent (agree, or the disagreement is said), and for an asset in
    `truth` whether the headline is its true mode and the top cause its true cause (after
    its repair: healthy, and no cause)."""
    truth = truth or {}
    rows = []
    for a in alerts:
        versions = [(v.at, v.details) for v in state.alert_history(a.alert_id)]
        for at, d in versions or [(a.updated_at, a.details)]:
            if d.get("rul") is None and "mode" not in d:
                continue  # a version without the headline (an older monitor's)
            mode, cause_mode = d.get("mode"), d.get("top_cause_mode")
            true = truth.get(a.asset_id, {})
            repaired = true.get("repaired_time")
            if repaired is not None and (d.get("data_time") or 0.0) >= repaired:
                true = {"mode": "healthy", "root_cause": None}  # repaired: healthy again
            said = d.get("disagreement") is not None
            rows.append(
                {
                    "alert": a.alert_id,
                    "asset": a.asset_id,
                    "at": at,
                    "mode": mode,
                    "top_cause": d.get("top_cause"),
                    "top_cause_mode": cause_mode,
                    "model_mode": d.get("model_mode"),
                    "disagreement": d.get("disagreement"),
                    "coherent": cause_mode is None or cause_mode == mode or said,
                    "true_mode": true.get("mode"),
                    "mode_right": mode == true.get("mode"),
                    "cause_right": d.get("top_cause") == true.get("root_cause"),
                }
            )
    return rows


def rul_checks(
    state: StateStore,
    alerts: list[Alert],
    preds: dict[str, list[Prediction]],
    truth: dict[str, dict],
) -> list[dict[str, Any]]:
    """Per alert: the displayed RUL at each scoring from the one that opened it to its last
    refresh (data times), the rises, and the first time the asset was shown failed against
    its true failure time (h, + = late)."""
    out = []
    for a in alerts:
        versions = state.alert_history(a.alert_id)
        first = (versions[0].details if versions else a.details).get("data_time")
        last = a.details.get("data_time")
        if not isinstance(first, int | float) or not isinstance(last, int | float):
            continue  # an alert of an older monitor: no data times
        seen = [p for p in preds.get(a.asset_id, []) if first <= p.time <= last]
        rul = [p.rul_median for p in seen if p.rul_median is not None]
        rises = sum(1 for x, y in itertools.pairwise(rul) if y > x + 1e-9)
        failed = next((p.time for p in seen if p.details.get("rul_failed")), None)
        t = truth.get(a.asset_id, {})
        late = None
        if failed is not None and t.get("failure_time") is not None:
            late = (failed - t["failure_time"]) / 3600.0
        out.append(
            {
                "alert": a.alert_id,
                "asset": a.asset_id,
                "scorings": len(seen),
                "rul_first": rul[0] if rul else None,
                "rul_last": rul[-1] if rul else None,
                "rises": rises,
                "shown_failed_h_after_true_failure": late,
                "true_mode": t.get("mode"),
            }
        )
    return out


def healthy_checks(
    alerts: list[Alert], preds: dict[str, list[Prediction]], truth: dict[str, dict]
) -> list[dict[str, Any]]:
    """Per asset the truth calls healthy: predictions, those with a finite RUL, alerts."""
    out = []
    for asset, t in truth.items():
        if t.get("mode") != "healthy":
            continue
        ps = preds.get(asset, [])
        out.append(
            {
                "asset": asset,
                "predictions": len(ps),
                "finite_rul": sum(1 for p in ps if p.rul_median is not None),
                "alerts": sum(1 for a in alerts if a.asset_id == asset),
            }
        )
    return out


def ion_mill_checks(
    state: StateStore,
    alerts: list[Alert],
    preds: dict[str, list[Prediction]],
    faults: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Per simulated ion mill fault within the tool's scored data time: the first alert
    opened (at the data time of the scoring that opened it) from the precursor's start to
    AFTER_FAULT_S after the fault, in hours relative to the fault (- = before)."""
    opened: dict[str, list[float]] = {}
    for a in alerts:
        versions = state.alert_history(a.alert_id)
        first = versions[0].details if versions else a.details
        if isinstance(first.get("data_time"), int | float):
            opened.setdefault(a.asset_id, []).append(float(first["data_time"]))
    out = []
    for f in faults:
        ps = preds.get(f["asset"], [])
        if not ps or f["onset_time"] > ps[-1].time:
            continue  # not yet in the run's data
        lo, hi = f["onset_time"], f["failure_time"] + AFTER_FAULT_S
        at = min((t for t in opened.get(f["asset"], []) if lo <= t <= hi), default=None)
        out.append(
            {
                "asset": f["asset"],
                "mode": f["mode"],
                "fault_h": (f["failure_time"] - ps[0].time) / 3600.0,
                "alerted": at is not None,
                "alert_h_from_fault": None if at is None else (at - f["failure_time"]) / 3600.0,
                "before_fault": at is not None and at < f["failure_time"],
            }
        )
    return out


def story(store: Path, truth_path: Path | None = None) -> dict[str, Any]:
    """Every check of the module doc on the store at `store`, as plain data."""
    state = StateStore(store / "state.sqlite", readonly=True)
    lines = read_truth(truth_path or store / "truth.jsonl")
    truth = {t["asset"]: t for t in lines if t.get("type") == "pump" or t.get("mode") == "healthy"}
    alerts = [a for a in state.alerts() if a.kind == "condition"]
    assets = {a for a, *_ in state.assets()} | {p.asset_id for p in state.latest_predictions()}
    preds = {a: state.predictions(a) for a in sorted(assets)}
    lines_of: dict[str, list[dict]] = {a.asset_id: [] for a in alerts}
    for t in lines:
        lines_of.setdefault(t["asset"], []).append(t)
    mill_faults = [t for t in lines if t.get("type") == "ion_mill" and t.get("mode") != "healthy"]
    return {
        "headline": headline_checks(state, alerts, truth),
        "rul": rul_checks(
            state, [a for a in alerts if a.asset_id.startswith("pump")], preds, truth
        ),
        "healthy": healthy_checks(alerts, preds, truth),
        "ion_mill": ion_mill_checks(state, alerts, preds, mill_faults),
        "alerts": [
            {
                "alert": a.alert_id,
                "asset": a.asset_id,
                "severity": a.severity,
                "status": a.status,
                "message": a.message,
                "true_mode": "/".join(sorted({t["mode"] for t in lines_of[a.asset_id]})),
                "true_cause": "/".join(
                    sorted({str(t["root_cause"]) for t in lines_of[a.asset_id]})
                ),
                "versions": len(state.alert_history(a.alert_id)),
            }
            for a in alerts
        ],
    }


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of `story`."""
    heads, ruls = result["headline"], result["rul"]
    pumps = [h for h in heads if h["asset"].startswith("pump")]
    return {
        "alerts": len(result["alerts"]),
        "headline_versions": len(heads),
        "headline_incoherent": sum(1 for h in heads if not h["coherent"]),
        "headline_disagreements_said": sum(1 for h in heads if h["disagreement"] is not None),
        "pump_versions": len(pumps),
        "pump_headline_true_mode": sum(h["mode_right"] for h in pumps),
        "pump_top_cause_true_cause": sum(h["cause_right"] for h in pumps),
        "rul_alerts": len(ruls),
        "rul_rises": sum(r["rises"] for r in ruls),
        "healthy_assets": len(result["healthy"]),
        "healthy_finite_rul": sum(h["finite_rul"] for h in result["healthy"]),
        "healthy_alerts": sum(h["alerts"] for h in result["healthy"]),
        "ion_mill_faults": len(result["ion_mill"]),
        "ion_mill_alerted": sum(1 for f in result["ion_mill"] if f["alerted"]),
        "ion_mill_before_fault": sum(1 for f in result["ion_mill"] if f["before_fault"]),
    }


def run(args: argparse.Namespace) -> int:
    result = story(args.store, args.truth)
    head = summary(result)
    rows = [[k, str(v)] for k, v in head.items()]
    rows += [
        [f"alert {a['alert']} {a['asset']}", f"{a['message']} | truth {a['true_mode']}: "
         f"{a['true_cause']} | {a['versions']} versions"]
        for a in result["alerts"]
    ]  # fmt: skip
    rows += [
        [f"rul {r['asset']}", f"{r['scorings']} scorings, {r['rul_first']} -> {r['rul_last']} h, "
         f"{r['rises']} rises, failed {r['shown_failed_h_after_true_failure']} h after truth"]
        for r in result["rul"]
    ]  # fmt: skip
    rows += [
        [f"ion mill {f['asset']}", f"{f['mode']} at {f['fault_h']:.1f} h: alert "
         f"{f['alert_h_from_fault']} h from the fault"]
        for f in result["ion_mill"]
    ]  # fmt: skip
    write_result(args.out, "story", head, result, markdown_table(["check", "value"], rows))
    return 0 if head["headline_incoherent"] == 0 and head["rul_rises"] == 0 else 1

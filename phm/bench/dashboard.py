"""`phm bench dashboard`: time to full content of every page in a real browser, and server
render time of the fleet and asset pages, on a large store.

Builds (once, under `--out`) a synthetic store of `--assets` assets (the demo plant resized)
with hourly predictions of every asset over `--days` days, alerts on a tenth of them, and a
month of lake data for one pump (1 Hz process rows, 0.2 Hz temperature rows, hourly
vibration snapshots). Then, in the same process and run:

- query time: the store queries each page makes (phm.dashboard.queries), timed alone;
- render time: the page run server-side by Streamlit's AppTest (script run + every query +
  building the Vega-Lite charts and the protobuf deltas sent to the browser), with Streamlit's
  caches cleared before each run so nothing is served from a previous one.

The asset page (its default Overview tab) is timed with its default 24 h window and with the
whole month. Target: < 2 s per page (server render).

Then, unless `--no-browser`: `phm dashboard` serves the store and headless Chromium opens every
page (fleet, each tab of the asset page, alerts, system, engineer) `--repeats` times after a
warm-up visit, timing
the moment the page's content is fully drawn (phm.bench.dashboard_browser), and saves a
screenshot of each page into `--shots` (docs/screenshots/). Bars: fleet <= 1.5 s, every asset
tab and alerts <= 2.5 s. `--beside-demo DIR` runs `phm demo --store DIR` (its models already in
DIR/models) beside the dashboard while it is timed, as on a plant's server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from phm.bench.results import write_result
from phm.errors import ConfigError

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboard" / "app"
TARGET_S = 2.0
BROWSER_BARS_S = {"fleet": 1.5, "asset": 2.5, "alerts": 2.5}  # time to full content
# the asset page's other tabs (only the open tab is computed and drawn) are held to its bar
BROWSER_BARS_S |= {f"asset: {t}": 2.5 for t in ("trends", "spectra", "compare", "alerts")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="results folder")
    parser.add_argument("--store", type=Path, default=None, help="store (default OUT/...)")
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per page")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-browser", action="store_true", help="skip the headless Chromium timings"
    )
    parser.add_argument(
        "--shots", type=Path, default=Path("docs/screenshots"), help="page screenshots folder"
    )
    parser.add_argument("--port", type=int, default=8591, help="dashboard port while timed")
    parser.add_argument(
        "--beside-demo",
        type=Path,
        default=None,
        help="run `phm demo --store DIR` beside the timed dashboard (models in DIR/models)",
    )
    parser.add_argument(
        "--demo-priority",
        choices=("idle", "low", "normal"),
        default="idle",
        help="the beside demo's `--services-priority` (its default: idle)",
    )


def build_bench_store(root: Path, assets: int, days: float, seed: int = 0) -> dict:
    """The synthetic store (see the module doc); returns what it holds."""
    from phm.bench.synthetic_store import ROOT_CAUSES_EXAMPLE, write_predictions, write_pump_lake
    from phm.plant import load_plant
    from phm.store.state import StateStore

    t0 = time.perf_counter()
    now = time.time()
    plant = load_plant(assets=assets)
    state = StateStore(root / "state.sqlite")
    state.register_assets(plant)
    ids = sorted(plant.assets)
    n_pred = write_predictions(state, ids, now - days * 86400.0, now, seed=seed)
    lake_asset = next(a for a in ids if plant.assets[a].type == "pump")
    segments = write_pump_lake(root / "lake", plant, lake_asset, now - days * 86400.0, now)
    state.commit_ingest(segments, [], [], {"broker_connected": 1})
    for k, a in enumerate(ids[:: max(1, len(ids) // max(1, assets // 10))]):
        details = {"root_causes": ROOT_CAUSES_EXAMPLE} if k % 2 == 0 else {}
        severity = "alarm" if k % 3 == 0 else "watch"
        state.open_alert(a, "condition", severity, f"{severity}: bench", details, at=now - 3600)
    info = {
        "assets": len(ids),
        "predictions": n_pred,
        "lake_asset": lake_asset,
        "lake_rows": int(sum(s.rows for s in segments)),
        "build_s": time.perf_counter() - t0,
    }
    (root / ".complete").write_text(json.dumps(info) + "\n")
    return info


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def run(args: argparse.Namespace) -> int:
    import streamlit as st
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    set_log_level("error")  # AppTest's "no runtime" notices, once per run

    from phm.dashboard import queries as q

    root = args.store or args.out / f"dashboard-store-{args.assets}x{args.days:g}d"
    if (root / ".complete").exists():
        info = json.loads((root / ".complete").read_text())
        print(f"reusing {root}")
    else:
        root.mkdir(parents=True, exist_ok=True)
        print(f"building {root}: {args.assets} assets, hourly predictions for {args.days:g} d")
        info = build_bench_store(root, args.assets, args.days, args.seed)
    print(info)
    os.environ["PHM_STORE"] = str(root.resolve())
    store = q.open_store(root)
    asset = info["lake_asset"]
    month = args.days * 86400.0

    def asset_queries(span: float | None) -> None:  # the Overview tab's
        q.asset_row(store, asset)  # the header's status row
        q.latest_data_time(store, asset)
        q.feature_trends(store, asset, span)
        q.prediction_history(store, asset, span)

    def render(page: str, window: str | None = None) -> None:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(DASHBOARDS / "views" / f"{page}.py"), default_timeout=120)
        if page == "asset":
            at.query_params["asset"] = asset
            if window:
                at.query_params["window"] = window
        at.run()
        if at.exception:
            raise RuntimeError(f"{page} page failed: {at.exception[0].message}")

    warm = {"fleet": _time(lambda: render("fleet"), 1)[0]}  # imports, first chart
    warm["asset"] = _time(lambda: render("asset"), 1)[0]
    n = args.repeats
    cases = {
        "fleet": (lambda: q.fleet(store), lambda: render("fleet")),
        "asset (24 h)": (lambda: asset_queries(86400.0), lambda: render("asset", "24 h")),
        "asset (30 d)": (lambda: asset_queries(month), lambda: render("asset", "30 d")),
    }
    rows, details = [], {"store": info, "warmup_render_s": warm, "runs": {}}
    for name, (query, page) in cases.items():
        qt, rt = _time(query, n), _time(page, n)
        details["runs"][name] = {"query_s": qt, "render_s": rt}
        rows.append((name, statistics.median(qt), statistics.median(rt), max(rt)))
    table = [
        f"Dashboard server render time: {info['assets']} assets, {info['predictions']:,} "
        f"predictions, {info['lake_rows']:,} lake rows of {asset} ({args.days:g} d); "
        f"median of {n} runs, Streamlit caches cleared before each",
        "",
        "| page | store queries (s) | server render (s) | worst render (s) | < 2 s |",
        "|---|---:|---:|---:|:---:|",
    ]
    table += [
        f"| {name} | {qs:.3f} | {rs:.3f} | {worst:.3f} | {'yes' if rs < TARGET_S else 'NO'} |"
        for name, qs, rs, worst in rows
    ]
    headline = {
        "fleet_render_s": rows[0][2],
        "fleet_query_s": rows[0][1],
        "asset_render_s": rows[1][2],
        "asset_query_s": rows[1][1],
        "asset_month_render_s": rows[2][2],
        "asset_month_query_s": rows[2][1],
        "target_s": TARGET_S,
        "meets_target": all(r[2] < TARGET_S for r in rows),
    }
    if not args.no_browser:
        browser = browser_timings(root, asset, args)
        details["browser"] = browser["runs"]
        table += ["", *browser["table"]]
        headline.update(browser["headline"])
        headline["meets_target"] = headline["meets_target"] and browser["headline"]["meets_bars"]
    write_result(args.out, "dashboard", headline, details, "\n".join(table))
    return 0 if headline["meets_target"] else 1


def browser_timings(root: Path, asset: str, args: argparse.Namespace) -> dict:
    """Serve the store with `phm dashboard` (and `phm demo` beside it with --beside-demo),
    time every page in headless Chromium and screenshot it; the table rows and headline."""
    import subprocess
    import sys
    import tempfile

    from phm.bench.dashboard_browser import time_pages
    from phm.dashboard.cli import serving, start_dashboard

    pages = {
        "fleet": "/fleet",
        "asset": f"/asset?asset={asset}&window=24%20h",
        **{
            f"asset: {tab.lower()}": f"/asset?asset={asset}&window=24%20h&view={tab}"
            for tab in ("Trends", "Spectra", "Compare", "Alerts")
        },
        "alerts": "/alerts",
        "system": "/system",
        "engineer": f"/engineer?asset={asset}",
    }
    url = f"http://127.0.0.1:{args.port}"
    logs = Path(tempfile.mkdtemp(prefix="phm-bench-dashboard-"))
    procs = [
        start_dashboard(
            root, args.port, stdout=(logs / "dashboard.out").open("w"), stderr=subprocess.STDOUT
        )
    ]
    if args.beside_demo is not None:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "phm",
                    "demo",
                    "--store",
                    str(args.beside_demo),
                    "--dashboard-port",
                    "0",
                    "--services-priority",
                    args.demo_priority,
                ],
                stdout=(logs / "demo.out").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    try:
        if not serving(url, 60.0, 0.5):
            raise ConfigError(
                f"the dashboard at {url} did not answer within 60 s; its output: {logs}/"
            )
        if args.beside_demo is not None:
            time.sleep(20.0)  # the demo's broker, simulator, ingest and monitor under way
        timings = time_pages(url, pages, args.repeats, args.shots)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
    demo = (
        f" with `phm demo --services-priority {args.demo_priority}` running beside it"
        if args.beside_demo is not None
        else ""
    )
    table = [
        f"Time to full content in headless Chromium{demo}: median and worst of {args.repeats} "
        "visits after a warm-up visit (a new browser page each: a new Streamlit session)",
        "",
        "| page | median (s) | worst (s) | bar (s) | met | console errors |",
        "|---|---:|---:|---:|:---:|---:|",
    ]
    headline: dict = {}
    met = True
    for t in timings:
        bar = BROWSER_BARS_S.get(t.name)
        ok = bar is None or t.median <= bar
        met = met and ok
        table.append(
            f"| {t.name} | {t.median:.2f} | {t.worst:.2f} | {bar if bar else '-'} | "
            f"{'-' if bar is None else 'yes' if ok else 'NO'} | {len(t.console_errors)} |"
        )
        headline[f"browser_{t.name}_s"] = t.median
    headline["browser_console_errors"] = sum(len(t.console_errors) for t in timings)
    headline["meets_bars"] = met
    runs = {
        t.name: {"seconds": t.seconds, "console_errors": t.console_errors[:20]} for t in timings
    }
    return {"table": table, "headline": headline, "runs": runs}

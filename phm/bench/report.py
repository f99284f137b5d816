"""`phm bench report`: a many-asset batch RUL report, locally and on Ray at 1 and 2 workers.

    phm bench report --assets 1000 --out data/bench

Assets: `--assets` C-MAPSS-shaped windows (window x channels of z-scored sensors with a
degradation drift, one operating condition) scored by `--model` (a `phm train --dataset
cmapss` checkpoint) or, without one, an untrained tiny model of the same shape (the cost of
scoring does not depend on the weights). The fleet history is `--assets` simulated Weibull
lives with right-censoring. Each engine builds the whole report (score, fleet analysis,
render to `--format`); Ray's start-up is timed apart from the report. The Ray numbers are
checked to equal the local ones. Ray start-up (the instance, and `workers` worker processes
with torch imported) is timed apart from the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import time
from pathlib import Path

import numpy as np

from phm.bench.results import markdown_table, write_result
from phm.resources import resource_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assets", type=int, default=1000, help="assets in the report")
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="results folder")
    parser.add_argument("--model", type=Path, help="C-MAPSS checkpoint (default: untrained tiny)")
    parser.add_argument("--format", default="html,pdf,csv", help="report formats to render")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to run")
    parser.add_argument("--no-ray", action="store_true", help="local engine only")
    parser.add_argument("--seed", type=int, default=0)


def synthetic_checkpoint(window: int = 30, channels: int = 15) -> bytes:
    """An untrained tiny C-MAPSS-shaped checkpoint (bytes)."""
    import torch

    from phm.models.checkpoint import CheckpointHeader
    from phm.models.model import PhmModel, load_config, save_checkpoint

    torch.manual_seed(0)
    cfg = dataclasses.replace(
        load_config(resource_path("models/tiny.toml")),
        process_channels=channels,
        context_cardinalities=(1,),
        max_positions=window,
        rul_horizon=125.0,
    )
    header = CheckpointHeader(dataset="cmapss", asset_type="turbofan", window=window)
    buf = io.BytesIO()
    path = Path(f"/tmp/phm-bench-report-{window}x{channels}.pt")
    save_checkpoint(path, PhmModel(cfg), header)
    buf.write(path.read_bytes())
    path.unlink()
    return buf.getvalue()


def synthetic_source(n: int, window: int, channels: int, seed: int):
    """n C-MAPSS-shaped assets and a censored Weibull history of n lives."""
    from phm.reports.fleet import FailureHistory
    from phm.reports.sources import AssetWindow, ReportSource

    rng = np.random.default_rng(seed)
    assets = []
    for i in range(n):
        wear = rng.uniform(0.0, 1.0)
        x = rng.normal(0.0, 1.0, (1, window, channels)).astype(np.float32)
        x += (wear * np.linspace(-2, 2, channels)).astype(np.float32)
        inputs = {
            "process": x,
            "process_mask": np.ones((1, window), bool),
            "context": np.zeros((1, 1), np.int64),
        }
        assets.append(AssetWindow(f"unit-{i:05d}", inputs, age=float(rng.integers(30, 300))))
    life = 220.0 * rng.weibull(3.0, n)
    removal = rng.uniform(50.0, 400.0, n)
    history = FailureHistory(
        [a.asset_id for a in assets],
        np.minimum(life, removal),
        life <= removal,
        "cycles",
        f"{n} simulated Weibull(3, 220) lives, censored by uniform(50, 400) removals",
    )
    return ReportSource(f"{n} synthetic C-MAPSS-shaped assets", "cmapss", "cycles", assets, history)


def _warm_worker() -> int:
    """Start a Ray worker and import the scoring code there (start-up, not report time)."""
    import os

    import phm.reports.rul  # noqa: F401

    time.sleep(0.5)  # hold the CPU so the next warm-up task starts another worker
    return os.getpid()


def one_run(source, checkpoint: bytes, out: Path, formats: list[str], engine: str):
    """Build and render the report; (report, seconds by step)."""
    from phm.reports.render import write_report
    from phm.reports.report import build_report

    t0 = time.perf_counter()
    report = build_report(source, checkpoint, "bench", engine=engine, progress=False)
    t1 = time.perf_counter()
    write_report(report, out, formats)
    t2 = time.perf_counter()
    return report, {
        "score_s": report.timings["score_s"],
        "fleet_s": report.timings["fleet_s"],
        "render_s": t2 - t1,
        "report_s": t2 - t0,
    }


def run(args: argparse.Namespace) -> int:
    from phm.reports.engines import import_ray
    from phm.reports.render import parse_formats

    formats = parse_formats(args.format)
    if args.model is not None:
        checkpoint = args.model.read_bytes()
        from phm.reports.report import checkpoint_model

        predictor = checkpoint_model(checkpoint)
        model = predictor.model
        window = predictor.header.window or int(model.config.max_positions)
        channels = int(model.config.process_channels)
    else:
        window, channels = 30, 15
        checkpoint = synthetic_checkpoint(window, channels)
    source = synthetic_source(args.assets, window, channels, args.seed)
    out = Path(args.out) / "report-bench"
    runs: dict[str, dict[str, float]] = {}
    report, runs["local"] = one_run(source, checkpoint, out / "local", formats, "local")
    reference = [(r.asset_id, r.median, r.q05, r.q95, r.survival.tobytes()) for r in report.assets]
    identical: dict[str, bool] = {}
    if not args.no_ray:
        ray = import_ray()
        for n in [int(w) for w in args.workers.split(",") if w.strip()]:
            t0 = time.perf_counter()
            ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False)
            warm = ray.remote(num_cpus=1)(_warm_worker)
            ray.get([warm.remote() for _ in range(n)])  # n workers up, torch imported
            started = time.perf_counter() - t0
            try:
                name = f"ray-{n}"
                rep, runs[name] = one_run(source, checkpoint, out / name, formats, "ray")
            finally:
                ray.shutdown()
            runs[name]["ray_start_s"] = started
            got = [(r.asset_id, r.median, r.q05, r.q95, r.survival.tobytes()) for r in rep.assets]
            identical[name] = got == reference
    header = ["engine", "report s", "score s", "fleet s", "render s", "ray start s", "assets/s",
              "same as local"]  # fmt: skip
    rows = [
        [
            name,
            t["report_s"],
            t["score_s"],
            t["fleet_s"],
            t["render_s"],
            t.get("ray_start_s"),
            args.assets / t["score_s"],
            "-" if name == "local" else str(identical[name]).lower(),
        ]
        for name, t in runs.items()
    ]
    table = (
        f"RUL report of {args.assets} assets ({', '.join(formats)}), "
        f"{'untrained tiny C-MAPSS-shaped model' if args.model is None else args.model.name}\n\n"
        + markdown_table(header, rows)
    )
    write_result(
        args.out,
        "report",
        {
            "assets": args.assets,
            "local_report_s": runs["local"]["report_s"],
            **{
                f"{k.replace('-', '_')}_report_s": v["report_s"]
                for k, v in runs.items()
                if k != "local"
            },
            "ray_identical": all(identical.values()) if identical else None,
        },
        {
            "runs": runs,
            "formats": formats,
            "identical": identical,
            "window": window,
            "channels": channels,
            "chunk_size": 50,
        },
        table,
    )
    if identical and not all(identical.values()):
        print("error: the Ray numbers differ from the local ones")
        return 1
    return 0

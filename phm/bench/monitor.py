"""`phm bench monitor --model CKPT --assets 500`: the monitor's pump scoring, assets scored per
second with dynamic batching (phm.monitor.batching) against one forward pass per asset, in
the same process, on the same assets.

Setup: a plant of `--assets` pumps (the shipped plant's pump type, no other assets) and a lake
under a temporary store with each pump's latest `snapshots` vibration snapshots and its
temperature and process rows, written through the real `LakeWriter` (the data of
`--distinct` simulated pumps at different fault stages, repeated over the fleet).

Two stages are timed, each one-at-a-time (`PumpScorer.score` per asset) and batched
(`score_due`, `--max-batch`, `--max-wait-ms`), best of `--repeats`:
- `scoring`: each asset's latest raw data already read; per asset the window is built from
  it (`pump_inputs`: cut, z-score, pad), the model runs, and its `Prediction` is made
  (decoding, ISO 20816 severity of the newest snapshot): all the per-asset data prep;
- `from_lake`: the same plus the reads from the lake (`read_latest_pump_data`: the parquet
  scans of the snapshots and rows), what `Monitor.evaluate` does before the alerts.
Predictions of both ways are compared (largest difference of a probability and of the RUL).
`--runtime onnx` scores with the checkpoint exported to an ONNX fp32 graph (onnxruntime).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phm.bench.results import markdown_table, write_result
from phm.errors import ConfigError
from phm.models.onnx_graph import OnnxPredictor
from phm.models.predictor import Predictor
from phm.monitor.batching import BatchPolicy, score_due
from phm.monitor.pump_scorer import PumpScorer, PumpWindow
from phm.monitor.scorers import ScoringModel
from phm.plant import Plant, load_plant, pump_spec
from phm.records import Batch
from phm.resources import resource_path
from phm.store.lake import Lake, LakeWriter
from phm.store.state import Prediction

T0 = 1_767_225_600.0  # 2026-01-01 UTC: the bench lake's first snapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm bench monitor`."""
    parser.add_argument("--model", type=Path, required=True, help="pump checkpoint (.pt)")
    parser.add_argument("--assets", type=int, default=500, help="pumps in the fleet")
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--max-batch", type=int, default=64, help="windows per forward pass")
    parser.add_argument("--max-wait-ms", type=float, default=50.0, help="latency bound (ms)")
    parser.add_argument("--distinct", type=int, default=8, help="simulated pumps repeated")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes (best kept)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch and ORT)")
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")


def pump_plant(n: int, folder: Path) -> Plant:
    """The shipped plant with a fleet of n pumps and nothing else (a TOML written to folder)."""
    text = resource_path("plant.toml").read_text()
    text = re.sub(r"(?m)^ion_mill = \d+.*\n", "", text)
    text, found = re.subn(r"(?m)^pump = \d+", f"pump = {n}", text)
    if found != 1:
        raise ConfigError("the shipped plant.toml has no `[fleet] pump = N` line to resize")
    path = folder / "plant.toml"
    path.write_text(text)
    return load_plant(path)


def write_fleet(root: Path, plant: Plant, snapshots: int, distinct: int) -> None:
    """Each pump's latest `snapshots` snapshots (one every 10 min) and 1 h of rows before."""
    from phm.sim.rotating import FAULT_MODES, FaultScenario, PumpSimulator

    pump = pump_spec(plant)
    life = 4 * 86_400.0
    sims = [
        PumpSimulator(
            f"bench-{i}",
            pump,
            i,
            FaultScenario(FAULT_MODES[i % len(FAULT_MODES)], "bench", 0.0, life),
        )
        for i in range(distinct)
    ]
    times = T0 + 600.0 * np.arange(snapshots)
    per_sim = []
    for i, sim in enumerate(sims):
        at = life * (0.2 + 0.7 * i / max(1, distinct - 1))  # fault stage of this template
        life_t = at - T0 + times
        rows_t = np.arange(times[0] - 3600.0, times[-1] + 1.0, 5.0)
        per_sim.append(
            {
                "snap": [sim.snapshot(float(t)) for t in life_t],
                "fs": sim.fs,
                "rows_t": rows_t,
                "process": sim.process_rows(at - T0 + rows_t),
                "temperature": sim.temperature_rows(at - T0 + rows_t),
            }
        )
    writer = LakeWriter(root, plant)
    for n, asset in enumerate(sorted(plant.assets)):
        d = per_sim[n % distinct]
        batches = []
        for seq, stream in enumerate(("process", "temperature")):
            spec = plant.stream(asset, stream)
            batches.append(
                Batch(asset, stream, seq, float(d["rows_t"][0]), 5.0, spec.channels, d[stream])
            )
        spec = plant.stream(asset, "vibration")
        for j, t in enumerate(times):
            batches.append(
                Batch(
                    asset, "vibration", 10 + j, float(t), 0.0, spec.channels,
                    d["snap"][j][None], fs=d["fs"],
                )
            )  # fmt: skip
        writer.write(batches)


class MemoryPumpScorer(PumpScorer):
    """A `PumpScorer` whose lake reads are done once up front (`cache`): what is left per
    asset is the data prep from raw data, the model and the prediction."""

    cache: dict[str, tuple[np.ndarray, float, np.ndarray, np.ndarray]]

    def prepare(self, asset_id: str, after: float) -> PumpWindow | None:
        assert self.model is not None
        times, fs, data, rows = self.cache[asset_id]
        inputs = self.model.pump_inputs(data, rows)
        return PumpWindow(asset_id, float(times[-1]), fs, data[-1], inputs, self.model.name)


def _timed(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _differences(a: dict[str, Prediction], b: dict[str, Any]) -> dict[str, float]:
    dp = dr = 0.0
    for k, p in a.items():
        q = b[k]
        dp = max(dp, max(abs(p.fault_probs[c] - q.fault_probs[c]) for c in p.fault_probs))
        for x, y in ((p.rul_median, q.rul_median), (p.rul_lower, q.rul_lower)):
            if x is not None and y is not None:
                dr = max(dr, abs(x - y))
    return {"max_prob_diff": dp, "max_rul_diff_h": dr}


def bench_monitor(
    ckpt: Path,
    assets: int,
    runtime: str,
    policy: BatchPolicy,
    distinct: int,
    repeats: int,
    threads: int,
) -> dict[str, Any]:
    """Assets/s one-at-a-time and batched, for both stages (see the module doc)."""
    torch.set_num_threads(threads)
    model: Predictor = (
        OnnxPredictor.from_checkpoint(ckpt, threads)
        if runtime == "onnx"
        else ScoringModel.load(ckpt, None)
    )
    k = model.header.snapshots
    if k is None or model.header.dataset not in ("plant", "lake"):
        raise ConfigError(f"{ckpt}: not a pump checkpoint")
    with tempfile.TemporaryDirectory() as tmp:
        plant = pump_plant(assets, Path(tmp))
        t0 = time.perf_counter()
        write_fleet(Path(tmp) / "lake", plant, k, distinct)
        setup_s = time.perf_counter() - t0
        lake = Lake(Path(tmp) / "lake", plant)
        ids = sorted(plant.assets)
        scorer = PumpScorer("pump", plant, lake, model)  # type: ignore[arg-type]
        memory = MemoryPumpScorer("pump", plant, lake, model)  # type: ignore[arg-type]
        from phm.models.windows import read_latest_pump_data

        memory.cache = {}
        for a in ids:
            times, fs, data, rows = read_latest_pump_data(
                lake, plant, a, k, lake.latest_time("vibration", a) or 0.0
            )
            assert rows is not None
            memory.cache[a] = (times, fs, data, rows)
        result: dict[str, Any] = {"setup_s": setup_s}
        for stage, s in (("scoring", memory), ("from_lake", scorer)):
            s.score(ids[0], -np.inf)  # warm-up
            one_s, one = _timed(lambda s=s: {a: s.score(a, -np.inf) for a in ids}, repeats)
            batch_s, batched = _timed(lambda s=s: score_due(s, ids, {}, policy), repeats)
            failed = [a for a, p in batched.items() if not isinstance(p, Prediction)]
            if failed:
                raise RuntimeError(f"batched scoring failed for {failed[:3]}: {batched[failed[0]]}")
            result[stage] = {
                "one_at_a_time_assets_per_s": assets / one_s,
                "batched_assets_per_s": assets / batch_s,
                "speedup": one_s / batch_s,
                "one_at_a_time_s": one_s,
                "batched_s": batch_s,
                **_differences(one, batched),
            }
    return {
        "model": str(ckpt),
        "runtime": runtime,
        "assets": assets,
        "max_batch": policy.max_batch,
        "max_wait_ms": 1000 * policy.max_wait_s,
        "threads": threads,
        **result,
    }


def run(args: argparse.Namespace) -> int:
    """Run the bench, print the table, write JSON and markdown under --out."""
    if args.assets < 1 or args.distinct < 1 or args.repeats < 1:
        raise ConfigError("--assets, --distinct and --repeats must be at least 1")
    policy = BatchPolicy(args.max_batch, args.max_wait_ms / 1000)
    r = bench_monitor(
        args.model, args.assets, args.runtime, policy, args.distinct, args.repeats, args.threads
    )
    rows = [
        [
            stage,
            r[stage]["one_at_a_time_assets_per_s"],
            r[stage]["batched_assets_per_s"],
            r[stage]["speedup"],
            r[stage]["max_prob_diff"],
            r[stage]["max_rul_diff_h"],
        ]
        for stage in ("scoring", "from_lake")
    ]
    table = markdown_table(
        [
            "stage",
            "one-at-a-time assets/s",
            "batched assets/s",
            "speed-up",
            "max prob diff",
            "max RUL diff (h)",
        ],
        rows,
    )
    table += (
        f"\n\n{r['assets']} pumps, runtime {r['runtime']}, max batch {r['max_batch']}, "
        f"max wait {r['max_wait_ms']:g} ms, {r['threads']} thread(s)"
    )
    name = f"monitor-{args.runtime}-{args.assets}"
    write_result(args.out, name, {"speedup": r["scoring"]["speedup"]}, r, table)
    return 0

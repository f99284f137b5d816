"""A simulated plant's lake and failure log for `phm train --dataset lake` (issue 18, part C).

Runs the live path end to end in one process: Mosquitto on a free port, the ingest worker into
STORE, and `phm simulate plant`'s simulator (`run_plant_simulation`) over MQTT at `--speed`,
for the plant's whole simulated span (every pump's life, 1 to 4 days). Then turns the
simulator's truth file into the fault-history CSV a plant keeps (`STORE/failures.csv`: asset,
failed_at, cause, mode), one row per failure the lake has seen (failure time <= the last
snapshot of the run).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/i18/lake_plant.py --store /tmp/lake \
        [--plant scripts/i18/pumps.toml] [--assets 30] [--speed 4000] [--seed 0] \
        [--snapshot-every 1800]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from phm.ingest.broker import MosquittoProcess, free_port
from phm.ingest.worker import IngestWorker
from phm.plant import load_plant
from phm.sim.plant import default_horizon_s, run_plant_simulation

HERE = Path(__file__).parent


def failure_log(truth: Path, end_time: float, out: Path) -> int:
    """The truth file's failures up to `end_time` (Unix s) as a fault-history CSV; returns
    how many rows were written."""
    rows = []
    for line in truth.read_text().splitlines():
        t = json.loads(line)
        if t.get("failure_time") is None or t["failure_time"] > end_time:
            continue
        at = datetime.fromtimestamp(t["failure_time"], UTC).isoformat(timespec="seconds")
        rows.append({"asset": t["asset"], "failed_at": at, "cause": t["root_cause"],
                     "mode": t["mode"]})  # fmt: skip
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["asset", "failed_at", "cause", "mode"])
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: (r["failed_at"], r["asset"])))
    return len(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--plant", type=Path, default=HERE / "pumps.toml")
    p.add_argument("--assets", type=int, default=None, help="resize the plant's fleet")
    p.add_argument("--speed", type=float, default=4000.0, help="simulated s per wall s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-every", type=float, default=1800.0, help="simulated s")
    args = p.parse_args()
    plant = load_plant(args.plant, args.assets)
    args.store.mkdir(parents=True, exist_ok=True)
    horizon = default_horizon_s(plant, args.seed)
    broker = MosquittoProcess(free_port(), args.store / "mosquitto").start()
    worker = IngestWorker(broker.url, args.store, plant, client_id="lake-plant-ingest")
    worker.start()
    t0 = time.monotonic()
    try:
        stats = run_plant_simulation(
            plant,
            broker.url,
            args.speed,
            duration_s=horizon / args.speed,
            seed=args.seed,
            truth_path=args.store / "truth.jsonl",
            snapshot_every_s=args.snapshot_every,
        )
        time.sleep(5.0)  # the last batches commit
    finally:
        worker.stop()
        broker.stop()
    print(f"published {stats.published:,} payloads, {stats.life_s / 86400:.2f} simulated days "
          f"in {time.monotonic() - t0:.0f} s; undelivered {stats.undelivered}")  # fmt: skip
    from phm.store.lake import Lake

    lake = Lake(args.store / "lake", plant)
    end = max(lake.latest_time("vibration", a) or 0.0 for a in plant.assets)
    n = failure_log(args.store / "truth.jsonl", end, args.store / "failures.csv")
    print(f"wrote {args.store / 'failures.csv'}: {n} failures of {len(plant.assets)} pumps")


if __name__ == "__main__":
    main()

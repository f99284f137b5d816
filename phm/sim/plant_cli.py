"""`phm simulate plant`: the command (flags, progress, summary) over `run_plant_simulation`."""

from __future__ import annotations

import argparse
from pathlib import Path

from phm.plant import load_plant
from phm.sim.plant import REPAIR_AFTER_S, SimStats, run_plant_simulation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm simulate plant`."""
    parser.add_argument(
        "--broker",
        default="mqtt://127.0.0.1:1883",
        help="mqtt://host:port or mqtts://host:port?ca=FILE (password: PHM_MQTT_PASSWORD[_FILE])",
    )
    parser.add_argument("--assets", type=int, help="resize the plant's fleet to N assets")
    parser.add_argument("--speed", type=float, default=1000.0, help="simulated s per wall s")
    parser.add_argument(
        "--plant", type=Path, help="plant registry (default phm/configs/plant.toml)"
    )
    parser.add_argument("--duration", type=float, help="wall seconds to run (default: until ^C)")
    parser.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    parser.add_argument("--truth", type=Path, help="write the ground truth here (JSON lines)")
    parser.add_argument("--rows-per-payload", type=int, help="rows per payload (default by speed)")
    parser.add_argument(
        "--repair-after-h",
        type=float,
        default=REPAIR_AFTER_S / 3600.0,
        help="simulated hours from a pump's failure to its repair (negative: never repaired)",
    )
    parser.add_argument(
        "--sparkplug",
        action="store_true",
        help="publish the rows streams as Sparkplug B edge nodes (the plant's [sparkplug] "
        "mapping; vibration and events stay native)",
    )
    parser.add_argument(
        "--snapshot-every",
        type=float,
        default=600.0,
        help="simulated s between vibration snapshots",
    )


def run(args: argparse.Namespace) -> int:
    """Publish until the duration ends or Ctrl-C; print what was published."""
    plant = load_plant(args.plant, assets=args.assets)

    def progress(s: SimStats) -> None:
        print(
            f"\r{s.wall_s:7.1f} s wall, life {s.life_s / 3600:8.1f} h: {s.published} messages, "
            f"{sum(s.readings.values()):,} readings, {s.acked} delivered",
            end="",
            flush=True,
        )

    stats = run_plant_simulation(
        plant, args.broker, args.speed, args.duration, args.seed, args.truth,
        on_progress=progress, rows_per_payload=args.rows_per_payload,
        snapshot_every_s=args.snapshot_every,
        repair_after_s=None if args.repair_after_h < 0 else args.repair_after_h * 3600.0,
        sparkplug=args.sparkplug,
    )  # fmt: skip
    wall = max(stats.wall_s, 1e-9)
    print()
    for stream in sorted(stats.messages):
        print(f"{stream}: {stats.messages[stream]} messages, {stats.readings[stream]:,} readings")
    if args.sparkplug:
        print(
            f"sparkplug: {stats.sparkplug_messages} DDATA, {stats.sparkplug_readings:,} readings, "
            f"{stats.sparkplug_acked} delivered, {stats.sparkplug_rebirths} rebirths answered"
        )
    readings = sum(stats.readings.values()) + stats.sparkplug_readings
    print(
        f"{stats.published} messages ({stats.published / wall:,.0f}/s), "
        f"{readings / wall:,.0f} readings/s, {stats.bytes / wall / 1e6:.1f} MB/s, "
        f"{stats.acked} delivered, {stats.undelivered} undelivered "
        f"({stats.no_subscribers} 'no matching subscribers' answers), "
        f"{stats.life_s / 3600:.1f} simulated hours in {wall:.1f} s"
    )
    if stats.undelivered:
        print(f"phm simulate plant: {stats.undelivered} messages reached no subscriber")
    return 0 if stats.undelivered == 0 and stats.acked == stats.published else 1

"""`phm replay`: the command (flags, progress, summary) over `phm.sim.replay`."""

from __future__ import annotations

import argparse
from pathlib import Path

from phm.datasets.recordings import open_manifest
from phm.plant import load_plant
from phm.sim.replay import ReplayStats, common_rate, replay_assets, replay_plant, run_replay


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm replay`."""
    parser.add_argument("manifest", type=Path, help="recordings manifest (CSV/Parquet) or folder")
    parser.add_argument("--where", default="", help='rows to replay, e.g. "rig=spectraquest"')
    parser.add_argument(
        "--asset-columns",
        default="",
        help="manifest columns whose values name each asset (default: rig and file name)",
    )
    parser.add_argument(
        "--commission",
        default="",
        help='healthy recordings played first on each other asset, e.g. "label=N"',
    )
    parser.add_argument(
        "--commission-by",
        default="",
        help="columns a recording shares with its commissioning recording, e.g. rig,rpm",
    )
    parser.add_argument(
        "--write-plant",
        type=Path,
        help="write the plant TOML listing the replayed assets here and exit",
    )
    parser.add_argument(
        "--template",
        type=Path,
        help="plant TOML with the replay asset type (default phm/configs/plant_replay.toml)",
    )
    parser.add_argument(
        "--sampling-hz",
        type=float,
        help="snapshot rate of the written plant (default: the recordings' rate if they share "
        "one, else the template's; other rates are resampled)",
    )
    parser.add_argument("--plant", type=Path, help="the plant written by --write-plant")
    parser.add_argument(
        "--broker",
        default="mqtt://127.0.0.1:1883",
        help="mqtt://host:port or mqtts://host:port?ca=FILE (password: PHM_MQTT_PASSWORD[_FILE])",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="signal s per wall s (1: real time)"
    )
    parser.add_argument("--loop", action="store_true", help="start over at the end of each asset")
    parser.add_argument("--duration", type=float, help="wall seconds to run when looping")
    parser.add_argument(
        "--truth", type=Path, help="write what plays when on which asset (JSON lines)"
    )


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def run(args: argparse.Namespace) -> int:
    """Write the replay plant, or publish the recordings until done; print what was sent."""
    recordings = open_manifest(args.manifest)
    assets = replay_assets(
        recordings,
        args.where,
        _columns(args.asset_columns),
        args.commission,
        _columns(args.commission_by),
    )
    if args.write_plant is not None:
        args.write_plant.parent.mkdir(parents=True, exist_ok=True)
        rate = common_rate(assets) if args.sampling_hz is None else args.sampling_hz
        args.write_plant.write_text(replay_plant(assets, args.template, sampling_hz=rate))
        for a in assets:
            names = " then ".join(s.recording.path.name for s in a.segments)
            print(f"{a.asset_id}: {names}")
        print(f"{len(assets)} assets written to {args.write_plant}")
        return 0
    if args.plant is None:
        print("phm replay: give --plant FILE (written by --write-plant) or --write-plant FILE")
        return 2
    plant = load_plant(args.plant)

    def progress(s: ReplayStats) -> None:
        print(
            f"\r{s.wall_s:7.1f} s wall, {s.span_s:8.2f} s of signal: {s.snapshots} snapshots "
            f"in {s.messages} messages, {s.acked} delivered",
            end="",
            flush=True,
        )

    stats = run_replay(
        plant, assets, args.broker, args.speed, args.loop, args.duration, args.truth,
        on_progress=progress,
    )  # fmt: skip
    print()
    print(
        f"{stats.snapshots} snapshots of {len(assets)} assets in {stats.messages} messages "
        f"({stats.bytes / 1e6:.1f} MB), {stats.span_s:.2f} s of signal in {stats.wall_s:.1f} s, "
        f"{stats.acked} delivered, {stats.undelivered} undelivered"
    )
    return 0 if stats.undelivered == 0 else 1

"""`phm store compact --store DIR`: one lake compaction pass (see phm.store.compaction).

Safe while ingest, the monitor and the dashboard run: only committed segments are merged,
each merge is one state-store transaction, and readers dedupe (seq, row). It never deletes
orphan files (a running worker's uncommitted segments look the same); the ingest worker
does that when it starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phm.cli import add_log_level, configure_logging
from phm.errors import ConfigError
from phm.store.compaction import MAX_FILES, TARGET_BYTES, compact_lake


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store folder: DIR/lake, DIR/state.sqlite")
    parser.add_argument(
        "--max-files",
        type=int,
        default=MAX_FILES,
        help=f"merge partitions holding more segment files than this (default {MAX_FILES})",
    )
    parser.add_argument(
        "--target-mb",
        type=float,
        default=TARGET_BYTES / 2**20,
        help="files this large are final; merges stop growing a file here (default 32)",
    )
    add_log_level(parser)


def run(args: argparse.Namespace) -> int:
    from phm.store.state import StateStore, state_exists, state_location

    configure_logging(args.log_level)
    store = Path(args.store)
    where = state_location(store)
    if not state_exists(where):
        raise ConfigError(f"--store {store}: no state.sqlite there (expected an ingest store)")
    if args.max_files < 1:
        raise ConfigError(f"--max-files must be at least 1, got {args.max_files}")
    if args.target_mb <= 0:
        raise ConfigError(f"--target-mb must be positive, got {args.target_mb}")
    state = StateStore(where)
    try:
        stats = compact_lake(state, store / "lake", args.max_files, int(args.target_mb * 2**20))
    finally:
        state.close()
    print(
        f"phm store compact: {stats.merges} merges of {stats.files_in} files "
        f"({stats.bytes_in / 1e6:.1f} MB) in {stats.partitions} partitions, "
        f"{stats.conflicts} skipped, {stats.seconds:.2f} s"
    )
    return 0

"""Lake compaction: keep the number of segment files per partition bounded.

Ingest writes one small segment per (stream, asset, date) and batch, so a partition collects
thousands of files a day. `compact_lake` merges, in every partition holding more than
`max_files` committed segments, its small ones (size-tiered, so the cost stays bounded):

- files of `target_bytes` or more are final and never rewritten;
- the others are taken smallest first, and a file joins a merge only when it is no larger than
  everything taken before it together, so a merged file is rewritten only with at least as many
  new bytes: each row is rewritten at most about log2(target_bytes / smallest segment) times;
- a partition is merged until it holds at most `max_files` files or no merge is allowed, so it
  keeps at most max(`max_files`, 1 + log2(target / smallest)) files below `target_bytes`.

Only segments listed in the state store are merged (ingest may have written a segment it has not
committed yet; it stays as is), and each merge is `lake.compact`: the merged file written
durably, then `StateStore.replace_segments` in one transaction, then the old files removed.
A kill at any point leaves either the old files listed (the merged file, or its `.tmp`, is an
orphan) or the merged file listed (the old files left are orphans); the ingest worker deletes
orphans when it starts, and readers dedupe (seq, row) meanwhile.

`Compactor` runs passes in a background thread (the ingest worker starts one);
`phm store compact --store DIR` runs one pass.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from phm.store.lake import compact
from phm.store.state import SegmentsChanged, StateStore

log = logging.getLogger(__name__)

MAX_FILES = 16
TARGET_BYTES = 32 * 1024 * 1024
COMPACT_EVERY_S = 10.0  # between passes a partition gains one file per commit that touches it


@dataclass
class CompactionStats:
    """What one or more passes did."""

    partitions: int = 0  # partitions over the bound that were looked at
    merges: int = 0
    files_in: int = 0  # segment files merged away
    bytes_in: int = 0
    conflicts: int = 0  # merges dropped: their inputs were replaced meanwhile
    seconds: float = 0.0

    def add(self, other: CompactionStats) -> None:
        for name in ("partitions", "merges", "files_in", "bytes_in", "conflicts", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def plan_merge(
    sizes: dict[Path, int], max_files: int = MAX_FILES, target_bytes: int = TARGET_BYTES
) -> list[Path]:
    """The files of one partition (path -> bytes) to merge next; [] when none should be."""
    if len(sizes) <= max_files:
        return []
    small = sorted((n, str(p), p) for p, n in sizes.items() if n < target_bytes)
    taken: list[Path] = []
    total = 0
    for n, _name, p in small:
        # the two smallest always merge (the bound asks for it); a larger file joins only
        # when the bytes taken so far are at least its size, and up to target_bytes
        if len(taken) >= 2 and (n > total or total + n > target_bytes):
            break
        taken.append(p)
        total += n
    return taken if len(taken) >= 2 else []


def _partitions(state: StateStore, lake_root: Path, max_files: int) -> dict[Path, list[Path]]:
    """Committed segments per partition folder, for partitions over `max_files`."""
    groups: dict[str, list[str]] = {}
    for key in state.segment_paths():
        folder, _, _name = key.rpartition("/")
        groups.setdefault(folder, []).append(key)
    return {
        lake_root / folder: [lake_root / k for k in keys]
        for folder, keys in sorted(groups.items())
        if len(keys) > max_files
    }


def compact_partition(
    state: StateStore,
    lake_root: Path,
    folder: Path,
    files: list[Path],
    max_files: int = MAX_FILES,
    target_bytes: int = TARGET_BYTES,
    stop: threading.Event | None = None,
) -> CompactionStats:
    """Merge committed `files` of one partition `folder` of the lake at `lake_root` until the
    bound holds or no merge is allowed (see the module doc)."""
    stats = CompactionStats(partitions=1)
    stream, asset, date = folder.parts[-3], folder.parts[-2][6:], folder.parts[-1][5:]
    sizes: dict[Path, int] = {}
    for f in files:
        try:
            sizes[f] = f.stat().st_size
        except FileNotFoundError:  # replaced by another compaction since we listed it
            continue
    while not (stop is not None and stop.is_set()):
        chosen = plan_merge(sizes, max_files, target_bytes)
        if not chosen:
            break

        def commit(new, old, chosen=chosen) -> None:
            try:
                state.replace_segments(new, old)
            except SegmentsChanged:
                new.path.unlink(missing_ok=True)  # nothing was committed: drop our copy
                raise

        try:
            new = compact(lake_root, stream, asset, date, commit, chosen)
        except SegmentsChanged as exc:
            log.warning("compaction: %s; skipping the partition this pass", exc)
            stats.conflicts += 1
            break
        except FileNotFoundError as exc:
            log.warning("compaction: %s vanished; skipping the partition this pass", exc)
            stats.conflicts += 1
            break
        assert new is not None
        stats.merges += 1
        stats.files_in += len(chosen)
        stats.bytes_in += sum(sizes[f] for f in chosen)
        for f in chosen:
            del sizes[f]
        sizes[new] = new.stat().st_size
    return stats


def compact_lake(
    state: StateStore,
    lake_root: str | Path,
    max_files: int = MAX_FILES,
    target_bytes: int = TARGET_BYTES,
    stop: threading.Event | None = None,
) -> CompactionStats:
    """One pass over every partition of the lake holding more than `max_files` segments."""
    if max_files < 1:
        raise ValueError(f"max_files must be at least 1, got {max_files}")
    if target_bytes < 1:
        raise ValueError(f"target_bytes must be positive, got {target_bytes}")
    started = time.monotonic()
    stats = CompactionStats()
    for folder, files in _partitions(state, Path(lake_root), max_files).items():
        if stop is not None and stop.is_set():
            break
        stats.add(
            compact_partition(state, Path(lake_root), folder, files, max_files, target_bytes, stop)
        )
    stats.seconds = time.monotonic() - started
    return stats


def max_files_bound(max_files: int, smallest: int, target_bytes: int = TARGET_BYTES) -> int:
    """The most files below `target_bytes` a compacted partition keeps (see the module doc)."""
    return max(max_files, 2 + int(math.log2(max(target_bytes / max(smallest, 1), 1))))


class Compactor:
    """Runs `compact_lake` every `every_s` seconds in a daemon thread until `stop()`."""

    def __init__(
        self,
        state_path: str | Path,
        lake_root: str | Path,
        every_s: float = COMPACT_EVERY_S,
        max_files: int = MAX_FILES,
        target_bytes: int = TARGET_BYTES,
    ) -> None:
        if every_s <= 0:
            raise ValueError(f"compaction interval must be positive, got {every_s} s")
        # a state.sqlite path, or a PostgreSQL URL (phm.store.state.state_location)
        self.state_path = state_path if "://" in str(state_path) else Path(state_path)
        self.lake_root = Path(lake_root)
        self.every_s = every_s
        self.max_files = max_files
        self.target_bytes = target_bytes
        self.stats = CompactionStats()
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Compactor:
        self._thread = threading.Thread(target=self._loop, name="lake-compact", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the merge in hand (its files are consistent either way) and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("compaction: the thread did not stop in %.0f s", timeout)

    def _loop(self) -> None:
        state = StateStore(self.state_path)
        try:
            while not self._stop.wait(self.every_s):
                try:
                    done = compact_lake(
                        state, self.lake_root, self.max_files, self.target_bytes, self._stop
                    )
                except Exception:  # a bad file must not stop ingest; retried next pass
                    log.exception("compaction: pass failed in %s", self.lake_root)
                    continue
                self.passes += 1
                self.stats.add(done)
                if done.merges:
                    log.info(
                        "compaction: %d merges of %d files (%.1f MB) in %d partitions, %.2f s",
                        done.merges,
                        done.files_in,
                        done.bytes_in / 1e6,
                        done.partitions,
                        done.seconds,
                    )
        finally:
            state.close()

"""`phm replay`: recorded vibration files published as live assets' vibration streams over MQTT.

Any recording the manifest reader takes (`phm.datasets.recordings`: .mat, .csv, .npy, Parquet;
a CWRU folder; the HIT-SM manifest) becomes a stream of waveform snapshots on the topic and in
the payload codec of the simulator (`phm.wire`), so ingest, the lake and the monitor run on
real signals.

Assets. Each selected recording is played on one asset: its id is the values of
`asset_columns` joined by "-" (e.g. rig,label,rpm -> spectraquest-ir2-1200), else the
recording's rig and file name. With `commission` (a filter such as "label=N") every recording
that does not match it is preceded, on the same asset, by the commissioning recording that
shares its `commission_by` values (e.g. the same rig and rpm): a machine is commissioned
healthy, then develops its fault, as a real plant sees it. `replay_plant` writes the plant TOML
that lists these assets under one asset type (the shipped phm/configs/plant_replay.toml by
default), for ingest and the monitor; its snapshots take the recordings' own sampling rate
where they all share one (`common_rate`), else the template's.

Snapshots. A recording is resampled to the type's `sampling_hz` where its rate differs
(polyphase, `phm.features.orders.resample`) and cut into consecutive snapshots of the type's
`samples`; the remainder shorter than a snapshot is dropped. The asset's timeline is the
snapshots back to back, recording after recording (one snapshot lasts samples / sampling_hz).

Time, as in the simulator (phm.sim.plant): replayed signal time runs `speed` times faster than
the wall clock and payload times are backdated so that none is in the future: the replayed
span H (one pass; with `loop`, duration x speed, or one pass without a duration) ends at the
wall-clock time the run would end, a snapshot at signal time t carries the Unix time
`anchor + t` with anchor = wall_start - H, and it is published once signal time
life(e) = min(e x speed, H + e) has reached it. `seq` starts at the start time in
microseconds and grows by one per payload per asset. The truth (which recording plays when on
which asset, and its label) never travels over MQTT; `truth_path` receives it as JSON lines.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phm.datasets.recordings import Recording, parse_filter, read_signal, select
from phm.errors import ConfigError
from phm.features.orders import resample
from phm.plant import Plant, StreamSpec
from phm.sim.publisher import PlantPublisher
from phm.wire.codec import encode
from phm.wire.topics import topic_for

REPLAY_PLANT = "plant_replay.toml"  # shipped: phm/configs/plant_replay.toml
REPLAY_TYPE = "bearing_rig"  # its asset type
TICK_S = 0.05  # wall seconds between publishing rounds
MAX_SNAPSHOTS_PER_PAYLOAD = 64

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """One recording played on an asset. `role`: "commission" (the healthy recording played
    before a fault recording), "healthy" (a recording that matches the commissioning filter,
    on its own asset) or "replay" (any other)."""

    recording: Recording
    role: str


@dataclass
class ReplayAsset:
    """An asset's playlist and where it sits in the plant."""

    asset_id: str
    segments: list[Segment]
    site: str = "replay"
    line: str = "line1"


@dataclass
class ReplayStats:
    """What a replay published."""

    messages: int = 0
    snapshots: int = 0
    bytes: int = 0
    acked: int = 0
    undelivered: int = 0
    wall_s: float = 0.0
    span_s: float = 0.0  # signal seconds published (the longest asset)
    per_asset: dict[str, int] = field(default_factory=dict)  # snapshots per asset


def asset_id_of(rec: Recording, columns: Sequence[str] = ()) -> str:
    """A topic-safe asset id: the recording's `columns` values joined by "-", else its rig (if
    the manifest has one) and file name; lower case, runs of other characters as "-"."""
    if columns:
        missing = [c for c in columns if not rec.fields.get(c, "").strip()]
        if missing:
            raise rec.error("no value for the asset id", missing[0])
        raw = "-".join(rec.fields[c].strip() for c in columns)
    else:
        rig = rec.fields.get("rig", "").strip()
        raw = f"{rig}-{rec.path.stem}" if rig else rec.path.stem
    return re.sub(r"[^a-z0-9_.]+", "-", raw.lower()).strip("-")


def replay_assets(
    recordings: list[Recording],
    where: str = "",
    asset_columns: Sequence[str] = (),
    commission: str = "",
    commission_by: Sequence[str] = (),
) -> list[ReplayAsset]:
    """The assets that play the recordings selected by `where` (see the module doc); a
    ConfigError names what cannot be matched."""
    chosen = select(recordings, parse_filter(where)) if where else list(recordings)
    if not chosen:
        raise ConfigError(f"filter {where!r} selects no recording")
    healthy: list[Recording] = []
    if commission:
        healthy = select(recordings, parse_filter(commission))
        if not healthy:
            raise ConfigError(f"commissioning filter {commission!r} selects no recording")
    healthy_keys = {r.key for r in healthy}
    out: dict[str, ReplayAsset] = {}
    for rec in chosen:
        aid = asset_id_of(rec, asset_columns)
        if aid in out:
            other = out[aid].segments[-1].recording
            raise ConfigError(
                f"recordings {other.path.name} and {rec.path.name} map to the same asset "
                f"{aid!r}: choose asset columns that tell them apart"
            )
        segments = []
        if commission and rec.key not in healthy_keys:
            key = {c: rec.fields.get(c, "") for c in commission_by}
            match = [h for h in healthy if all(h.fields.get(c, "") == v for c, v in key.items())]
            if len(match) != 1:
                raise ConfigError(
                    f"{rec.path.name}: {len(match)} commissioning recordings ({commission!r}) "
                    f"share its {key}; expected exactly one"
                )
            segments.append(Segment(match[0], "commission"))
        segments.append(Segment(rec, "healthy" if rec.key in healthy_keys else "replay"))
        out[aid] = ReplayAsset(aid, segments, line=rec.fields.get("rig", "").strip() or "line1")
    for a in out.values():
        a.line = re.sub(r"[^A-Za-z0-9_.-]+", "-", a.line)
    return list(out.values())


def common_rate(assets: list[ReplayAsset]) -> float | None:
    """The sampling rate (Hz) every replayed recording shares, or None when they differ."""
    rates = {seg.recording.fs_hz for a in assets for seg in a.segments}
    return rates.pop() if len(rates) == 1 else None


def replay_plant(
    assets: list[ReplayAsset],
    template: str | Path | None = None,
    type_name: str = REPLAY_TYPE,
    sampling_hz: float | None = None,
) -> str:
    """The plant TOML text of `template` (default the shipped plant_replay.toml, which lists
    no assets) with `assets` appended as `[[assets]]` of `type_name`, and, with `sampling_hz`,
    the rate of the type's vibration stream set to it (replaying at the recordings' own rate
    spares a resampling: upsampled, the bands above the recording's Nyquist are empty, and
    their noise-level energies only blur a baseline)."""
    from phm.config import read_toml
    from phm.resources import resource_path

    path = Path(template) if template is not None else resource_path(REPLAY_PLANT)
    raw = read_toml(path)
    if type_name not in raw.get("types", {}):
        raise ConfigError(f"{path}: no asset type {type_name!r} to replay onto")
    if "assets" in raw or "fleet" in raw:
        raise ConfigError(f"{path}: a replay template lists no assets ([[assets]] or [fleet])")
    lines = path.read_text().splitlines()
    if sampling_hz is not None:
        lines = _with_rate(lines, f"[types.{type_name}.streams.vibration]", sampling_hz, path)
    lines += ["", f"# assets written by `phm replay` ({len(assets)})"]
    for a in assets:
        lines += [
            "[[assets]]",
            f'id = "{a.asset_id}"',
            f'type = "{type_name}"',
            f'site = "{a.site}"',
            f'line = "{a.line}"',
        ]
    return "\n".join(lines) + "\n"


def _with_rate(lines: list[str], table: str, hz: float, path: Path) -> list[str]:
    """`lines` with the `sampling_hz` of `table` set to `hz` (the key must be there)."""
    inside = False
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("["):
            inside = text.split("#")[0].strip() == table
        elif inside and text.split("=")[0].strip() == "sampling_hz":
            return [
                *lines[:i],
                f"sampling_hz = {float(hz)!r}  # the recordings' rate",
                *lines[i + 1 :],
            ]
    raise ConfigError(f"{path}: {table} has no sampling_hz line to set")


def snapshots_of(rec: Recording, spec: StreamSpec) -> np.ndarray:
    """The recording as consecutive snapshots (S, 1, samples) float32 at the spec's rate."""
    if len(spec.channels) != 1:
        raise ConfigError(
            f"stream {spec.name!r} has channels {list(spec.channels)}: a replayed recording is "
            "one signal, so the replay type's vibration stream must have one channel"
        )
    x = read_signal(rec)
    x = resample(x, rec.fs_hz, spec.sampling_hz)
    n = x.size // spec.samples
    if n == 0:
        raise rec.error(
            f"{x.size} samples at {spec.sampling_hz:g} Hz: shorter than one snapshot "
            f"({spec.samples})",
            "path",
        )
    return x[: n * spec.samples].reshape(n, 1, spec.samples).astype(np.float32)


class _Playlist:
    """One asset's snapshots back to back, looped or not; `ready(life)` gives the batches whose
    signal time has come: (first index, snapshots)."""

    def __init__(self, snapshots: np.ndarray, period_s: float, loop: bool) -> None:
        self.snapshots = snapshots
        self.period_s = period_s
        self.loop = loop
        self.next = 0  # index of the next snapshot over all passes

    def ready(self, life_s: float) -> list[tuple[int, np.ndarray]]:
        due = int(np.floor(life_s / self.period_s + 1e-9)) + 1  # snapshots with t <= life
        if not self.loop:
            due = min(due, len(self.snapshots))
        out = []
        while self.next < due:
            i = self.next % len(self.snapshots)
            k = min(due - self.next, MAX_SNAPSHOTS_PER_PAYLOAD, len(self.snapshots) - i)
            out.append((self.next, self.snapshots[i : i + k]))
            self.next += k
        return out

    @property
    def done(self) -> bool:
        return not self.loop and self.next >= len(self.snapshots)


def run_replay(
    plant: Plant,
    assets: list[ReplayAsset],
    broker_url: str,
    speed: float = 1.0,
    loop: bool = False,
    duration_s: float | None = None,
    truth_path: str | Path | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[ReplayStats], None] | None = None,
    protocol: str = "5",
) -> ReplayStats:
    """Publish every asset's playlist to `broker_url` (see the module doc) until done (or,
    looping, until `duration_s` wall seconds or `stop`), then wait for the PUBACKs."""
    if speed <= 0 or (duration_s is not None and duration_s <= 0):
        raise ConfigError(f"need speed > 0 and duration > 0; got {speed}, {duration_s}")
    stop = stop or threading.Event()
    lists: dict[str, _Playlist] = {}
    specs: dict[str, StreamSpec] = {}
    bounds: dict[str, list[tuple[Segment, int, int]]] = {}  # asset -> (segment, first, end)
    for a in assets:
        if a.asset_id not in plant.assets:
            raise ConfigError(
                f"asset {a.asset_id!r} is not in the plant {plant.source}: write the replay "
                "plant first (phm replay ... --write-plant FILE) and give it to ingest, the "
                "monitor and replay"
            )
        spec = specs[a.asset_id] = plant.stream(a.asset_id, "vibration")
        if spec.kind != "waveform":
            raise ConfigError(
                f"{plant.source}: the vibration stream of {a.asset_id!r} is not a waveform"
            )
        parts, first = [], 0
        bounds[a.asset_id] = []
        for seg in a.segments:
            snaps = snapshots_of(seg.recording, spec)
            parts.append(snaps)
            bounds[a.asset_id].append((seg, first, first + len(snaps)))
            first += len(snaps)
        lists[a.asset_id] = _Playlist(np.concatenate(parts), spec.samples / spec.sampling_hz, loop)
    one_pass = max(len(p.snapshots) * p.period_s for p in lists.values())
    horizon = duration_s * speed if (loop and duration_s is not None) else one_pass
    wall_start = time.time()
    anchor = wall_start - horizon
    seq0 = int(wall_start * 1e6)
    if truth_path is not None:
        truth = []
        for a in assets:
            period = lists[a.asset_id].period_s
            for seg, lo, hi in bounds[a.asset_id]:
                rec = seg.recording
                truth.append(
                    {
                        "asset_id": a.asset_id,
                        "role": seg.role,
                        "path": str(rec.path),
                        "label": rec.label,
                        "fields": rec.fields,
                        "start": anchor + lo * period,
                        "end": anchor + hi * period,
                        "snapshots": hi - lo,
                        "loop": loop,
                        # a snapshot of Unix time t goes out at wall_start + (t - anchor) / speed
                        "anchor": anchor,
                        "wall_start": wall_start,
                        "speed": speed,
                    }
                )
        Path(truth_path).parent.mkdir(parents=True, exist_ok=True)
        Path(truth_path).write_text("".join(json.dumps(t) + "\n" for t in truth))
    topics = {}
    for a in assets:
        asset = plant.assets[a.asset_id]
        topics[a.asset_id] = topic_for(asset.site, asset.line, a.asset_id, "vibration")
    seqs = dict.fromkeys(lists, seq0)
    stats = ReplayStats(per_asset=dict.fromkeys(lists, 0))
    pub = PlantPublisher(broker_url, f"phm-replay-{os.getpid()}-{seq0 % 10**6}", protocol)
    began = time.monotonic()

    def publish_round(life_s: float) -> None:
        for aid, playlist in lists.items():
            spec = specs[aid]
            for index, snaps in playlist.ready(life_s):
                t0 = anchor + index * playlist.period_s
                payload = encode(
                    seqs[aid], t0, snaps, spec.channels, dt=playlist.period_s, fs=spec.sampling_hz
                )
                seqs[aid] += 1
                pub.publish(topics[aid], payload)
                stats.messages += 1
                stats.snapshots += len(snaps)
                stats.per_asset[aid] += len(snaps)
                stats.bytes += len(payload)
                stats.span_s = max(stats.span_s, (index + len(snaps)) * playlist.period_s)

    last_progress = began
    try:
        while not stop.is_set():
            e = time.monotonic() - began
            if loop and duration_s is not None and e >= duration_s:
                break
            publish_round(min(e * speed, horizon + e))
            if all(p.done for p in lists.values()):
                break
            if on_progress is not None and time.monotonic() - last_progress >= 1.0:
                stats.wall_s = time.monotonic() - began
                stats.acked = pub.acked
                on_progress(stats)
                last_progress = time.monotonic()
            stop.wait(TICK_S)
    finally:
        stats.undelivered = pub.close(stats.messages)
        stats.acked = pub.acked
        stats.wall_s = time.monotonic() - began
    return stats


def read_truth(path: str | Path) -> list[dict[str, Any]]:
    """The JSON lines `run_replay` wrote to `truth_path`."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]

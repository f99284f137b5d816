"""Sparkplug B into the lake: births, data and deaths of edge nodes become native batches.

    spBv1.0/<group>/NBIRTH|NDATA|NDEATH/<node>, DBIRTH|DDATA|DDEATH/<node>/<device>
        ──SparkplugHost.translate (once per batch, in arrival order)──▶ m.decoded:
            [Batch, ...]  one row per (stream, metric timestamp) of the mapped metrics
            (reason, detail)  a dead letter, every byte kept (`KEEP_WHOLE` reasons)
        ──BatchCommitter.commit (same dedupe, lake and transaction as native payloads)──▶
        SparkplugHost.persist (node states + counters)  then PUBACK, then rebirth requests

A row lands under the asset the plant's mapping (`phm.wire.sparkplug_map`) gives the device,
keyed (asset, stream, seq = its timestamp in ms): a redelivered message yields the same keys
and content and is dropped as a duplicate, as a native one is.

State per edge node: its bdSeq, whether it is born, its last `seq`, and per device the alias ->
(name, datatype) of the DBIRTH. It is kept in the state store (`sparkplug_nodes`) after each
commit and before the acks, so a restarted worker resumes where the acknowledged stream ends.

Checks: `seq` must follow the last one (mod 256). A redelivered message (the broker's DUP flag)
off sequence is a replay of what a killed worker saw before its acks: decoded as usual and
deduplicated. Otherwise an off-sequence message is a gap (`sparkplug_seq_gap`; the missing
count is `sparkplug_missing_messages`), and that message and every data message until the
node's next NBIRTH are dead-lettered (`sparkplug_stale`: aliases may have changed unseen);
data of a node or device never born (or dead) is `sparkplug_before_birth`. Each of these asks
the edge node to rebirth (NCMD "Node Control/Rebirth" = true), at most every REBIRTH_RETRY_S
per node. An NDEATH whose bdSeq is not the current birth's is a late will of an earlier
session: counted (`sparkplug_stale_deaths`) and ignored.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phm.plant import Plant, sparkplug_map
from phm.records import Batch
from phm.store.state import StateStore
from phm.wire import sparkplug as spb
from phm.wire.codec import PayloadError, check_times
from phm.wire.sparkplug_map import SparkplugMap

log = logging.getLogger(__name__)

REBIRTH_RETRY_S = 10.0  # a node still unborn or stale is asked again after this long
KEEP_WHOLE = (  # dead-letter reasons whose payload may be real data: kept whole
    "sparkplug_seq_gap",
    "sparkplug_stale",
    "sparkplug_before_birth",
    "sparkplug_unknown_alias",
)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sparkplug_nodes (group_id TEXT NOT NULL, edge_node TEXT NOT NULL, "
    "state TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (group_id, edge_node))"
)


def subscriptions(group: str) -> list[str]:
    """The topics ingest takes of `group` (commands are the host's own, not data)."""
    node = [f"{spb.NAMESPACE}/{group}/{t}/+" for t in ("NBIRTH", "NDATA", "NDEATH")]
    return node + [f"{spb.NAMESPACE}/{group}/{t}/+/+" for t in ("DBIRTH", "DDATA", "DDEATH")]


@dataclass
class _Device:
    born: bool = False
    aliases: dict[int, tuple[str, int]] = field(default_factory=dict)  # alias -> (name, type)
    types: dict[str, int] = field(default_factory=dict)  # name -> datatype


@dataclass
class _Node:
    born: bool = False
    bdseq: int | None = None
    seq: int | None = None
    stale: bool = False  # a seq gap was seen: data is dead-lettered until the next NBIRTH
    devices: dict[str, _Device] = field(default_factory=dict)
    asked_at: float = -math.inf  # monotonic time of the last rebirth request (not persisted)

    def to_json(self) -> str:
        devices = {
            d: {"born": s.born, "aliases": [[a, n, t] for a, (n, t) in s.aliases.items()]}
            for d, s in self.devices.items()
        }
        state = {"born": self.born, "bdseq": self.bdseq, "seq": self.seq, "stale": self.stale}
        return json.dumps(state | {"devices": devices})

    @classmethod
    def from_json(cls, text: str) -> _Node:
        raw = json.loads(text)
        node = cls(raw["born"], raw["bdseq"], raw["seq"], raw["stale"])
        for name, d in raw["devices"].items():
            dev = node.devices[name] = _Device(d["born"])
            for alias, metric, datatype in d["aliases"]:
                dev.aliases[alias] = (metric, datatype)
                dev.types[metric] = datatype
        return node


class _Dead(Exception):
    """A message that becomes a dead letter (reason, detail)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


class SparkplugHost:
    """The Sparkplug B host application side of ingest for `plant`'s mapped group.

    `translate` runs on each batch before the commit; `persist` after it, before the acks;
    `rebirths()` then hands the NCMD (topic, payload) requests to publish.
    """

    def __init__(self, plant: Plant, state: StateStore, clock=time.time) -> None:
        self.plant = plant
        self.mapping: SparkplugMap = sparkplug_map(plant)
        self.group = self.mapping.group
        self.state = state
        self.clock = clock
        self.counters: dict[str, int] = {}
        self._nodes: dict[str, _Node] = {}
        self._dirty: set[str] = set()
        self._rebirths: list[str] = []
        with state.transaction() as conn:
            conn.execute(_SCHEMA)
        self.reload()

    # ------------------------------------------------------------------ state
    def reload(self) -> None:
        """Forget what was not persisted (a failed commit: its messages come again)."""
        with self.state.transaction() as conn:
            rows = conn.execute(
                "SELECT edge_node, state FROM sparkplug_nodes WHERE group_id = ?", (self.group,)
            ).fetchall()
        self._nodes = {node: _Node.from_json(text) for node, text in rows}
        self._dirty.clear()
        self.counters.clear()
        self._rebirths.clear()

    def persist(self) -> None:
        """Write the changed node states and the counters in one transaction."""
        if not self._dirty and not self.counters:
            return
        now = self.clock()
        with self.state.transaction() as conn:
            conn.executemany(
                "INSERT INTO sparkplug_nodes (group_id, edge_node, state, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (group_id, edge_node) DO UPDATE SET "
                "state = excluded.state, updated_at = excluded.updated_at",
                [(self.group, n, self._nodes[n].to_json(), now) for n in sorted(self._dirty)],
            )
            conn.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
                list(self.counters.items()),
            )
        self._dirty.clear()
        self.counters.clear()

    def rebirths(self) -> list[tuple[str, bytes]]:
        """The NCMD rebirth requests asked for since the last call, as (topic, payload)."""
        stamp = int(self.clock() * 1000)
        out = [
            (spb.sparkplug_topic(self.group, "NCMD", node), spb.rebirth_request(stamp))
            for node in self._rebirths
        ]
        self._rebirths.clear()
        return out

    def _count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def _ask_rebirth(self, name: str, node: _Node) -> None:
        now = time.monotonic()
        if now - node.asked_at >= REBIRTH_RETRY_S:
            node.asked_at = now
            self._rebirths.append(name)
            self._count("sparkplug_rebirth_requests")
            log.warning("sparkplug: asking edge node %s/%s to rebirth", self.group, name)

    # ------------------------------------------------------------------ messages
    def handles(self, topic: str) -> bool:
        return topic.startswith(f"{spb.NAMESPACE}/")

    def translate(self, messages: list[Any]) -> None:
        """Set `m.decoded` (batches or a dead letter) on each Sparkplug message, in order."""
        for m in messages:
            if not self.handles(m.topic):
                continue
            try:
                m.decoded = self._message(m)
            except _Dead as dead:
                m.decoded = (dead.reason, dead.detail)
            except spb.SparkplugError as exc:
                m.decoded = (f"sparkplug_{exc.reason}", f"{m.topic}: {exc.detail}")
            except Exception as exc:  # a gap in these checks: dead-letter, never block ingest
                log.error("sparkplug: translating a message on %s raised %r", m.topic, exc)
                m.decoded = ("sparkplug_decode_error", f"{m.topic}: {type(exc).__name__}: {exc}")

    def _message(self, m: Any) -> list[Batch]:
        topic = spb.parse_sparkplug_topic(m.topic)
        if topic.group != self.group:
            raise _Dead("sparkplug_unknown_group", f"{m.topic}: group is not {self.group!r}")
        if topic.type in ("NCMD", "DCMD"):
            self._count("sparkplug_commands")
            return []
        payload = spb.decode_payload(m.payload)
        name = topic.edge_node
        node = self._nodes.get(name)
        if node is None:
            node = self._nodes[name] = _Node()
        self._dirty.add(name)
        if topic.type == "NBIRTH":
            self._nbirth(node, payload)
            self._count("sparkplug_births")
            return []
        if topic.type == "NDEATH":
            self._ndeath(name, node, payload)
            return []
        self._check_seq(m, name, node, payload)
        if topic.type == "NDATA":
            self._count("sparkplug_unmapped_metrics", len(payload.metrics))
            return []
        device = node.devices.setdefault(topic.device, _Device())
        if topic.type == "DDEATH":
            device.born = False
            return []
        if topic.type == "DBIRTH":
            device.born = True
            device.aliases.clear()
            device.types.clear()
            for metric in payload.metrics:
                if metric.HasField("alias"):
                    device.aliases[metric.alias] = (metric.name, metric.datatype)
                device.types[metric.name] = metric.datatype
            self._count("sparkplug_births")
        elif not device.born:
            self._ask_rebirth(name, node)
            raise _Dead(
                "sparkplug_before_birth",
                f"{m.topic}: device {topic.device!r} has no DBIRTH (or died): rebirth requested",
            )
        return self._rows(m.topic, topic, device, payload, birth=topic.type == "DBIRTH")

    def _nbirth(self, node: _Node, payload: Any) -> None:
        node.born, node.stale = True, False
        node.bdseq = spb.bd_seq(payload)
        node.seq = int(payload.seq) if payload.HasField("seq") else 0
        node.devices = {}  # every device must be born again after its node
        self._count("sparkplug_unmapped_metrics", len(payload.metrics))

    def _ndeath(self, name: str, node: _Node, payload: Any) -> None:
        bdseq = spb.bd_seq(payload)
        if node.born and bdseq is not None and bdseq != node.bdseq:
            self._count("sparkplug_stale_deaths")
            log.info("sparkplug: %s NDEATH bdSeq %s is not the birth's %s", name, bdseq, node.bdseq)
            return
        node.born = False
        for device in node.devices.values():
            device.born = False
        self._count("sparkplug_deaths")

    def _check_seq(self, m: Any, name: str, node: _Node, payload: Any) -> None:
        if not node.born:
            self._ask_rebirth(name, node)
            raise _Dead(
                "sparkplug_before_birth",
                f"{m.topic}: edge node {name!r} has no NBIRTH (or died): rebirth requested",
            )
        if not payload.HasField("seq") or payload.seq >= spb.SEQ_MODULUS:
            raise _Dead("sparkplug_bad_seq", f"{m.topic}: seq missing or not in 0..255")
        seq = int(payload.seq)
        if node.stale:  # until the NBIRTH, neither seq nor aliases can be trusted
            self._ask_rebirth(name, node)
            raise _Dead(
                "sparkplug_stale", f"{m.topic}: after a seq gap, before the rebirth: not trusted"
            )
        expected = (node.seq + 1) % spb.SEQ_MODULUS if node.seq is not None else seq
        if seq != expected and m.redelivered:
            self._count("sparkplug_replays")  # seen before a restart: dedupe decides
            return
        node.seq = seq
        if seq != expected:
            missing = (seq - expected) % spb.SEQ_MODULUS
            self._count("sparkplug_seq_gaps")
            self._count("sparkplug_missing_messages", missing)
            node.stale = True
            self._ask_rebirth(name, node)
            raise _Dead(
                "sparkplug_seq_gap",
                f"{m.topic}: seq {seq}, expected {expected} ({missing} messages missing): "
                "rebirth requested",
            )

    def _rows(
        self, where: str, topic: spb.SparkplugTopic, device: _Device, payload: Any, birth: bool
    ) -> list[Batch]:
        """The mapped metrics of a DBIRTH/DDATA as rows: one Batch per (stream, timestamp)."""
        dmap = self.mapping.devices.get((topic.edge_node, topic.device))
        if dmap is None:
            raise _Dead(
                "sparkplug_unknown_device",
                f"{where}: edge node {topic.edge_node!r} device {topic.device!r} is no asset "
                f"of the plant's [sparkplug] mapping",
            )
        rows: dict[tuple[str, int], dict[str, float]] = {}
        unmapped = 0
        # alias -> (name, datatype, (stream, channel) or None): the DBIRTH's, resolved once
        resolved = {a: (n, t, dmap.metrics.get(n)) for a, (n, t) in device.aliases.items()}
        for metric in payload.metrics:
            name = metric.name
            if name:
                datatype = (
                    metric.datatype if metric.HasField("datatype") else device.types.get(name, 0)
                )
                target = dmap.metrics.get(name)
            elif metric.HasField("alias") and metric.alias in resolved:
                name, datatype, target = resolved[metric.alias]
            else:
                raise _Dead(
                    "sparkplug_unknown_alias",
                    f"{where}: metric alias {metric.alias} is not in the device's DBIRTH",
                )
            if target is None:
                unmapped += 1
                continue
            if birth and (metric.is_null or metric.WhichOneof("value") is None):
                continue  # a definition without a current value
            stamp = metric.timestamp if metric.HasField("timestamp") else payload.timestamp
            if not stamp:
                raise _Dead("sparkplug_no_timestamp", f"{where}: metric {name!r} has no timestamp")
            try:
                value = spb.numeric_value(metric, datatype)
            except spb.SparkplugError as exc:
                raise _Dead(
                    "sparkplug_bad_metric", f"{where}: metric {name!r}: {exc.detail}"
                ) from None
            stream, channel = target
            row = rows.setdefault((stream, int(stamp)), {})
            if channel in row:
                raise _Dead("sparkplug_bad_metric", f"{where}: metric {name!r} twice at {stamp}")
            row[channel] = value
        if unmapped:
            self._count("sparkplug_unmapped_metrics", unmapped)
        by_stream: dict[str, list[tuple[int, dict[str, float]]]] = {}
        for (stream, stamp), row in sorted(rows.items()):
            by_stream.setdefault(stream, []).append((stamp, row))
        out: list[Batch] = []
        for stream, stream_rows in by_stream.items():
            out += self._batches(where, dmap.asset, stream, stream_rows)
        return out

    def _batches(
        self, where: str, asset: str, stream: str, rows: list[tuple[int, dict[str, float]]]
    ) -> list[Batch]:
        """The rows of one stream as native batches of one row each (seq: the timestamp in
        ms), checked as the native codec checks a payload: times within the plant's window,
        NaN only in nullable channels, no infinities."""
        spec = self.plant.stream(asset, stream)
        required = set(spec.channels) - set(spec.nullable)
        for stamp, row in rows:
            if required <= row.keys():
                continue
            missing = [c for c in spec.channels if c not in row and c not in spec.nullable]
            if missing:
                raise _Dead(
                    "sparkplug_partial_row",
                    f"{where}: {stream} at {stamp} ms lacks metrics for {missing} (not nullable)",
                )
        values = np.array([[r.get(c, math.nan) for c in spec.channels] for _, r in rows], "<f4")
        first, last = rows[0][0] / 1000.0, rows[-1][0] / 1000.0
        try:
            check_times(first, last, self.plant, self.clock())
        except PayloadError as exc:
            raise _Dead(exc.reason, f"{where}: {exc.detail}") from None
        bad = ~np.isfinite(values)
        if bad.any():
            nullable = np.array([c in spec.nullable for c in spec.channels])
            offending = bad & ~(np.isnan(values) & nullable[None, :])
            if offending.any():
                i, j = np.argwhere(offending)[0]
                raise _Dead(
                    "not_finite",
                    f"{where}: {values[i, j]} in channel {spec.channels[j]!r} at {rows[i][0]} ms",
                )
        return [
            Batch(asset, stream, stamp, stamp / 1000.0, 0.0, spec.channels, values[i : i + 1])
            for i, (stamp, _) in enumerate(rows)
        ]

"""One batch of received messages into the store: decode, dedupe, write, commit as one.

    messages ──decode_message──▶ Batch, or a dead letter (reason, detail)
             ──dedupe by (asset, stream, seq)──▶ same content: a duplicate, dropped
                                                 other content: `conflicting_duplicate`
             ──LakeWriter.write──▶ segments ──StateStore.commit_ingest──▶ ONE transaction

A commit that fails because of what a message carries (a value the lake or SQLite cannot
store that the codec did not foresee) must not stall ingest: the batch is split in halves and
each half committed alone, down to the one message at fault, which becomes a `commit_error`
dead letter while everything else commits. A failure of the store itself (disk full or
read-only, database locked or broken: `store_fault`) is never blamed on a message: it
propagates, nothing is acknowledged and the broker delivers the batch again.

Dead letters keep their first `plant.dead_letter_keep_bytes` bytes (the SHA-256 and size of
the whole payload beside them); `commit_error` and `conflicting_duplicate` keep every byte,
since they may be real data. A message the broker marks as retained or resent whose exact
bytes are already dead-lettered on its topic is counted (`dead_letter_repeats`), not stored
again, so a retained bad message does not grow the table at each restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import struct
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from phm.ingest.sparkplug import KEEP_WHOLE as SPARKPLUG_KEEP_WHOLE
from phm.plant import Plant
from phm.store.lake import DAY_S, LakeWriter, Segment
from phm.store.state import DeadLetter, StateStore
from phm.wire.codec import Batch, PayloadError, decode
from phm.wire.topics import TopicError, parse_topic

log = logging.getLogger(__name__)

Key = tuple[str, str, int]  # (asset, stream, seq)
PRUNE_EVERY_S = 600.0  # dead-letter retention pass
# reasons whose payload is kept whole
KEEP_WHOLE = ("commit_error", "conflicting_duplicate", *SPARKPLUG_KEEP_WHOLE)


class Message(Protocol):
    """What the committer needs of a received message (the worker's `_Message`)."""

    topic: str
    payload: bytes
    received: float  # Unix s
    redelivered: bool  # retained or resent by the broker


@dataclass
class Outcome:
    """What one commit did: the (asset, stream, seq) keys stored and the counts."""

    keys: list[Key] = field(default_factory=list)
    messages: int = 0
    readings: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    repeats: int = 0

    def add(self, other: Outcome) -> Outcome:
        self.keys += other.keys
        self.messages += other.messages
        self.readings += other.readings
        self.duplicates += other.duplicates
        self.dead_letters += other.dead_letters
        self.repeats += other.repeats
        return self


def decode_message(m: Message, plant: Plant, now: float) -> Batch | list[Batch] | tuple[str, str]:
    """The decoded batch, or the dead-letter (reason, detail). Beyond the codec's checks: the
    topic's site and line must be the asset's registered ones (`wrong_site`), and rows must
    span less than a day (`too_long`: the lake's partitions rely on it). A Sparkplug message
    comes translated (`decoded`: its rows, or its dead letter; phm.ingest.sparkplug)."""
    translated = getattr(m, "decoded", None)
    if translated is not None:
        return translated
    try:
        topic = parse_topic(m.topic)
        asset = plant.assets.get(topic.asset)
        if asset is not None and (topic.site, topic.line) != (asset.site, asset.line):
            return "wrong_site", (
                f"topic {m.topic!r} names site {topic.site!r} line {topic.line!r}: "
                f"{asset.asset_id!r} is registered at site {asset.site!r} line {asset.line!r}"
            )
        b = decode(m.payload, topic.asset, topic.stream, plant, now=now)
    except TopicError as exc:
        return "bad_topic", str(exc)
    except PayloadError as exc:
        return exc.reason, exc.detail
    except Exception as exc:  # a gap in the codec's checks: dead-letter, never block ingest
        log.error("ingest: decoding a payload on %s raised %r", m.topic, exc)
        return "decode_error", f"{type(exc).__name__}: {exc}"
    span = b.dt * max(b.values.shape[0] - 1, 0)
    if span >= DAY_S:
        return "too_long", f"rows span {span:.0f} s: expected less than {DAY_S:.0f} s"
    return b


def content_digest(b: Batch) -> bytes:
    """16-byte hash of what a batch carries (times, channels, rate, event, values): equal for a
    redelivered copy, different for another message under the same seq."""
    # sha256, not blake2b: faster on CPUs with SHA-NI
    h = hashlib.sha256(struct.pack("<ddd", b.t0, b.dt, b.fs))
    h.update("\x1f".join(b.channels).encode())
    if b.event:
        h.update(json.dumps(b.event, sort_keys=True, separators=(",", ":")).encode())
    h.update(np.ascontiguousarray(b.values).reshape(-1).view(np.uint8))
    return h.digest()[:16]


def store_fault(exc: BaseException) -> bool:
    """True when a failed commit says the store is at fault (disk, file system, database),
    not the data of a message."""
    data_errors = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)
    if isinstance(exc, data_errors):
        return False
    if isinstance(exc, OSError | MemoryError | sqlite3.DatabaseError):
        return True
    if isinstance(exc, pl.exceptions.PolarsError):  # polars wraps the OS's I/O errors
        text = str(exc).lower()
        return "os error" in text or "io error" in text
    return False


def _remove(segments: Sequence[Segment]) -> None:
    """Delete the files of a commit that failed (else the next start does, as orphans)."""
    for s in segments:
        with contextlib.suppress(OSError):
            Path(s.path).unlink(missing_ok=True)


class BatchCommitter:
    """Commits batches of messages of `plant` into `lake` + `state` (see the module doc).

    `pool` writes the segments of one batch in parallel (each its own file and fsyncs).
    """

    def __init__(
        self,
        lake: LakeWriter,
        state: StateStore,
        plant: Plant,
        pool: ThreadPoolExecutor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lake = lake
        self.state = state
        self.plant = plant
        self.pool = pool
        self.clock = clock
        self._pruned_at = float("-inf")

    def commit(self, messages: Sequence[Message]) -> Outcome:
        """Commit `messages`; raises only when the store is at fault (then nothing of the
        batch is known committed: none may be acknowledged)."""
        try:
            out = self._commit(messages)
        except Exception as exc:
            if store_fault(exc):
                raise
            log.error(
                "ingest: a commit of %d messages failed (%r); splitting the batch to find the "
                "message at fault",
                len(messages),
                exc,
            )
            out = self._split(messages, exc)
        self._prune()
        return out

    def _split(self, messages: Sequence[Message], exc: Exception) -> Outcome:
        if len(messages) == 1:
            m = messages[0]
            detail = f"{type(exc).__name__}: {exc}"[:2000]
            log.error("ingest: a message on %s cannot be stored (%s): dead-lettered", m.topic, exc)
            return self._commit(messages, poison=detail)  # a failure now is the store's
        half = len(messages) // 2
        total = Outcome()
        for part in (messages[:half], messages[half:]):
            try:
                total.add(self._commit(part))
            except Exception as err:
                if store_fault(err):
                    raise
                total.add(self._split(part, err))
        return total

    def _dead(self, m: Message, reason: str, detail: str, out: Outcome, dead: list) -> None:
        letter = DeadLetter(m.received, m.topic, reason, detail, m.payload)
        if m.redelivered and self.state.dead_lettered(m.topic, letter.sha256):
            out.repeats += 1
            return
        if reason not in KEEP_WHOLE:
            letter = letter.kept(self.plant.dead_letter_keep_bytes)
        dead.append(letter)

    def _commit(self, messages: Sequence[Message], poison: str | None = None) -> Outcome:
        """One transaction for `messages` (with `poison`: the single message dead-lettered as
        `commit_error` with that detail)."""
        out = Outcome(messages=len(messages))
        dead: list[DeadLetter] = []
        decoded: list[tuple[Message, Batch]] = []
        now = self.clock()
        for m in messages:
            if poison is not None:
                result: Batch | list[Batch] | tuple[str, str] = ("commit_error", poison)
            else:
                result = decode_message(m, self.plant, now)
            if isinstance(result, Batch):
                decoded.append((m, result))
            elif isinstance(result, list):  # a Sparkplug message: a row per stream and time
                decoded.extend((m, b) for b in result)
            else:
                self._dead(m, *result, out, dead)
        keys = [(b.asset, b.stream, b.seq) for _, b in decoded]
        stored = self.state.seen_digests(keys) if keys else {}
        fresh: list[Batch] = []
        fresh_keys: list[tuple[str, str, int, bytes]] = []
        for (m, b), key in zip(decoded, keys, strict=True):
            digest = content_digest(b)
            if key in stored:
                first = stored[key]
                if first is None or first == digest:  # None: committed before digests
                    out.duplicates += 1
                    continue
                detail = (
                    f"{key[0]}/{key[1]} seq {key[2]} is already stored with other content "
                    f"(digest {first.hex()}; that first copy is in the lake): this copy, "
                    f"digest {digest.hex()}, is kept here"
                )
                self._dead(m, "conflicting_duplicate", detail, out, dead)
                continue
            stored[key] = digest
            fresh.append(b)
            fresh_keys.append((*key, digest))
        out.dead_letters = len(dead)
        out.readings = sum(b.readings for b in fresh)
        reasons: dict[str, int] = {}
        for d in dead:
            reasons[d.reason] = reasons.get(d.reason, 0) + 1
        counters = {
            "ingest_messages": out.messages,
            "ingest_readings": out.readings,
            "ingest_duplicates": out.duplicates,
            "dead_letters": out.dead_letters,
            "dead_letter_repeats": out.repeats,
            **{f"dead_letter_{r}": n for r, n in reasons.items()},
        }
        segments = self._write(fresh)
        try:
            self.state.commit_ingest(segments, fresh_keys, dead, counters)
        except BaseException:
            _remove(segments)
            raise
        out.keys = [k[:3] for k in fresh_keys]
        return out

    def _write(self, batches: list[Batch]) -> list[Segment]:
        """LakeWriter.write per (stream, asset), in parallel on `pool`: each segment is its own
        file with its own fsyncs, so the disk waits overlap (polars and fsync release the GIL).
        Any failure removes the segments this call wrote, then raises."""
        if not batches:
            return []
        groups: dict[tuple[str, str], list[Batch]] = {}
        for b in batches:
            groups.setdefault((b.stream, b.asset), []).append(b)
        if len(groups) <= 1 or self.pool is None:
            return self.lake.write(batches)
        futures = [self.pool.submit(self.lake.write, g) for g in groups.values()]
        results = [f.exception() or f.result() for f in futures]
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            _remove([s for r in results if not isinstance(r, BaseException) for s in r])
            raise failed[0]
        return [s for r in results for s in r]

    def _prune(self) -> None:
        """Dead-letter retention (plant limits), at most every PRUNE_EVERY_S."""
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = time.monotonic()
        days = self.plant.dead_letter_retention_days
        try:
            gone = self.state.prune_dead_letters(
                self.clock() - days * 86400.0, self.plant.dead_letter_max_bytes
            )
        except Exception:
            log.exception("ingest: dead-letter retention failed (retried in %.0f s)", PRUNE_EVERY_S)
            return
        if gone:
            log.info("ingest: deleted %d dead letters (retention %g days / size cap)", gone, days)

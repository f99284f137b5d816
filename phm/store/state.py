"""The state store: what ingest committed, and what the monitor predicted and alerted.

One SQLite file in WAL mode (readers never wait for a writer; a writer waits up to
`busy_timeout` = 10 s for another), `synchronous=FULL` so a commit survives a power cut; or a
PostgreSQL database, chosen by URL (`StateStore("postgresql://user@host/db")`, or for every
command of a deployment the environment variable PHM_STATE_URL / the `--state URL` options,
through `open_state`). One body of SQL serves both: timestamps are REAL Unix seconds, JSON is
TEXT, upserts use `ON CONFLICT ... DO UPDATE`; `phm.store.postgres` bridges the rest
(placeholders, identity ids, BYTEA, one writer at a time, the error classes).

Schema migrations: the tables are created if missing and the columns added after a release
(`_ADDED_COLUMNS`) are added to an older store when a writer opens it, in the same transaction,
on both databases.

Tables: assets, segments (every committed lake file, by its path relative to the lake root),
ingest_seen (asset, stream, seq, content digest), dead_letters (capped raw bytes with the whole
payload's size and SHA-256), counters, predictions, alerts (with their ISA-18.2 `priority`),
acknowledgements, alert_history (the versions an alert showed: one row at opening, one per
recorded change, one at clearing), and the operators' shelves, out_of_service and
operator_actions (the audit trail; phm.store.operator_log writes and reads them).

Readers open with `readonly=True` (`mode=ro`, no schema statement): they never take the write
lock, so a reader neither waits for ingest nor makes it wait.

Threads: sqlite3 connections are not shared across threads; a `StateStore` opens one
connection per thread, lazily, so one object may be used from several threads. Several
`StateStore` objects (or processes) on the same file are fine.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phm.errors import PhmError
from phm.plant import Plant
from phm.records import (
    SEVERITIES,
    STATUSES,
    Acknowledgement,
    Alert,
    AlertVersion,
    DeadLetter,
    Prediction,
    alert_root_causes,
)

__all__ = [
    "SEVERITIES",
    "STATUSES",
    "Acknowledgement",
    "Alert",
    "AlertVersion",
    "DeadLetter",
    "Prediction",
    "SegmentsChanged",
    "StateStore",
    "UnknownAlertError",
    "alert_root_causes",
    "lake_key",
    "open_state",
    "state_location",
]

if TYPE_CHECKING:
    from phm.store.lake import Segment

_CHUNK = 500  # keys per IN (...) query: far below SQLite's and PostgreSQL's parameter limits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    asset_id TEXT PRIMARY KEY, type TEXT NOT NULL, site TEXT NOT NULL, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    path TEXT PRIMARY KEY, stream TEXT NOT NULL, asset TEXT NOT NULL, rows INTEGER NOT NULL,
    t_min REAL NOT NULL, t_max REAL NOT NULL, committed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_seen (
    asset TEXT NOT NULL, stream TEXT NOT NULL, seq BIGINT NOT NULL, digest BLOB,
    PRIMARY KEY (asset, stream, seq));
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, received_at REAL NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB, size BIGINT, sha256 TEXT);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY, asset_id TEXT NOT NULL, time REAL NOT NULL, model TEXT NOT NULL,
    fault_probs TEXT NOT NULL, rul_median REAL, rul_lower REAL, rul_upper REAL, health REAL,
    expert_load TEXT NOT NULL, details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS predictions_asset_time ON predictions (asset_id, time);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, asset_id TEXT NOT NULL, kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('watch', 'alarm')),
    status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'cleared')),
    opened_at REAL NOT NULL, updated_at REAL NOT NULL, cleared_at REAL,
    message TEXT NOT NULL, details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status, asset_id);
CREATE TABLE IF NOT EXISTS acknowledgements (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id),
    by_name TEXT NOT NULL, note TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS acknowledgements_alert ON acknowledgements (alert_id);
CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id), at REAL NOT NULL,
    severity TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL, details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alert_history_alert ON alert_history (alert_id, at);
CREATE TABLE IF NOT EXISTS shelves (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id),
    by_name TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL, expires_at REAL NOT NULL,
    ended_at REAL);
CREATE INDEX IF NOT EXISTS shelves_alert ON shelves (alert_id);
CREATE TABLE IF NOT EXISTS out_of_service (
    id INTEGER PRIMARY KEY, asset_id TEXT NOT NULL, by_name TEXT NOT NULL, note TEXT NOT NULL,
    at REAL NOT NULL, ended_at REAL);
CREATE INDEX IF NOT EXISTS out_of_service_asset ON out_of_service (asset_id);
CREATE TABLE IF NOT EXISTS operator_actions (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, by_name TEXT NOT NULL, action TEXT NOT NULL,
    alert_id INTEGER, asset_id TEXT, note TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS operator_actions_at ON operator_actions (at);
"""
# columns added after the first release: (table, column, type), added to older files at open
_ADDED_COLUMNS = (
    ("ingest_seen", "digest", "BLOB"),
    ("dead_letters", "size", "BIGINT"),
    ("dead_letters", "sha256", "TEXT"),
    ("alerts", "priority", "TEXT"),
)


STATE_URL_ENV = "PHM_STATE_URL"  # a PostgreSQL URL: the state store of every command


def state_location(store_dir: str | Path, url: str | None = None) -> str | Path:
    """Where a store folder's state lives: `url` (a postgresql:// URL), else the environment's
    PHM_STATE_URL, else `store_dir`/state.sqlite."""
    url = url or os.environ.get(STATE_URL_ENV) or None
    return url if url else Path(store_dir) / "state.sqlite"


def open_state(store_dir: str | Path, readonly: bool = False, url: str | None = None) -> StateStore:
    """The state store of a store folder (`state_location`)."""
    return StateStore(state_location(store_dir, url), readonly=readonly)


STATE_HELP = (
    "state store: a PostgreSQL URL (postgresql://user@host:5432/db; password in PGPASSWORD "
    "or ~/.pgpass, not here); default: $PHM_STATE_URL, else STORE/state.sqlite"
)


def use_state_url(url: str | None) -> None:
    """Make `url` (a `--state` option) the state store of this process and its children
    (PHM_STATE_URL); None leaves the environment as it is."""
    from phm.store.postgres import is_postgres_url

    if url is None:
        return
    if not is_postgres_url(url):
        raise PhmError(f"--state {url!r}: expected a postgresql://user@host/database URL")
    os.environ[STATE_URL_ENV] = url


def state_exists(location: str | Path) -> bool:
    """False for a state.sqlite file that is not there (a PostgreSQL URL: True; connecting
    tells the rest)."""
    return (isinstance(location, str) and "://" in location) or Path(location).is_file()


class UnknownAlertError(PhmError, KeyError):
    """An alert id that the state store does not hold."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0])


class SegmentsChanged(PhmError):
    """A compaction's input segments were replaced meanwhile (see `replace_segments`)."""


def lake_key(path: str | Path) -> str:
    """How `segments.path` names a lake file: `{stream}/asset=../date=../part-...parquet`,
    relative to the lake root, so the lake folder can move."""
    return "/".join(Path(path).parts[-4:])


def _chunks(items: list, n: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class StateStore:
    """The SQLite state store at `path` (created with its tables if missing).

    `readonly=True` is the readers' open (dashboard, reports, `phm kg explain`): the file must
    exist; no schema statement, no journal-mode change, no write lock, ever (`mode=ro`), so a
    reader never waits for a writer nor makes one wait. Writing through it raises PhmError."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        from phm.store.postgres import is_postgres_url, redacted

        self.url = str(path) if is_postgres_url(path) else None
        # in messages: the file, or the URL without its password
        self.path: Path | str = redacted(self.url) if self.url else Path(path)
        self.readonly = readonly
        self._local = threading.local()
        self._has_priority = False  # alerts.priority seen (`alerts`: asked until it is)
        if readonly:
            if self.url is None and not Path(self.path).is_file():
                raise PhmError(f"{self.path}: no state store there (ingest creates it)")
            self._conn()
            return
        if self.url is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as conn:
            self._migrate(conn)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return "sqlite" if self.url is None else "postgresql"

    def _migrate(self, conn: Any) -> None:
        """Create missing tables and add the columns of later releases (module doc)."""
        from phm.store.postgres import pg_schema

        schema = _SCHEMA if self.url is None else pg_schema(_SCHEMA)
        for stmt in schema.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        for table, column, kind in _ADDED_COLUMNS:
            if self.url is not None:
                conn.execute(
                    pg_schema(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
                )
                continue
            if column not in self._columns(conn, table):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        conn.execute("CREATE INDEX IF NOT EXISTS dead_letters_sha256 ON dead_letters (sha256)")

    # -- connections -------------------------------------------------------------------------

    def _columns(self, conn: Any, table: str) -> set[str]:
        """The column names of `table` (empty if there is no such table)."""
        if self.url is None:
            return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        sql = (
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?"
        )
        return {r[0] for r in conn.execute(sql, (table,))}

    def _conn(self) -> Any:
        """This thread's connection: sqlite3.Connection, or a `postgres.PgConnection` (the
        same execute / executemany), opened on first use and again after a broken one."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(conn, "broken", False):
            conn.close()
            conn = self._local.conn = None
        if conn is None and self.url is not None:
            from phm.store.postgres import PgConnection

            try:
                conn = PgConnection(self.url, self.readonly)
            except sqlite3.Error as exc:
                raise PhmError(f"{self.path}: cannot connect to the state store ({exc})") from exc
            self._local.conn = conn
        if conn is None:
            if self.readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0)
                conn.execute("PRAGMA busy_timeout = 10000")
                conn.execute("PRAGMA query_only = ON")
            else:
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
                conn.execute("PRAGMA busy_timeout = 10000")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise PhmError(f"{self.path}: cannot use WAL journal mode (got {mode!r})")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close with their thread)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction (BEGIN IMMEDIATE; on PostgreSQL BEGIN and the writers' advisory
        lock): committed on exit, rolled back on error."""
        if self.readonly:
            raise PhmError(f"{self.path}: opened read-only; a write needs StateStore(path)")
        conn = self._conn()
        if self.url is None:
            conn.execute("BEGIN IMMEDIATE")
        else:
            conn.begin_write()  # BEGIN and the writers' lock (phm.store.postgres)
        try:
            yield conn
        except BaseException:
            if not getattr(conn, "broken", False):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read_sql(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        """A read-only query (`?` placeholders) on the store's tables, on either database."""
        return [tuple(r) for r in self._conn().execute(sql, tuple(args)).fetchall()]

    # -- ingest ------------------------------------------------------------------------------

    def register_assets(self, plant: Plant) -> None:
        """Insert or update every asset of `plant`."""
        rows = [(a.asset_id, a.type, a.site, a.line) for a in plant.assets.values()]
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO assets (asset_id, type, site, line) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (asset_id) DO UPDATE SET type = excluded.type, "
                "site = excluded.site, line = excluded.line",
                rows,
            )

    def assets(self) -> list[tuple[str, str, str, str]]:
        """(asset_id, type, site, line) of the registered assets, by id."""
        sql = "SELECT asset_id, type, site, line FROM assets ORDER BY asset_id"
        return [tuple(r) for r in self._conn().execute(sql)]

    def commit_ingest(
        self,
        segments: Iterable[Segment],
        seen: Iterable[tuple[str, str, int] | tuple[str, str, int, bytes | None]],
        dead: Iterable[DeadLetter] = (),
        counters: dict[str, int] | None = None,
    ) -> None:
        """Record, in ONE transaction, the lake segments written (`lake.Segment`s), the
        (asset, stream, seq[, digest]) keys accepted (digest: the content hash that tells an
        exact duplicate from a conflicting one), dead letters and counter increments. On any
        error (e.g. sqlite3.IntegrityError for a segment path already committed) nothing of
        the call is kept. Keys already seen are not an error (the first digest stays)."""
        now = time.time()
        seg_rows = [
            (lake_key(s.path), s.stream, s.asset, int(s.rows), float(s.t_min), float(s.t_max), now)
            for s in segments
        ]
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO segments (path, stream, asset, rows, t_min, t_max, committed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                seg_rows,
            )
            conn.executemany(
                "INSERT INTO ingest_seen (asset, stream, seq, digest) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (asset, stream, seq) DO NOTHING",
                [(k[0], k[1], int(k[2]), k[3] if len(k) > 3 else None) for k in seen],
            )
            conn.executemany(
                "INSERT INTO dead_letters (received_at, topic, reason, detail, payload, size, "
                "sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (d.received_at, d.topic, d.reason, d.detail, bytes(d.payload), d.size, d.sha256)
                    for d in dead
                ],
            )
            conn.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
                [(k, int(v)) for k, v in (counters or {}).items()],
            )

    def seen(self, keys: Iterable[tuple[str, str, int]]) -> set[tuple[str, str, int]]:
        """The subset of (asset, stream, seq) keys already committed."""
        return set(self.seen_digests(keys))

    def seen_digests(
        self, keys: Iterable[tuple[str, str, int]]
    ) -> dict[tuple[str, str, int], bytes | None]:
        """The keys already committed, with the content digest stored with each (None for
        keys committed without one)."""
        by_stream: dict[tuple[str, str], list[int]] = {}
        for a, s, q in keys:
            by_stream.setdefault((a, s), []).append(int(q))
        out: dict[tuple[str, str, int], bytes | None] = {}
        conn = self._conn()
        for (a, s), seqs in by_stream.items():
            for chunk in _chunks(sorted(set(seqs))):
                marks = ", ".join("?" * len(chunk))
                sql = (
                    "SELECT seq, digest FROM ingest_seen WHERE asset = ? AND stream = ? "
                    f"AND seq IN ({marks})"
                )
                for seq, digest in conn.execute(sql, [a, s, *chunk]):
                    out[(a, s, int(seq))] = None if digest is None else bytes(digest)
        return out

    def counters(self) -> dict[str, int]:
        """Every counter by name."""
        rows = self._conn().execute("SELECT name, value FROM counters ORDER BY name")
        return {name: int(value) for name, value in rows}

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest `limit` dead letters, newest first."""
        rows = self._conn().execute(
            "SELECT received_at, topic, reason, detail, payload, size, sha256 FROM dead_letters "
            "ORDER BY id DESC LIMIT ?",
            (int(limit),),
        )
        return [
            DeadLetter(
                r[0], r[1], r[2], r[3], bytes(r[4] or b""), -1 if r[5] is None else r[5], r[6] or ""
            )
            for r in rows
        ]

    def dead_lettered(self, topic: str, sha256: str) -> bool:
        """True when a dead letter of exactly this payload (by hash) on `topic` is stored."""
        row = self._conn().execute(
            "SELECT 1 FROM dead_letters WHERE sha256 = ? AND topic = ? LIMIT 1", (sha256, topic)
        )
        return row.fetchone() is not None

    def prune_dead_letters(self, older_than: float, max_bytes: int) -> int:
        """Delete dead letters received before `older_than` (Unix s), then the oldest until
        their stored payload bytes are at most `max_bytes`; return how many went. The
        counters keep the totals by reason."""
        with self.transaction() as conn:
            gone = conn.execute(
                "DELETE FROM dead_letters WHERE received_at < ?", (float(older_than),)
            ).rowcount
            total = conn.execute(
                "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM dead_letters"
            ).fetchone()[0]
            if total > max_bytes:
                # newest first; keep rows while their running total stays within max_bytes
                rows = conn.execute(
                    "SELECT id, COALESCE(LENGTH(payload), 0) FROM dead_letters ORDER BY id DESC"
                ).fetchall()
                running, cut = 0, None
                for row_id, size in rows:
                    running += size
                    if running > max_bytes:
                        cut = row_id
                        break
                if cut is not None:
                    gone += conn.execute("DELETE FROM dead_letters WHERE id <= ?", (cut,)).rowcount
        return gone

    def segment_paths(self) -> set[str]:
        """`lake_key`s of every committed segment."""
        return {r[0] for r in self._conn().execute("SELECT path FROM segments")}

    def orphan_segments(self, root: str | Path) -> list[Path]:
        """Lake files under `root` that no commit lists: `part-*.parquet` written by a worker
        that died before its commit, and leftover `*.tmp` files. Safe to delete at start."""
        root = Path(root)
        known = self.segment_paths()
        parts = [
            p for p in root.glob("*/asset=*/date=*/part-*.parquet") if lake_key(p) not in known
        ]
        return sorted(parts + list(root.glob("*/asset=*/date=*/*.tmp")))

    def replace_segments(self, new: Segment, old: Iterable[str | Path]) -> None:
        """After a compaction: list `new` (a `lake.Segment`) and forget the `old` paths, in one
        transaction (pass as `lake.compact(..., on_commit=store.replace_segments)`).

        Raises SegmentsChanged, keeping nothing, when one of `old` is no longer listed (another
        compaction replaced it first): listing `new` too would store its rows twice."""
        keys = [lake_key(p) for p in old]
        with self.transaction() as conn:
            listed = 0
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                q = f"SELECT count(*) FROM segments WHERE path IN ({marks})"
                listed += conn.execute(q, chunk).fetchone()[0]
            if listed != len(set(keys)):
                raise SegmentsChanged(
                    f"{self.path}: {len(set(keys)) - listed} of the {len(set(keys))} segments "
                    f"merged into {lake_key(new.path)} are no longer listed in `segments`"
                )
            conn.execute(
                "INSERT INTO segments (path, stream, asset, rows, t_min, t_max, committed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    lake_key(new.path),
                    new.stream,
                    new.asset,
                    int(new.rows),
                    float(new.t_min),
                    float(new.t_max),
                    time.time(),
                ),
            )
            conn.executemany("DELETE FROM segments WHERE path = ?", [(k,) for k in keys])

    # -- monitor: predictions ----------------------------------------------------------------

    def write_prediction(self, p: Prediction) -> int:
        """Store one prediction; return its id."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO predictions (asset_id, time, model, fault_probs, rul_median, "
                "rul_lower, rul_upper, health, expert_load, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    p.asset_id,
                    float(p.time),
                    p.model,
                    json.dumps(p.fault_probs),
                    p.rul_median,
                    p.rul_lower,
                    p.rul_upper,
                    p.health,
                    json.dumps(p.expert_load),
                    json.dumps(p.details),
                ),
            )
            return int(cur.lastrowid)

    @staticmethod
    def _prediction(r: tuple) -> Prediction:
        return Prediction(
            r[0],
            r[1],
            r[2],
            json.loads(r[3]),
            r[4],
            r[5],
            r[6],
            r[7],
            json.loads(r[8]),
            json.loads(r[9]),
        )

    _PRED_COLS = (
        "p.asset_id, p.time, p.model, p.fault_probs, p.rul_median, p.rul_lower, p.rul_upper, "
        "p.health, p.expert_load, p.details"
    )

    def latest_predictions(self, asset: str | None = None) -> list[Prediction]:
        """The newest prediction of each asset (ties on time: the last written), by asset; of
        `asset` alone when given (an empty list if it has none)."""
        if asset is not None:
            sql = (
                f"SELECT {self._PRED_COLS} FROM predictions p WHERE p.asset_id = ? "
                "ORDER BY p.time DESC, p.id DESC LIMIT 1"
            )
            return [self._prediction(r) for r in self._conn().execute(sql, (asset,))]
        sql = (
            f"SELECT {self._PRED_COLS} FROM (SELECT DISTINCT asset_id FROM predictions) a "
            "JOIN predictions p ON p.id = (SELECT q.id FROM predictions q "
            "WHERE q.asset_id = a.asset_id ORDER BY q.time DESC, q.id DESC LIMIT 1) "
            "ORDER BY p.asset_id"
        )
        return [self._prediction(r) for r in self._conn().execute(sql)]

    def predictions(self, asset: str, start: float | None = None) -> list[Prediction]:
        """Predictions of `asset` with time >= start, oldest first."""
        sql = f"SELECT {self._PRED_COLS} FROM predictions p WHERE p.asset_id = ?"
        args: list[Any] = [asset]
        if start is not None:
            sql += " AND p.time >= ?"
            args.append(float(start))
        sql += " ORDER BY p.time, p.id"
        return [self._prediction(r) for r in self._conn().execute(sql, args)]

    # -- monitor: alerts ---------------------------------------------------------------------

    @staticmethod
    def _check_severity(severity: str) -> None:
        if severity not in SEVERITIES:
            raise ValueError(f"alert severity {severity!r}: expected one of {SEVERITIES}")

    def _status(self, conn: Any, alert_id: int) -> tuple[str, str]:
        row = conn.execute("SELECT status, severity FROM alerts WHERE id = ?", (alert_id,))
        found = row.fetchone()
        if found is None:
            raise UnknownAlertError(f"{self.path}: no alert with id {alert_id}")
        return found[0], found[1]

    def open_alert(
        self,
        asset_id: str,
        kind: str,
        severity: str,
        message: str,
        details: dict[str, Any] | None = None,
        at: float | None = None,
        priority: str | None = None,
    ) -> int:
        """Open an alert (status 'open'); return its id. `severity` is 'watch' or 'alarm';
        `priority` its ISA-18.2 priority (phm.monitor.priority)."""
        self._check_severity(severity)
        at = time.time() if at is None else float(at)
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO alerts (asset_id, kind, severity, status, opened_at, updated_at, "
                "cleared_at, message, details, priority) "
                "VALUES (?, ?, ?, 'open', ?, ?, NULL, ?, ?, ?)",
                (asset_id, kind, severity, at, at, message, json.dumps(details or {}), priority),
            )
            alert_id = int(cur.lastrowid)
            self._keep_version(conn, alert_id, at)
            return alert_id

    def update_alert(
        self,
        alert_id: int,
        severity: str | None = None,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        at: float | None = None,
        keep_version: bool = True,
        priority: str | None = None,
    ) -> None:
        """Change an open or acknowledged alert. Escalating watch -> alarm re-opens an
        acknowledged alert, so the operator sees it again. A cleared alert raises ValueError.
        `keep_version`: also add the changed alert to its history (`alert_history`); a refresh
        that changes nothing an operator reads passes False."""
        if severity is not None:
            self._check_severity(severity)
        at = time.time() if at is None else float(at)
        with self.transaction() as conn:
            status, old = self._status(conn, alert_id)
            if status == "cleared":
                raise ValueError(f"alert {alert_id} is cleared: open a new one")
            if severity == "alarm" and old == "watch":
                status = "open"
            conn.execute(
                "UPDATE alerts SET severity = COALESCE(?, severity), "
                "message = COALESCE(?, message), details = COALESCE(?, details), "
                "priority = COALESCE(?, priority), status = ?, updated_at = ? WHERE id = ?",
                (
                    severity,
                    message,
                    None if details is None else json.dumps(details),
                    priority,
                    status,
                    at,
                    alert_id,
                ),
            )
            if keep_version:
                self._keep_version(conn, alert_id, at)

    def clear_alert(self, alert_id: int, at: float | None = None) -> None:
        """Mark an alert cleared (the condition is gone)."""
        at = time.time() if at is None else float(at)
        with self.transaction() as conn:
            self._status(conn, alert_id)
            conn.execute(
                "UPDATE alerts SET status = 'cleared', cleared_at = COALESCE(cleared_at, ?), "
                "updated_at = ? WHERE id = ?",
                (at, at, alert_id),
            )
            self._keep_version(conn, alert_id, at)

    @staticmethod
    def _keep_version(conn: Any, alert_id: int, at: float) -> None:
        conn.execute(
            "INSERT INTO alert_history (alert_id, at, severity, status, message, details) "
            "SELECT id, ?, severity, status, message, details FROM alerts WHERE id = ?",
            (at, alert_id),
        )

    def data_times(self) -> dict[str, tuple[float, float]]:
        """Per asset: (newest data time in its committed segments, wall time of its newest
        commit), both Unix s (the staleness and lost-communication checks)."""
        rows = self._conn().execute(
            "SELECT asset, max(t_max), max(committed_at) FROM segments GROUP BY asset"
        )
        return {a: (float(t), float(c)) for a, t, c in rows if t is not None}

    def scoring_intervals(self, since: float) -> dict[str, tuple[float, int, float]]:
        """Per asset with predictions of data time >= `since`: (their mean spacing in s (nan
        for one), how many, the newest's time); the monitor's scoring interval of the asset."""
        rows = self._conn().execute(
            "SELECT asset_id, min(time), max(time), count(*) FROM predictions WHERE time >= ? "
            "GROUP BY asset_id",
            (float(since),),
        )
        return {
            a: ((t1 - t0) / (n - 1) if n > 1 else float("nan"), int(n), float(t1))
            for a, t0, t1, n in rows
        }

    def alert_history(self, alert_id: int) -> list[AlertVersion]:
        """The recorded versions of an alert, oldest first (a store written before the
        history existed, read-only, has none)."""
        try:
            rows = (
                self._conn()
                .execute(
                    "SELECT alert_id, at, severity, status, message, details FROM alert_history "
                    "WHERE alert_id = ? ORDER BY at, id",
                    (int(alert_id),),
                )
                .fetchall()
            )
        except sqlite3.OperationalError as exc:  # no such table
            if "alert_history" not in str(exc):
                raise
            return []
        return [AlertVersion(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def acknowledge(self, alert_id: int, by: str, note: str, at: float | None = None) -> None:
        """Record that `by` acknowledged the alert with `note` (both required, non-empty);
        an open alert becomes 'acknowledged', a cleared one stays cleared. The audit trail
        (`operator_actions`) gets the action in the same transaction."""
        for name, value in (("by", by), ("note", note)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"acknowledge: {name!r} must be a non-empty string, got {value!r}")
        at = time.time() if at is None else float(at)
        with self.transaction() as conn:
            status, _ = self._status(conn, alert_id)
            conn.execute(
                "INSERT INTO acknowledgements (alert_id, by_name, note, at) VALUES (?, ?, ?, ?)",
                (alert_id, by.strip(), note.strip(), at),
            )
            conn.execute(  # the audit trail (phm.store.operator_log), in the same transaction
                "INSERT INTO operator_actions (at, by_name, action, alert_id, asset_id, note) "
                "SELECT ?, ?, 'acknowledge', id, asset_id, ? FROM alerts WHERE id = ?",
                (at, by.strip(), note.strip(), alert_id),
            )
            if status == "open":
                conn.execute(
                    "UPDATE alerts SET status = 'acknowledged', updated_at = ? WHERE id = ?",
                    (at, alert_id),
                )

    def alerts(self, status: str | None = None, asset: str | None = None) -> list[Alert]:
        """Alerts (optionally of one status and/or asset) with their acknowledgements,
        oldest first."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"alert status {status!r}: expected one of {STATUSES}")
        conn = self._conn()
        # a read-only store older than the priority column reads NULL; once there it stays
        if not self._has_priority:
            self._has_priority = "priority" in self._columns(conn, "alerts")
        priority = "priority" if self._has_priority else "NULL"
        sql = (
            "SELECT id, asset_id, kind, severity, status, opened_at, updated_at, cleared_at, "
            f"message, details, {priority} FROM alerts WHERE 1 = 1"
        )
        args: list[Any] = []
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        if asset is not None:
            sql += " AND asset_id = ?"
            args.append(asset)
        alerts = [
            Alert(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]), [], r[10])
            for r in conn.execute(sql + " ORDER BY id", args)
        ]
        by_id = {a.alert_id: a for a in alerts}
        for chunk in _chunks(list(by_id)):
            marks = ", ".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT alert_id, by_name, note, at FROM acknowledgements "
                f"WHERE alert_id IN ({marks}) ORDER BY at, id",
                chunk,
            )
            for alert_id, by, note, at in rows:
                by_id[alert_id].acknowledgements.append(Acknowledgement(by, note, at))
        return alerts

"""Payload codec: one compact binary frame for every stream, and its validation.

    b"PHM1" | header length (uint32 LE) | header (UTF-8 JSON object) | body (float32 LE)

Header keys: `seq` (int >= 0: per publisher and (asset, stream), strictly increasing; a
publisher starts it at its start time in microseconds so a restart never reuses one), `t0`
(float, Unix seconds of the first row or snapshot), `dt` (float >= 0, seconds between rows or
snapshots), `n` (rows or snapshots), `channels` (list of names, in the order of the stream's
spec in the plant registry), and for waveforms `fs` (samples per second) and `samples`. Events
carry `event` (an object with a string `kind`) and no body.
Body: rows (n, C) or waveform snapshots (n, C, samples), row-major float32 little-endian; one
reading is one value of one channel.

`decode` checks everything a receiver must not trust: the frame, the header as strict UTF-8
JSON (no lone surrogates in any string), each key's type, `seq` within SQLite's signed 64-bit
range, every timestamp within the plant's window around the ingest clock (`max_past_s` back,
`max_future_s` ahead; always within years 1970-9999), the channels against the stream's spec,
the body length, NaN/inf outside nullable channels and the size limit. Whatever passes can be
stored: a field that would make the lake or the state store fail is refused here. Any failure
raises PayloadError whose `reason` is a short code for counting and whose message says what
was expected.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from phm.plant import Plant, StreamSpec
from phm.records import Batch

__all__ = [
    "MAGIC",
    "SEQ_MAX",
    "TIME_MAX",
    "Batch",
    "PayloadError",
    "check_times",
    "decode",
    "encode",
]

MAGIC = b"PHM1"
_LEN = struct.Struct("<I")
_HEADER_MAX = 65536
SEQ_MAX = 2**63 - 1  # SQLite INTEGER and PostgreSQL BIGINT hold signed 64-bit values
TIME_MAX = 253402300799.0  # 9999-12-31T23:59:59Z: partition dates keep four digits


class PayloadError(ValueError):
    """A payload that cannot be accepted; `reason` is a short code, the message the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode(
    seq: int,
    t0: float,
    values: np.ndarray | None = None,
    channels: tuple[str, ...] | list[str] = (),
    dt: float = 0.0,
    fs: float = 0.0,
    event: dict[str, Any] | None = None,
) -> bytes:
    """A frame of rows (n, C), snapshots (n, C, L) or, with `event`, an event."""
    header: dict[str, Any] = {"seq": int(seq), "t0": float(t0), "dt": float(dt)}
    body = b""
    if event is not None:
        header |= {"n": 0, "channels": [], "event": event}
    else:
        arr = np.ascontiguousarray(values, dtype="<f4")
        header |= {"n": int(arr.shape[0]), "channels": list(channels)}
        if arr.ndim == 3:
            header |= {"fs": float(fs), "samples": int(arr.shape[2])}
        body = arr.tobytes()
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + _LEN.pack(len(head)) + head + body


def _number(header: dict[str, Any], key: str, default: float | None = None) -> float:
    """A header number as float; a missing key gives `default` (None: required)."""
    if key not in header and default is not None:
        return default
    value = _field(header, key, (int, float))
    try:
        return float(value)
    except OverflowError:
        raise PayloadError("bad_value", f"header {key!r} = {value!r} is out of range") from None


def _field(header: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in header:
        raise PayloadError("missing_field", f"header lacks {key!r}")
    value = header[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise PayloadError("bad_type", f"header {key!r} = {value!r}: expected {kind}")
    return value


def _check_text(header: dict[str, Any]) -> None:
    """Every key and string of the header encodes as UTF-8 (JSON escapes such as "\\ud800"
    decode to lone surrogates, which no store can write)."""
    stack: list[Any] = [header]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise PayloadError(
                    "bad_text", f"header string {item[:40]!r} is not valid UTF-8 (lone surrogate)"
                ) from None
        elif isinstance(item, float) and not math.isfinite(item):
            raise PayloadError("bad_value", f"header holds {item!r}: expected finite numbers")


def _check_times(first: float, last: float, plant: Plant, now: float | None) -> None:
    """The first and last time lie in [now - max_past_s, now + max_future_s] and always in
    [0, TIME_MAX] (Unix s)."""
    if now is not None and last > now + plant.max_future_s:
        raise PayloadError(
            "future_timestamp",
            f"last time {last:.3f} is more than {plant.max_future_s:g} s ahead of {now:.3f}",
        )
    if now is not None and first < now - plant.max_past_s:
        raise PayloadError(
            "past_timestamp",
            f"first time {first:.3f} is more than {plant.max_past_s:g} s (max_past_s) "
            f"before {now:.3f}",
        )
    if not (0.0 <= first <= TIME_MAX and 0.0 <= last <= TIME_MAX):
        raise PayloadError(
            "bad_time", f"times {first!r} .. {last!r}: expected Unix seconds in 1970-9999"
        )


check_times = _check_times  # public: phm.ingest.sparkplug checks its rows the same way


def decode(
    payload: bytes, asset: str, stream: str, plant: Plant, now: float | None = None
) -> Batch:
    """Validate and decode one payload published on `asset`'s `stream` (see module doc)."""
    if len(payload) > plant.max_payload_bytes:
        raise PayloadError(
            "oversize", f"{len(payload)} bytes > the limit of {plant.max_payload_bytes}"
        )
    try:
        spec = plant.stream(asset, stream)
    except KeyError as exc:
        reason = "unknown_asset" if asset not in plant.assets else "unknown_stream"
        raise PayloadError(reason, str(exc.args[0])) from None
    if payload[:4] != MAGIC or len(payload) < 8:
        raise PayloadError("bad_frame", f"expected the {MAGIC!r} frame, got {payload[:8]!r}")
    (hlen,) = _LEN.unpack_from(payload, 4)
    if hlen > _HEADER_MAX or 8 + hlen > len(payload):
        raise PayloadError("bad_frame", f"header length {hlen} does not fit the payload")
    try:
        # bytes given to json.loads may be read as UTF-16/32: decode strictly as UTF-8 first
        header = json.loads(payload[8 : 8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError("bad_header", f"header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise PayloadError("bad_header", "header is not a JSON object")
    _check_text(header)
    seq = _field(header, "seq", int)
    t0 = _number(header, "t0")
    dt = _number(header, "dt", 0.0)
    n = _field(header, "n", int)
    if seq < 0 or n < 0 or not math.isfinite(t0) or not math.isfinite(dt) or dt < 0:
        raise PayloadError("bad_value", f"seq {seq}, n {n}, t0 {t0}, dt {dt}: expected >= 0")
    if seq > SEQ_MAX:
        raise PayloadError("bad_value", f"seq {seq}: expected at most 2**63 - 1 ({SEQ_MAX})")
    _check_times(t0, t0 + dt * max(n - 1, 0), plant, now)
    body = payload[8 + hlen :]
    if spec.kind == "event":
        event = _field(header, "event", dict)
        if not isinstance(event.get("kind"), str) or body:
            raise PayloadError("bad_event", "an event needs event.kind (string) and no body")
        return Batch(asset, stream, seq, t0, dt, (), np.zeros((0, 0), np.float32), event=event)
    channels = tuple(_field(header, "channels", list))
    if channels != spec.channels:
        raise PayloadError(
            "bad_channels", f"channels {list(channels)}: expected {list(spec.channels)}"
        )
    values = _body(body, n, spec, header)
    bad = ~np.isfinite(values)
    if bad.any():
        allowed = np.array([c in spec.nullable for c in spec.channels])
        allowed = allowed[None, :] if values.ndim == 2 else allowed[None, :, None]
        offending = bad & ~(np.isnan(values) & allowed)
        if offending.any():
            idx = np.argwhere(offending)[0]
            raise PayloadError(
                "not_finite", f"NaN/inf in channel {spec.channels[idx[1]]!r} (row {idx[0]})"
            )
    fs = _number(header, "fs") if spec.kind == "waveform" else 0.0
    return Batch(asset, stream, seq, t0, dt, channels, values, fs=fs)


def _body(body: bytes, n: int, spec: StreamSpec, header: dict[str, Any]) -> np.ndarray:
    c = len(spec.channels)
    if spec.kind == "waveform":
        samples = _field(header, "samples", int)
        fs = _number(header, "fs")
        if samples != spec.samples or not math.isclose(fs, spec.sampling_hz):
            raise PayloadError(
                "bad_shape",
                f"{samples} samples at {fs:g} Hz: expected {spec.samples} at {spec.sampling_hz:g}",
            )
        shape: tuple[int, ...] = (n, c, samples)
    else:
        shape = (n, c)
    expected = 4 * math.prod(shape)
    if len(body) != expected:
        raise PayloadError("bad_length", f"body of {len(body)} bytes: expected {expected} {shape}")
    return np.frombuffer(body, dtype="<f4").reshape(shape)

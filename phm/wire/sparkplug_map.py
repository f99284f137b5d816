"""Which Sparkplug B edge node, device and metric carry which asset's stream and channel.

The plant TOML's optional `[sparkplug]` table (without it, every default below holds):

    [sparkplug]
    group = "phm"                       # the Sparkplug group id
    edge_node = "{site}-{line}"         # an asset's edge node ({site} {line} {type} {asset})
    device = "{asset}"                  # an asset's device id (same placeholders)
    [sparkplug.metrics.pump]            # a type's metric name -> "stream/channel"
    "Temperature/Bearing DE" = "temperature/bearing_de_c"
    [sparkplug.assets.pump-001]         # one asset's edge node, device and/or metrics
    edge_node = "gw-7"
    device = "P-101"

A type without a `metrics` table maps every channel of its `rows` streams by the name
`<stream>/<channel>`. Only rows streams can be mapped (one scalar metric per channel); the
channels of a stream that no metric names must be `nullable` (they land as NaN). Errors name
the file and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phm.errors import ConfigError

DEFAULT_GROUP = "phm"
DEFAULT_EDGE_NODE = "{site}-{line}"
DEFAULT_DEVICE = "{asset}"
_KEYS = {"group", "edge_node", "device", "metrics", "assets"}
_ASSET_KEYS = {"edge_node", "device", "metrics"}


@dataclass(frozen=True)
class DeviceMap:
    """One asset as a Sparkplug device: its metric name -> (stream, channel)."""

    asset: str
    edge_node: str
    device: str
    metrics: dict[str, tuple[str, str]]

    def streams(self) -> dict[str, list[str]]:
        """stream -> the metric names of its channels, in the order the metrics are listed."""
        out: dict[str, list[str]] = {}
        for name, (stream, _channel) in self.metrics.items():
            out.setdefault(stream, []).append(name)
        return out


@dataclass(frozen=True)
class SparkplugMap:
    """The resolved mapping: `devices[(edge_node, device)]` and `by_asset[asset]`."""

    group: str
    devices: dict[tuple[str, str], DeviceMap] = field(default_factory=dict)
    source: str = ""

    @property
    def by_asset(self) -> dict[str, DeviceMap]:
        return {d.asset: d for d in self.devices.values()}

    @property
    def edge_nodes(self) -> list[str]:
        return sorted({node for node, _ in self.devices})


def _level(value: Any, where: str) -> str:
    """A topic level: a non-empty string without / + # and outer blanks."""
    if not isinstance(value, str) or not value or any(c in value for c in "/+#"):
        raise ConfigError(f"{where} = {value!r}: expected a non-empty MQTT topic level")
    if value.strip() != value:
        raise ConfigError(f"{where} = {value!r}: no leading or trailing blanks")
    return value


def _fill(template: Any, asset: Any, where: str) -> str:
    if not isinstance(template, str):
        raise ConfigError(f"{where} = {template!r}: expected a string")
    try:
        text = template.format(
            site=asset.site, line=asset.line, type=asset.type, asset=asset.asset_id
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"{where} = {template!r}: bad placeholder {exc} (known: site, line, type, asset)"
        ) from None
    return _level(text, where)


def _metrics(raw: Any, type_: Any, where: str) -> dict[str, tuple[str, str]]:
    """metric name -> (stream, channel) of a `metrics` table (None: the defaults)."""
    if raw is None:
        return {
            f"{s.name}/{c}": (s.name, c)
            for s in type_.streams.values()
            if s.kind == "rows"
            for c in s.channels
        }
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f'{where}: expected a table of metric name = "stream/channel"')
    out: dict[str, tuple[str, str]] = {}
    for name, target in raw.items():
        key = f"{where}.{name!r}"
        stream, _, channel = target.partition("/") if isinstance(target, str) else ("", "", "")
        spec = type_.streams.get(stream)
        if spec is None or spec.kind != "rows":
            rows = [s.name for s in type_.streams.values() if s.kind == "rows"]
            raise ConfigError(
                f'{key} = {target!r}: expected "stream/channel" of a rows stream of type '
                f"{type_.name!r} ({rows})"
            )
        if channel not in spec.channels:
            raise ConfigError(
                f"{key} = {target!r}: stream {stream!r} has channels {list(spec.channels)}"
            )
        if (stream, channel) in out.values():
            raise ConfigError(f"{key} = {target!r}: another metric already maps to it")
        out[str(name)] = (stream, channel)
    for stream in {s for s, _ in out.values()}:
        spec = type_.streams[stream]
        mapped = {c for s, c in out.values() if s == stream}
        missing = [c for c in spec.channels if c not in mapped and c not in spec.nullable]
        if missing:
            raise ConfigError(
                f"{where}: stream {stream!r} channels {missing} have no metric and are not "
                "nullable: a row needs them"
            )
    return out


def parse_sparkplug_map(raw: Any, plant: Any, source: str) -> SparkplugMap:
    """The mapping of a `[sparkplug]` table (`raw`; None or {}: every default) for `plant`'s
    types and assets; ConfigError names `source` and the key."""
    raw = {} if raw is None else raw
    where = f"{source}: [sparkplug]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    extra = set(raw) - _KEYS
    if extra:
        raise ConfigError(f"{where}: unknown keys {sorted(extra)} (expected {sorted(_KEYS)})")
    group = _level(raw.get("group", DEFAULT_GROUP), f"{where} group")
    metrics_raw = raw.get("metrics", {})
    assets_raw = raw.get("assets", {})
    for key, table in (("metrics", metrics_raw), ("assets", assets_raw)):
        if not isinstance(table, dict):
            raise ConfigError(f"{where} {key}: expected a table")
    for name in metrics_raw:
        if name not in plant.types:
            raise ConfigError(f"{source}: [sparkplug.metrics.{name}]: unknown asset type")
    for name in assets_raw:
        if name not in plant.assets:
            raise ConfigError(f"{source}: [sparkplug.assets.{name}]: unknown asset")
    per_type = {
        name: _metrics(metrics_raw.get(name), t, f"{source}: [sparkplug.metrics.{name}]")
        for name, t in plant.types.items()
    }
    devices: dict[tuple[str, str], DeviceMap] = {}
    for aid, asset in plant.assets.items():
        own = assets_raw.get(aid, {})
        at = f"{source}: [sparkplug.assets.{aid}]"
        if not isinstance(own, dict) or set(own) - _ASSET_KEYS:
            raise ConfigError(f"{at}: expected a table with keys {sorted(_ASSET_KEYS)}")
        node = _fill(
            own.get("edge_node", raw.get("edge_node", DEFAULT_EDGE_NODE)), asset, f"{at} edge_node"
        )
        device = _fill(own.get("device", raw.get("device", DEFAULT_DEVICE)), asset, f"{at} device")
        if "metrics" in own:
            metrics = _metrics(own["metrics"], plant.types[asset.type], f"{at} metrics")
        else:
            metrics = per_type[asset.type]
        if not metrics:
            continue  # nothing of this asset travels as Sparkplug (e.g. only waveforms)
        if (node, device) in devices:
            other = devices[node, device].asset
            raise ConfigError(
                f"{at}: edge node {node!r} device {device!r} is also asset {other!r}'s"
            )
        devices[node, device] = DeviceMap(aid, node, device, metrics)
    return SparkplugMap(group, devices, source)

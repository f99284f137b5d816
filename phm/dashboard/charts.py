"""The dashboard's charts (Vega-Lite specs, drawn by `st.vega_lite_chart`) and display rules, as
plain functions (no Streamlit): every chart gets a title and axis titles with units, one time
base (plant time, the data's own timestamps, in UTC), channels grouped one chart per unit,
categorical channels kept out of line charts, the ISO 20816 zone bands behind the vibration
velocity, and the knowledge graph's own labels on the evidence graph.

Why Vega-Lite, not plotly: a browser opening a page with any plotly chart spent about a second
loading and starting plotly.js (4.7 MB) before drawing it, on every visit (a new Streamlit
session); Vega-Lite, also bundled with Streamlit, draws the same charts about 0.6 s sooner
(docs/BENCHMARKS.md, issue 19), and a spec is a plain dict, cheap to build on the server. The
data travels inline in each spec, NaN as a gap.

Units: the plant config names channels, not units, so the unit of a channel comes from its
name's suffix (`_rpm`, `_pct`, `_kpa`, `_m3h`, `_c`); the PHM 2018 ion mill columns carry no
units in the challenge data, so they are grouped by the quantity their name states (voltage,
current, pressure, ...) and labelled "as logged".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TIME_AXIS = "plant time (UTC)"
ZONE_COLORS = {
    "A": "rgba(44,160,44,0.16)",
    "B": "rgba(188,189,34,0.16)",
    "C": "rgba(255,127,14,0.18)",
    "D": "rgba(214,39,40,0.18)",
}
ZONE_MEANING = {
    "A": "new machine",
    "B": "unrestricted operation",
    "C": "restricted operation",
    "D": "damage",
}
RANK_COLORS = ["#d62728", "#ff7f0e", "#1f77b4", "#7f7f7f", "#9467bd"]
# (name suffix, unit, quantity) of the pump channels
SUFFIX_UNITS = (
    ("_rpm", "rpm", "speed"),
    ("_pct", "%", "load"),
    ("_kpa", "kPa", "pressure"),
    ("_m3h", "m³/h", "flow"),
    ("_c", "°C", "temperature"),
)
# (word in an ion mill column name, quantity); the first match wins
QUANTITY_WORDS = (
    ("VOLTAGE", "voltage"),
    ("CURRENT", "current"),
    ("PRESSURE", "pressure"),
    ("FLOWRATE", "flow rate"),
    ("READBACK", "gas flow readback"),
    ("ANGLE", "angle"),
    ("SPEED", "rotation speed"),
    ("POSITION", "shutter position"),
    ("USAGE", "source usage"),
    ("TIMER", "source timers"),
    ("DURATION", "step duration"),
)
# context codes: identifiers and step numbers, drawn as a table of changes, never as lines
CATEGORICAL = frozenset({"stage", "lot", "runnum", "recipe", "recipe_step", "tool"})


@dataclass(frozen=True)
class ChannelGroup:
    """Channels drawn on one chart: one quantity in one unit."""

    quantity: str
    unit: str
    channels: tuple[str, ...]

    @property
    def axis_title(self) -> str:
        """`pressure (kPa)`; a quantity logged without a unit stands alone."""
        return self.quantity if self.unit == "as logged" else f"{self.quantity} ({self.unit})"


def is_categorical(channel: str) -> bool:
    """True for context codes (lot, run number, recipe, stage, step): not a measurement."""
    return channel.lower() in CATEGORICAL


def channel_unit(channel: str) -> tuple[str, str]:
    """(quantity, unit) of a numeric channel, from its name (see the module doc)."""
    low = channel.lower()
    for suffix, unit, quantity in SUFFIX_UNITS:
        if low.endswith(suffix):
            return quantity, unit
    up = channel.upper()
    for word, quantity in QUANTITY_WORDS:
        if word in up:
            return quantity, "as logged"
    return channel, "as logged"


def channel_groups(channels: Sequence[str]) -> list[ChannelGroup]:
    """The numeric channels grouped one chart per (quantity, unit), in first-seen order; the
    categorical ones are left out (`is_categorical`)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for c in channels:
        if not is_categorical(c):
            groups.setdefault(channel_unit(c), []).append(c)
    return [ChannelGroup(q, u, tuple(cs)) for (q, u), cs in groups.items()]


def readable(name: str) -> str:
    """A channel or mode name for a legend: `bearing_de_c` -> `bearing de`."""
    for suffix, _, _ in SUFFIX_UNITS:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ")


def times_ms(t: np.ndarray | Sequence[float]) -> list[float | None]:
    """Unix seconds (or datetime64) -> epoch milliseconds, as Vega-Lite reads a time."""
    arr = np.asarray(t)
    if np.issubdtype(arr.dtype, np.datetime64):
        arr = arr.astype("datetime64[ms]").astype(np.int64).astype(np.float64)
    else:
        arr = arr.astype(np.float64) * 1e3
    return _clean(arr)


def _clean(values: np.ndarray | Sequence[float]) -> list[float | None]:
    """Floats for JSON: NaN and infinities become None (a gap in a line)."""
    arr = np.asarray(values, dtype=np.float64)
    return [None if not np.isfinite(v) else float(v) for v in arr]


def rounded(values: np.ndarray | Sequence[float], digits: int = 5) -> list[float | None]:
    """`_clean` to `digits` significant digits: all a chart shows, and a smaller page."""
    arr = np.asarray(values, dtype=np.float64)
    out: list[float | None] = []
    for v in arr:
        out.append(None if not np.isfinite(v) else float(f"{v:.{digits}g}"))
    return out


def time_x(title: str | None = TIME_AXIS, field: str = "t") -> dict:
    """The time axis: plant time, UTC (one time base on every chart)."""
    return {
        "field": field,
        "type": "temporal",
        "title": title,
        "scale": {"type": "utc"},
        "axis": {"format": "%b %d %H:%M", "formatType": "utc", "labelOverlap": True},
    }


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
# legends above the plot; distinct series colours (the Streamlit theme's are shades of blue)
CONFIG = {
    "legend": {"orient": "top", "direction": "horizontal", "title": None},
    "range": {"category": PALETTE},
}


def spec(title: str, layers: list[dict], height: int = 300, **kw: object) -> dict:
    """A Vega-Lite chart: a left-aligned title, the given layers, legend above the plot."""
    out = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": {"text": title, "anchor": "start", "fontSize": 13},
        "height": height,
        "layer": layers,
        "config": CONFIG,
    }
    out.update(kw)
    return out


def y_axis(
    title: str,
    domain: Sequence[float] | None = None,
    fmt: str | None = None,
    zero: bool = False,
    field: str = "y",
) -> dict:
    """A quantitative y encoding with its title (unit included) and an optional fixed domain."""
    enc: dict = {"field": field, "type": "quantitative", "title": title}
    scale: dict = {"zero": zero}
    if domain is not None:
        scale["domain"] = [float(domain[0]), float(domain[1])]
        scale["clamp"] = True
    enc["scale"] = scale
    if fmt:
        enc["axis"] = {"format": fmt}
    return enc


def series_layer(
    x: np.ndarray,
    series: dict[str, np.ndarray],
    y: dict,
    points: bool = False,
    colors: dict[str, str] | None = None,
) -> dict:
    """One line per named series over the same time stamps (long-format inline data)."""
    t = times_ms(x)
    values = [
        {"t": ti, "y": yi, "series": readable(name)}
        for name, ys in series.items()
        for ti, yi in zip(t, rounded(ys), strict=True)
    ]
    color: dict = {"field": "series", "type": "nominal", "title": None}
    if colors:
        color["scale"] = {
            "domain": [readable(k) for k in colors],
            "range": list(colors.values()),
        }
    return {
        "data": {"values": values},
        "mark": {"type": "line", "point": points, "strokeWidth": 1.6},
        "encoding": {
            "x": time_x(),
            "y": y,
            "color": color,
            "tooltip": [
                {"field": "series", "title": "series"},
                {
                    "field": "t",
                    "type": "temporal",
                    "title": "time (UTC)",
                    "format": "%Y-%m-%d %H:%M:%S",
                    "formatType": "utc",
                },
                {"field": "y", "type": "quantitative", "title": y.get("title", "value")},
            ],
        },
    }


def rule_y(
    value: float,
    label: str,
    color: str = "#7f7f7f",
    dash: Sequence[int] = (4, 3),
    where: str = "left",
) -> list[dict]:
    """A horizontal reference line at `value` with its label just above it."""
    return [
        {
            "data": {"values": [{"v": float(value), "label": label}]},
            "mark": {"type": "rule", "color": color, "strokeDash": list(dash)},
            "encoding": {"y": {"field": "v", "type": "quantitative"}},
        },
        {
            "data": {"values": [{"v": float(value), "label": label}]},
            "mark": {
                "type": "text",
                "align": where,
                "baseline": "bottom",
                "dy": -2,
                "color": "#555",
                "fontSize": 10,
                **({"x": 4} if where == "left" else {"x": {"expr": "width - 4"}}),
            },
            "encoding": {"y": {"field": "v", "type": "quantitative"}, "text": {"field": "label"}},
        },
    ]


def lines(
    x: np.ndarray,
    series: dict[str, np.ndarray],
    title: str,
    y_title: str,
    points: bool = False,
    domain: Sequence[float] | None = None,
    fmt: str | None = None,
    extra: Sequence[dict] = (),
    height: int = 300,
) -> dict:
    """One line per named series over plant time, titled, with the y axis' unit."""
    layer = series_layer(x, series, y_axis(y_title, domain, fmt), points)
    return spec(title, [*extra, layer], height)


def stacked(
    x: np.ndarray, groups: list[ChannelGroup], columns: dict[str, np.ndarray], title: str
) -> list[dict]:
    """One chart per channel group (one unit each) on the same time axis, titled
    `{title}: {quantity}`, colours running on across the groups."""
    out, k = [], 0
    for g in groups:
        chans = {c: columns[c] for c in g.channels if c in columns}
        colors = {c: PALETTE[(k + j) % len(PALETTE)] for j, c in enumerate(chans)}
        k += len(chans)
        layer = series_layer(x, chans, y_axis(g.axis_title), colors=colors)
        out.append(spec(f"{title}: {g.quantity}", [layer], 220))
    return out


def zone_axis_top(boundaries: tuple[float, float, float]) -> float:
    """The velocity axis' top: 1.5 x the C/D boundary, so zone D shows as a band."""
    return 1.5 * boundaries[2]


def severity_figure(
    x: np.ndarray,
    velocity: dict[str, np.ndarray],
    boundaries: tuple[float, float, float] | None,
    label: str = "",
) -> dict:
    """Velocity RMS (mm/s) per channel over time on the ISO 20816 zone bands A-D of the
    asset's machine group (`boundaries`: the A/B, B/C and C/D limits), on a fixed axis from 0
    to above zone D (an autoscaled axis makes a steady machine look noisy); a reading above
    the axis raises its top."""
    top = None
    bands: list[dict] = []
    if boundaries is not None:
        top = zone_axis_top(boundaries)
        peak = max((float(np.nanmax(v)) for v in velocity.values() if len(v)), default=0.0)
        top = max(top, 1.1 * peak) if np.isfinite(peak) else top
        edges = (0.0, *boundaries, top)
        zones = [
            {
                "lo": float(lo),
                "hi": float(hi),
                "mid": (lo + hi) / 2,
                "zone": zone,
                "label": f"zone {zone}: {ZONE_MEANING[zone]}",
                "fill": ZONE_COLORS[zone],
            }
            for zone, lo, hi in zip("ABCD", edges, edges[1:], strict=False)
        ]
        bands = [
            {
                "data": {"values": zones},
                "mark": {"type": "rect", "x": 0, "x2": {"expr": "width"}},
                "encoding": {
                    "y": {"field": "lo", "type": "quantitative"},
                    "y2": {"field": "hi"},
                    "fill": {"field": "fill", "type": "nominal", "scale": None},
                    "tooltip": [{"field": "label"}],
                },
            },
            {
                "data": {"values": zones},
                "mark": {
                    "type": "text",
                    "align": "right",
                    "x": {"expr": "width - 4"},
                    "fontSize": 10,
                    "color": "#555",
                },
                "encoding": {
                    "y": {"field": "mid", "type": "quantitative"},
                    "text": {"field": "label"},
                },
            },
        ]
    title = "vibration severity: velocity RMS 10-1000 Hz (ISO 20816)"
    title += f", {label}" if label else ""
    domain = (0.0, top) if top else None
    layer = series_layer(
        x, velocity, y_axis("velocity RMS (mm/s)", domain, zero=True), points=len(x) < 60
    )
    return spec(title, [*bands, layer], 320)


def comparison_figure(
    x: np.ndarray,
    own: np.ndarray,
    sisters: dict[str, np.ndarray] | None,
    baseline: float | None,
    asset: str,
    y_title: str,
    title: str,
    y_range: tuple[float, float] | None = None,
) -> dict:
    """The asset's trend against its sister assets (median and 10-90% band per time bucket)
    and against its own baseline (a horizontal line)."""
    layers: list[dict] = []
    names, colors = [], []
    if sisters is not None and len(sisters["median"]):
        band = f"sister assets 10-90% (n={sisters['n']})"
        t = times_ms(sisters["time"])
        rows = [
            {"t": ti, "lo": lo, "hi": hi, "med": me, "band": band, "median": "sisters' median"}
            for ti, lo, hi, me in zip(
                t,
                rounded(sisters["p10"]),
                rounded(sisters["p90"]),
                rounded(sisters["median"]),
                strict=True,
            )
        ]
        layers += [
            {
                "data": {"values": rows},
                "mark": {"type": "area", "opacity": 0.25},
                "encoding": {
                    "x": time_x(),
                    "y": y_axis(y_title, y_range, field="lo"),
                    "y2": {"field": "hi"},
                    "color": {"field": "band", "type": "nominal"},
                },
            },
            {
                "data": {"values": rows},
                "mark": {"type": "line", "strokeDash": [6, 4]},
                "encoding": {
                    "x": time_x(),
                    "y": {"field": "med", "type": "quantitative"},
                    "color": {"field": "median", "type": "nominal"},
                },
            },
        ]
        names += [band, "sisters' median"]
        colors += ["#7f7f7f", "#7f7f7f"]
    own_layer = series_layer(x, {asset: own}, y_axis(y_title, y_range), points=len(x) < 60)
    own_layer["mark"]["strokeWidth"] = 2.5
    layers.append(own_layer)
    names.append(readable(asset))
    colors.append("#1f77b4")
    if baseline is not None and np.isfinite(baseline):
        layers += rule_y(baseline, "own baseline (first day)", "#2ca02c", (2, 2))
    out = spec(title, layers)
    out["resolve"] = {"scale": {"color": "shared"}}
    out["encoding"] = {"color": {"scale": {"domain": names, "range": colors}}}
    for layer in layers:  # one legend: every series' color from the shared scale
        if "color" in layer.get("encoding", {}):
            layer["encoding"]["color"]["scale"] = {"domain": names, "range": colors}
    return out


def bars(
    x: Sequence,
    y: Sequence[float],
    title: str,
    y_title: str,
    x_title: str | None,
    series: Sequence[str] | None = None,
    per: str | None = None,
    height: int = 250,
    integer: bool = True,
) -> dict:
    """A bar chart; with `per` ("hours" or "minutes"), x is plant time (epoch seconds), one
    bar per hour or minute, else x are categories in the given order; `series` names each
    bar's series (stacked, with a legend). Counts get whole-number ticks (`integer`)."""
    xs = times_ms(x) if per else [str(v) for v in x]
    values = [
        {"x": xi, "y": float(yi), "series": None if series is None else series[i]}
        for i, (xi, yi) in enumerate(zip(xs, y, strict=True))
    ]
    if per:
        xenc = time_x(x_title, "x")
        xenc["timeUnit"] = {
            "hours": "utcyearmonthdatehours",
            "minutes": "utcyearmonthdatehoursminutes",
        }[per]
        tip_x = {
            "field": "x",
            "type": "temporal",
            "title": f"{per[:-1]} (UTC)",
            "timeUnit": xenc["timeUnit"],
            "format": "%Y-%m-%d %H:%M",
            "formatType": "utc",
        }
    else:
        xenc = {
            "field": "x",
            "type": "nominal",
            "title": x_title,
            "sort": None,
            "axis": {"labelAngle": 0},
        }
        tip_x = {"field": "x", "title": x_title or "x"}
    yenc: dict = {"field": "y", "type": "quantitative", "title": y_title, "aggregate": "sum"}
    if integer:
        yenc["axis"] = {"format": "d", "tickMinStep": 1}
    enc: dict = {
        "x": xenc,
        "y": yenc,
        "tooltip": [tip_x, {"field": "y", "title": y_title, "aggregate": "sum"}],
    }
    mark: dict = {"type": "bar"}
    if series is None:
        mark["color"] = "#4c78a8"
    else:
        enc["color"] = {"field": "series", "type": "nominal", "title": None}
        enc["tooltip"].append({"field": "series"})
    return spec(title, [{"data": {"values": values}, "mark": mark, "encoding": enc}], height)


def heatmap(
    x: Sequence,
    y: Sequence[str],
    z: np.ndarray,
    title: str,
    x_title: str | None,
    y_title: str,
    time: bool = False,
    legend: str = "share",
) -> dict:
    """Cells of z[y][x] coloured on a sequential blue scale from 0."""
    xs = times_ms(x) if time else [str(v) for v in x]
    values = [
        {"x": xi, "y": yi, "z": zi}
        for yi, row in zip(y, z, strict=True)
        for xi, zi in zip(xs, rounded(row, 3), strict=True)
    ]
    xenc = time_x(x_title, "x") if time else {"field": "x", "type": "ordinal", "title": x_title}
    layer = {
        "data": {"values": values},
        "mark": {"type": "rect"},
        "encoding": {
            "x": xenc,
            "y": {"field": "y", "type": "ordinal", "title": y_title, "sort": list(y)},
            "color": {
                "field": "z",
                "type": "quantitative",
                "title": legend,
                "scale": {"scheme": "blues", "domainMin": 0},
            },
            "tooltip": [{"field": "y"}, {"field": "z", "title": legend}],
        },
    }
    return spec(title, [layer])


def is_symptom(node: str) -> bool:
    """Symptom nodes of the graphs have ids `s.<name>`."""
    return node.startswith("s.")


def evidence_layout(
    causes: list[dict],
) -> tuple[dict[str, tuple[float, float]], list[tuple[str, str, int]]]:
    """Node places and edges of the causes' evidence paths. A path runs cause -> mechanism ->
    fault mode, then lists the symptoms that bear it out: the chain goes left to right (x =
    place along it) and the symptoms share the last column, fanned out from the chain's end.
    Each column's nodes are spread evenly down the plot, so no two share a place. Returns
    ({node: (x, y)}, [(a, b, rank)]) with rank the cause's index (0 = top)."""
    columns: dict[int, list[str]] = {}
    edges: list[tuple[str, str, int]] = []
    chains = [[n for n in c.get("path") or [] if not is_symptom(n)] for c in causes]
    last = max((len(ch) for ch in chains), default=0)
    placed: set[str] = set()
    for rank, (c, chain) in enumerate(zip(causes, chains, strict=True)):
        symptoms = [n for n in c.get("path") or [] if is_symptom(n)]
        for x, node in enumerate(chain):
            if node not in placed:
                columns.setdefault(x, []).append(node)
                placed.add(node)
        for node in symptoms:
            if node not in placed:
                columns.setdefault(last, []).append(node)
                placed.add(node)
        edges += [(a, b, rank) for a, b in itertools.pairwise(chain)]
        if chain:
            edges += [(chain[-1], n, rank) for n in symptoms]
    depth = max((len(v) for v in columns.values()), default=1)
    pos = {
        node: (float(x), -(i + 0.5) * depth / len(nodes))
        for x, nodes in columns.items()
        for i, node in enumerate(nodes)
    }
    return pos, list(dict.fromkeys(edges))


def cause_figure(causes: list[dict], labels: dict[str, str]) -> dict:
    """The evidence paths of ranked causes (`evidence_layout`), labelled with the knowledge
    graph's own labels (`labels`: node id -> label; an id without one is shown without its
    `x.` prefix and underscores); the top cause's edges bold. Edges run left to right."""
    pos, edges = evidence_layout(causes)
    width = max((p[0] for p in pos.values()), default=0.0)
    depth = max((-p[1] for p in pos.values()), default=0.5) + 0.5
    xs = {
        "field": "x",
        "type": "quantitative",
        "axis": None,
        "scale": {"domain": [-0.5, width + 1.4]},
    }  # room for the symptoms' labels
    ys = {
        "field": "y",
        "type": "quantitative",
        "axis": None,
        "scale": {"domain": [-depth - 0.2, 0.3]},
    }
    links = [
        {
            "x": pos[a][0],
            "y": pos[a][1],
            "x2": pos[b][0],
            "y2": pos[b][1],
            "rank": rank,
            "w": 3.0 if rank == 0 else 1.5,
            "color": RANK_COLORS[min(rank, len(RANK_COLORS) - 1)],
        }
        for a, b, rank in reversed(edges)
    ]
    nodes = [
        {
            "x": x,
            "y": y,
            "id": n,
            "label": node_label(n, labels),
            "lines": wrap(node_label(n, labels), 26 if is_symptom(n) else 24).split("\n"),
            "kind": "symptom" if is_symptom(n) else "graph node",
        }
        for n, (x, y) in pos.items()
    ]
    layers = [
        {
            "data": {"values": links},
            "mark": {"type": "rule", "opacity": 0.7},
            "encoding": {
                "x": xs,
                "y": ys,
                "x2": {"field": "x2"},
                "y2": {"field": "y2"},
                "strokeWidth": {"field": "w", "type": "quantitative", "scale": None},
                "color": {"field": "color", "type": "nominal", "scale": None},
            },
        },
        {
            "data": {"values": nodes},
            "mark": {"type": "point", "filled": True, "size": 140, "opacity": 1},
            "encoding": {
                "x": xs,
                "y": ys,
                "color": {
                    "field": "kind",
                    "type": "nominal",
                    "title": None,
                    "legend": None,  # the chart's title says which colour is which
                    "scale": {"domain": ["graph node", "symptom"], "range": ["#4c78a8", "#f58518"]},
                },
                "tooltip": [{"field": "label"}, {"field": "id", "title": "graph id"}],
            },
        },
        {
            "data": {"values": [n for n in nodes if n["kind"] == "graph node"]},
            "mark": {"type": "text", "baseline": "top", "dy": 9, "fontSize": 11, "lineHeight": 13},
            "encoding": {"x": xs, "y": ys, "text": {"field": "lines"}},
        },
        {
            "data": {"values": [n for n in nodes if n["kind"] == "symptom"]},
            "mark": {"type": "text", "align": "left", "dx": 9, "fontSize": 11, "lineHeight": 13},
            "encoding": {"x": xs, "y": ys, "text": {"field": "lines"}},
        },
    ]
    return spec(
        "evidence: cause → mechanism → fault mode → symptoms seen "
        "(blue: graph nodes, orange: symptoms; top cause bold)",
        layers,
        height=int(100 + 70 * depth),
        view={"stroke": None},
    )


def node_label(node: str, labels: dict[str, str]) -> str:
    """The graph's label of a node id, else the id without its kind prefix, readable."""
    if node in labels:
        return labels[node]
    return node.split(".", 1)[-1].replace("_", " ")


def wrap(text: str, width: int) -> str:
    """Break a label onto lines of about `width` characters (joined by newlines)."""
    words, out, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            out.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join([*out, line])


def evidence_labels(details: dict, graph: dict[str, str]) -> dict[str, str]:
    """Node id -> label for an alert's evidence: the graph's labels, overridden by the labels
    the monitor stored beside each path (`root_causes[i]["path_labels"]`)."""
    out = dict(graph)
    for item in details.get("root_causes") or [] if isinstance(details, dict) else []:
        if isinstance(item, dict):
            out.update(zip(item.get("path") or [], item.get("path_labels") or [], strict=False))
    return out


def causes_markdown(causes: list[dict]) -> str:
    """The ranked causes as a markdown table (it wraps long actions instead of cutting them):
    rank, cause, probability and every recommended action."""
    rows = ["| rank | cause | probability | recommended actions |", "|---:|---|---:|---|"]
    for i, c in enumerate(causes):
        p = "-" if c.get("probability") is None else f"{c['probability']:.0%}"
        actions = "<br>".join(f"• {x}" for x in c.get("actions") or []) or "-"
        rows.append(f"| {i + 1} | {c['cause']} | {p} | {actions} |")
    return "\n".join(rows)


def symptoms_text(
    seen: dict[str, float], labels: dict[str, str], top: int = 6, floor: float = 0.5
) -> str:
    """The strongest symptom scores (at least `floor`, at most `top`) with the graph's
    labels: `1x shaft-speed amplitude rising (0.98), ...`; '' when none reaches the floor."""
    strong = [(k, v) for k, v in seen.items() if v >= floor][:top]
    return ", ".join(f"{labels.get(k, node_label(k, labels))} ({v:.2f})" for k, v in strong)

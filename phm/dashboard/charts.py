"""The dashboard's plotly figures and display rules, as plain functions (no Streamlit): every
chart gets a title and axis titles with units, one time base (plant time, the data's own
timestamps, in UTC), channels grouped one chart per unit, categorical channels kept out of line
charts, the ISO 20816 zone bands behind the vibration velocity, and the knowledge graph's own
labels on the evidence graph.

Units: the plant config names channels, not units, so the unit of a channel comes from its name's
suffix (`_rpm`, `_pct`, `_kpa`, `_m3h`, `_c`); the PHM 2018 ion mill columns carry no units in
the challenge data, so they are grouped by the quantity their name states (voltage, current,
pressure, ...) and labelled "as logged".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

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


def layout(
    fig: go.Figure,
    title: str,
    y_title: str | None = None,
    x_title: str | None = TIME_AXIS,
    height: int = 300,
    **kw: object,
) -> go.Figure:
    """Title, axis titles and the dashboard's margins and legend (above the plot)."""
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        **kw,
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def lines(x: np.ndarray, series: dict[str, np.ndarray], mode: str = "lines") -> go.Figure:
    """One line per named series over the same x."""
    fig = go.Figure()
    for name, y in series.items():
        fig.add_trace(go.Scatter(x=x, y=y, name=readable(name), mode=mode))
    return fig


def stacked(x: np.ndarray, groups: list[ChannelGroup], columns: dict[str, np.ndarray],
            title: str) -> go.Figure:  # fmt: skip
    """One panel per channel group (one unit each), stacked on a shared time axis: one plotly
    chart instead of one per unit (each chart costs the browser a redraw of its own)."""
    from plotly.subplots import make_subplots

    n = len(groups)
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.12 / max(n, 1),
                        subplot_titles=[g.quantity for g in groups])  # fmt: skip
    layout(fig, title, height=90 + 190 * n, x_title=None)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    k = 0
    for row, g in enumerate(groups, start=1):
        legend = "legend" if row == 1 else f"legend{row}"  # one legend per panel, at its top
        for c in g.channels:
            if c in columns:
                line = {"color": palette[k % len(palette)]}
                trace = go.Scatter(x=x, y=columns[c], name=readable(c), mode="lines", line=line,
                                   legend=legend)  # fmt: skip
                fig.add_trace(trace, row=row, col=1)
                k += 1
        fig.update_yaxes(title_text=g.axis_title, title_font={"size": 11}, row=row, col=1)
        top = fig.get_subplot(row, 1).yaxis.domain[1]
        fig.update_layout({legend: {"orientation": "h", "x": 1, "xanchor": "right", "y": top,
                                    "yanchor": "bottom", "font": {"size": 10}}})  # fmt: skip
    for note in fig.layout.annotations:  # the panel titles, left, clear of the legends
        note.update(x=0, xanchor="left", font={"size": 12})
    fig.update_xaxes(title_text=TIME_AXIS, row=n, col=1)
    return fig


def zone_axis_top(boundaries: tuple[float, float, float]) -> float:
    """The velocity axis' top: 1.5 x the C/D boundary, so zone D shows as a band."""
    return 1.5 * boundaries[2]


def severity_figure(
    x: np.ndarray,
    velocity: dict[str, np.ndarray],
    boundaries: tuple[float, float, float] | None,
    label: str = "",
) -> go.Figure:
    """Velocity RMS (mm/s) per channel over time on the ISO 20816 zone bands A-D of the
    asset's machine group (`boundaries`: the A/B, B/C and C/D limits), on a fixed axis from 0
    to above zone D (an autoscaled axis makes a steady machine look noisy); a reading above
    the axis raises its top."""
    fig = lines(x, velocity, mode="lines+markers" if len(x) < 60 else "lines")
    top = None
    if boundaries is not None:
        top = zone_axis_top(boundaries)
        peak = max((float(np.nanmax(v)) for v in velocity.values() if len(v)), default=0.0)
        top = max(top, 1.1 * peak) if np.isfinite(peak) else top
        edges = (0.0, *boundaries, top)
        bands = zip("ABCD", edges, edges[1:], strict=False)
        shapes, notes = [], []
        for zone, lo, hi in bands:
            shapes.append({
                "type": "rect", "xref": "paper", "x0": 0, "x1": 1, "y0": lo, "y1": hi,
                "fillcolor": ZONE_COLORS[zone], "line": {"width": 0}, "layer": "below",
            })  # fmt: skip
            notes.append({
                "x": 1.0, "xref": "paper", "xanchor": "right", "y": (lo + hi) / 2, "yref": "y",
                "text": f"zone {zone}: {ZONE_MEANING[zone]}", "showarrow": False,
                "font": {"size": 10, "color": "#555"},
            })  # fmt: skip
        fig.update_layout(shapes=shapes, annotations=notes)  # one layout copy, not eight
    title = "vibration severity: velocity RMS 10-1000 Hz (ISO 20816)"
    title += f", {label}" if label else ""
    layout(fig, title, "velocity RMS (mm/s)", yaxis={"range": [0, top] if top else None})
    return fig


def comparison_figure(
    x: np.ndarray,
    own: np.ndarray,
    sisters: dict[str, np.ndarray] | None,
    baseline: float | None,
    asset: str,
    y_title: str,
    title: str,
    y_range: tuple[float, float] | None = None,
) -> go.Figure:
    """The asset's trend against its sister assets (median and 10-90% band per time bucket)
    and against its own baseline (a horizontal line)."""
    fig = go.Figure()
    if sisters is not None and len(sisters["median"]):
        sx = sisters["time"]
        fig.add_trace(
            go.Scatter(
                x=sx,
                y=sisters["p90"],
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=sx,
                y=sisters["p10"],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(127,127,127,0.25)",
                name=f"sister assets 10-90% (n={sisters['n']})",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=sx,
                y=sisters["median"],
                mode="lines",
                name="sisters' median",
                line={"color": "#7f7f7f", "dash": "dash"},
            )
        )
    mode = "lines+markers" if len(x) < 60 else "lines"  # a few buckets need their markers
    fig.add_trace(
        go.Scatter(x=x, y=own, mode=mode, name=asset, line={"color": "#1f77b4", "width": 2.5})
    )
    if baseline is not None and np.isfinite(baseline):
        fig.add_hline(
            y=baseline,
            line={"color": "#2ca02c", "dash": "dot"},
            annotation_text="own baseline (first day)",
            annotation_position="bottom left",
        )
    layout(fig, title, y_title, yaxis={"range": list(y_range) if y_range else None})
    return fig


def integer_axis(fig: go.Figure, top: float, axis: str = "y") -> go.Figure:
    """Whole-number ticks for counts up to `top` (a tick per count while they are few, else
    plotly's spacing, never a fraction)."""
    ticks = {"tickformat": ",d", "rangemode": "tozero", "dtick": 1 if top <= 10 else None}
    fig.update_layout({f"{axis}axis": ticks})
    return fig


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


def cause_figure(causes: list[dict], labels: dict[str, str]) -> go.Figure:
    """The evidence paths of ranked causes (`evidence_layout`), labelled with the knowledge
    graph's own labels (`labels`: node id -> label; an id without one is shown without its
    `x.` prefix and underscores); the top cause's edges bold."""
    pos, edges = evidence_layout(causes)
    fig = go.Figure()
    arrows = []
    for a, b, rank in reversed(edges):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        arrows.append({
            "x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x",
            "ayref": "y", "text": "", "showarrow": True, "arrowhead": 3, "arrowsize": 1.2,
            "arrowwidth": 3 if rank == 0 else 1.5, "opacity": 0.7, "standoff": 8,
            "arrowcolor": RANK_COLORS[min(rank, len(RANK_COLORS) - 1)], "startstandoff": 8,
        })  # fmt: skip
    names = list(pos)
    width = max((p[0] for p in pos.values()), default=0.0)
    for n in names:  # graph nodes: labels on a white ground, above the arrows crossing them
        if not is_symptom(n):
            arrows.append({
                "x": pos[n][0], "y": pos[n][1], "xref": "x", "yref": "y", "yshift": -18,
                "text": wrap(node_label(n, labels), 24), "showarrow": False,
                "bgcolor": "rgba(255,255,255,0.85)", "font": {"size": 11},
            })  # fmt: skip
    fig.update_layout(annotations=arrows)  # one layout update (add_annotation copies it)
    fig.add_trace(
        go.Scatter(
            x=[pos[n][0] for n in names],
            y=[pos[n][1] for n in names],
            mode="markers+text",
            text=[wrap(node_label(n, labels), 26) if is_symptom(n) else "" for n in names],
            textposition="middle right",
            marker={
                "size": 12,
                "color": ["#f58518" if is_symptom(n) else "#4c78a8" for n in names],
            },
            hovertext=[f"{node_label(n, labels)} ({n})" for n in names],
            hoverinfo="text",
            showlegend=False,
            textfont={"size": 11},
        )
    )
    depth = max((-p[1] for p in pos.values()), default=0.5) + 0.5
    fig.update_layout(
        height=int(120 + 48 * depth),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"visible": False, "range": [-0.5, width + 1.4]},  # room for symptom labels
        yaxis={"visible": False, "range": [-depth - 0.2, 0.3]},
        title={
            "text": "evidence: cause → mechanism → fault mode → symptoms seen "
            "(blue: graph nodes, orange: symptoms; top cause bold)",
            "x": 0,
        },
    )
    return fig


def node_label(node: str, labels: dict[str, str]) -> str:
    """The graph's label of a node id, else the id without its kind prefix, readable."""
    if node in labels:
        return labels[node]
    return node.split(".", 1)[-1].replace("_", " ")


def wrap(text: str, width: int) -> str:
    """Break a label onto lines of about `width` characters (plotly text takes <br>)."""
    words, out, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            out.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "<br>".join([*out, line])


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

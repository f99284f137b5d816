"""Render a `Report`: HTML (Jinja2, printable), PDF (headless Chromium, else matplotlib), and
CSV + Parquet of every number.

Plots are matplotlib PNGs embedded as base64 (no network, one self-contained file); each
asset's survival curve is a small inline SVG drawn from its numbers. The HTML shows a detail
section for the `detail` most urgent assets; every asset is in the ranked table and in the
CSV / Parquet files.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from phm.errors import ConfigError
from phm.reports.fleet import weibull_survival
from phm.reports.report import Report

FORMATS = ("html", "pdf", "csv", "parquet")
CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
TEMPLATES = "templates"  # package data of phm.reports
DETAIL = 30  # assets with a detail section in HTML/PDF (most urgent first)
RANKED_PLOT = 30  # assets on the ranked-interval plot


def parse_formats(text: str) -> list[str]:
    """'html,pdf,csv' -> formats; csv also writes Parquet. Unknown names raise ConfigError."""
    names = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in names if f not in FORMATS]
    if bad or not names:
        raise ConfigError(f"--format {text!r}: unknown {bad}; expected a list of {FORMATS}")
    if "csv" in names and "parquet" not in names:
        names.append("parquet")
    return names


def write_report(
    report: Report, out_dir: str | Path, formats: list[str], detail: int = DETAIL
) -> dict[str, Path]:
    """Write the requested formats under out_dir; returns {format or table: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if "csv" in formats or "parquet" in formats:
        written |= write_tables(report, out, csv="csv" in formats, parquet="parquet" in formats)
    if "html" in formats or "pdf" in formats:
        html = render_html(report, detail)
        path = out / "report.html"
        path.write_text(html)
        written["html"] = path
        if "pdf" in formats:
            written["pdf"] = write_pdf(report, path, out / "report.pdf")
    return written


# --- tables -----------------------------------------------------------------------------------


def tables(report: Report) -> dict[str, pl.DataFrame]:
    """Every number of the report as frames: assets, survival, weibull, kaplan_meier, history."""
    rows = []
    for i, r in enumerate(report.assets, start=1):
        rows.append({"rank": i, **r.scalars(), "unit": report.unit})
    assets = pl.DataFrame(rows, infer_schema_length=None)
    n_grid = len(report.grid)
    survival = pl.DataFrame(
        {
            "asset_id": np.repeat([r.asset_id for r in report.assets], n_grid),
            "t": np.tile(report.grid, len(report.assets)),
            "survival": np.concatenate([r.survival for r in report.assets])
            if report.assets
            else np.zeros(0),
        }
    )
    fleet = report.fleet
    w = fleet.weibull
    weibull = pl.DataFrame(
        # the shape is a pure number; scale, B10 and MTBF are lives in the history's unit
        [
            row | {"level": w.level, "unit": "-" if row["quantity"] == "shape" else w.unit}
            for row in w.rows()
        ]
        if w
        else [],
        schema={
            "quantity": pl.Utf8,
            "value": pl.Float64,
            "lower": pl.Float64,
            "upper": pl.Float64,
            "level": pl.Float64,
            "unit": pl.Utf8,
        },
    )
    km = fleet.kaplan_meier
    kaplan = pl.DataFrame(
        {
            "t": km.time if km else np.zeros(0),
            "survival": km.survival if km else np.zeros(0),
            "lower": km.lower if km else np.zeros(0),
            "upper": km.upper if km else np.zeros(0),
        }
    )
    h = fleet.history
    history = pl.DataFrame(
        {"unit_id": h.units, "duration": h.durations, "failed": h.events},
        schema={"unit_id": pl.Utf8, "duration": pl.Float64, "failed": pl.Boolean},
    )
    return {
        "assets": assets,
        "survival": survival,
        "weibull": weibull,
        "kaplan_meier": kaplan,
        "history": history,
    }


def write_tables(
    report: Report, out: Path, csv: bool = True, parquet: bool = True
) -> dict[str, Path]:
    written = {}
    for name, frame in tables(report).items():
        if csv:
            written[f"{name}.csv"] = out / f"{name}.csv"
            frame.write_csv(out / f"{name}.csv")
        if parquet:
            written[f"{name}.parquet"] = out / f"{name}.parquet"
            frame.write_parquet(out / f"{name}.parquet")
    return written


# --- plots ------------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plot_fleet_survival(report: Report) -> Any:
    """Kaplan-Meier with its interval and the fitted Weibull survival."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    km, w = report.fleet.kaplan_meier, report.fleet.weibull
    if km is not None:
        ax.step(km.time, km.survival, where="post", color="black", label="Kaplan-Meier")
        ax.fill_between(km.time, km.lower, km.upper, step="post", color="grey", alpha=0.25,
                        label=f"{km.level:.0%} interval")  # fmt: skip
    if w is not None:
        end = max(float(report.fleet.history.durations.max()), w.mtbf.value) * 1.2
        t = np.linspace(0.0, end, 300)
        ax.plot(t, weibull_survival(w, t), color="tab:red",
                label=f"Weibull shape {w.shape.value:.2f}, scale {w.scale.value:.4g}")  # fmt: skip
        ax.axvline(w.b10.value, color="tab:red", ls=":", lw=1)
        ax.text(w.b10.value, 0.05, " B10", color="tab:red", fontsize=8)
    ax.set_xlabel(f"life ({report.unit})")
    ax.set_ylabel("fraction surviving")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Fleet survival (failures and right-censored lives)", fontsize=10)
    return fig


def plot_ranked(report: Report, n: int = RANKED_PLOT) -> Any:
    """The n most urgent assets: median, 50% and 90% intervals of RUL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = report.assets[:n]
    h = report.horizon
    fig, ax = plt.subplots(figsize=(7.0, 0.22 * max(len(top), 4) + 1.0))
    y = np.arange(len(top))[::-1]
    cap = lambda v: min(v, h * 1.05)  # noqa: E731 - beyond-horizon bounds end at the edge
    for yi, r in zip(y, top, strict=True):
        ax.plot([cap(r.q05), cap(r.q95)], [yi, yi], color="tab:blue", lw=1.2)
        ax.plot([cap(r.q25), cap(r.q75)], [yi, yi], color="tab:blue", lw=5, alpha=0.6)
        ax.plot([cap(r.median)], [yi], "o", color="black", ms=3)
    ax.set_yticks(y, [r.asset_id for r in top], fontsize=7)
    ax.axvline(h, color="grey", ls="--", lw=0.8)
    ax.set_xlabel(f"RUL ({report.unit}); thick: 50%, thin: 90%, dot: median; dashed: horizon")
    ax.set_xlim(0, h * 1.06)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Most urgent {len(top)} of {len(report.assets)} assets", fontsize=10)
    return fig


def plot_rul_histogram(report: Report) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    med = np.array([r.median for r in report.assets])
    ax.hist(med, bins=min(30, max(5, len(med) // 3)), color="tab:blue", alpha=0.7)
    ax.set_xlabel(f"RUL median ({report.unit})")
    ax.set_ylabel("assets")
    ax.grid(alpha=0.3)
    ax.set_title("Fleet RUL distribution", fontsize=10)
    return fig


# --- HTML -------------------------------------------------------------------------------------


def fmt_num(x: Any, digits: int = 1) -> str:
    """A number for people: '-' for None/NaN, 'beyond horizon' for +inf."""
    if x is None:
        return "-"
    x = float(x)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "open" if x > 0 else "-inf"  # beyond the model's horizon, as the monitor says
    return f"{x:,.{digits}f}"


def survival_svg(
    grid: np.ndarray, surv: np.ndarray, horizon: float, unit: str = "", w: int = 240, h: int = 92
) -> str:
    """An inline SVG of a survival curve over 0..horizon x 0..1 with its axis ticks: S = 0,
    0.5, 1 on the left, 0, horizon / 2 and horizon (in `unit`) below."""
    left, bottom, top, right = 26, 18, 4, 8
    pw, ph = w - left - right, h - top - bottom
    xs = left + grid / max(horizon, 1e-12) * pw
    ys = top + (1.0 - np.clip(surv, 0.0, 1.0)) * ph
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    ticks = []
    for v in (0.0, 0.5, 1.0):
        y = top + (1.0 - v) * ph
        ticks.append(
            f'<line x1="{left - 3}" x2="{left}" y1="{y:.1f}" y2="{y:.1f}" stroke="#888"/>'
            f'<text x="{left - 5}" y="{y + 3:.1f}" text-anchor="end">{v:g}</text>'
        )
    for f in (0.0, 0.5, 1.0):
        x = left + f * pw
        anchor = "start" if f == 0 else "end" if f == 1 else "middle"
        label = f"{fmt_num(f * horizon, 0)}" + (f" {unit}" if f == 1 and unit else "")
        ticks.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 3}" '
            f'stroke="#888"/><text x="{x:.1f}" y="{h - 4}" text-anchor="{anchor}">'
            f"{label}</text>"
        )
    half = top + ph / 2
    return (
        f'<svg class="surv" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-size="8" '
        f'fill="#444" xmlns="http://www.w3.org/2000/svg"><rect x="{left}" y="{top}" '
        f'width="{pw}" height="{ph}" fill="none" stroke="#bbb"/><line x1="{left}" '
        f'x2="{left + pw}" y1="{half:.1f}" y2="{half:.1f}" stroke="#ddd"/>{"".join(ticks)}'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{pts}"/></svg>'
    )


def window_text(report: Report, r: Any) -> str:
    """The maintenance window in words: plan by ... at the latest ..."""
    if getattr(r, "failed", False):
        return "failed: the failure history records its failure (see the Weibull page)"
    if not getattr(r, "fault_evidence", True):
        return "none: no fault evidence (RUL open-ended)"
    if report.unit_s is not None and r.as_of is not None:

        def when(dt: float) -> str:
            if not math.isfinite(dt):
                return "open"
            t = datetime.fromtimestamp(r.as_of + dt * report.unit_s, UTC)
            return t.strftime("%Y-%m-%d %H:%M UTC")

        return (
            f"plan by {when(r.plan_by)} (+{fmt_num(r.plan_by)} h), at the latest "
            f"{when(r.latest)} (+{fmt_num(r.latest)} h)"
        )
    plan = r.age + r.plan_by if math.isfinite(r.plan_by) else math.inf
    late = r.age + r.latest if math.isfinite(r.latest) else math.inf
    return (
        f"plan by {report.unit[:-1]} {fmt_num(plan, 0)} (+{fmt_num(r.plan_by, 0)}), at the latest "
        f"{report.unit[:-1]} {fmt_num(late, 0)} (+{fmt_num(r.latest, 0)})"
    )


def window_short(report: Report, r: Any) -> str:
    """The maintenance window for a table cell: plan by - at the latest."""
    if getattr(r, "failed", False):
        return "failed (history)"
    if not getattr(r, "fault_evidence", True):
        return "none (healthy)"
    if report.unit_s is not None and r.as_of is not None:

        def when(dt: float) -> str:
            if not math.isfinite(dt):
                return "open"
            return datetime.fromtimestamp(r.as_of + dt * report.unit_s, UTC).strftime("%m-%d %H:%M")

        return f"{when(r.plan_by)} – {when(r.latest)}"
    return f"{report.unit[:-1]} {fmt_num(r.age + r.plan_by, 0)} – {fmt_num(r.age + r.latest, 0)}"


def render_html(report: Report, detail: int = DETAIL) -> str:
    """The printable HTML report (self-contained)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("phm.reports", TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = fmt_num
    plots = {
        "fleet": _png(plot_fleet_survival(report)),
        "ranked": _png(plot_ranked(report)),
        "hist": _png(plot_rul_histogram(report)),
    }
    top = report.assets[: max(detail, 0)]
    details = [
        {
            "r": r,
            "svg": survival_svg(report.grid, r.survival, report.horizon, report.unit),
            "window": window_text(report, r),
            "modes": sorted(r.fault_probs.items(), key=lambda kv: -kv[1])[:4],
        }
        for r in top
    ]
    rows = [{"r": r, "window": window_short(report, r)} for r in report.assets]
    return env.get_template("rul_report.html.j2").render(
        report=report,
        plots=plots,
        details=details,
        rows=rows,
        n_assets=len(report.assets),
        fleet=report.fleet,
    )


# --- PDF --------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    for name in CHROMIUM:
        path = shutil.which(name)
        if path:
            return path
    return None


def write_pdf(report: Report, html_path: Path, pdf_path: Path, timeout_s: float = 180.0) -> Path:
    """HTML -> PDF with headless Chromium; without Chromium (or if it fails), a matplotlib PDF
    of the plots and the ranked table, and a note in the report's notes."""
    chromium = find_chromium()
    if chromium is not None:
        cmd = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri(),
        ]  # fmt: skip
        pdf_path.unlink(missing_ok=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        if pdf_path.is_file() and pdf_path.stat().st_size > 0:
            return pdf_path
        why = f"Chromium ({chromium}) did not produce a PDF"
    else:
        why = "Chromium was not found"
    report.notes.append(f"PDF made with matplotlib because {why}: plots and ranked table only.")
    return write_pdf_matplotlib(report, pdf_path, why)


def write_pdf_matplotlib(report: Report, pdf_path: Path, why: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(pdf_path) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.06, 0.95, report.title, fontsize=14, weight="bold")
        fig.text(0.06, 0.925, f"model {report.model}; generated {report.generated_at}", fontsize=8)
        fig.text(0.06, 0.905, f"Note: {why}; this PDF holds the plots and the ranked table; "
                 "report.html holds the full report.", fontsize=8, color="tab:red")  # fmt: skip
        for i, banner in enumerate(report.banners):
            fig.text(0.06, 0.89 - 0.015 * i, banner[:150], fontsize=7, color="darkred",
                     weight="bold")  # fmt: skip
        head = ["rank", "asset", "median", "50%", "90%", "window: plan by - latest"]
        cells = [
            [str(i), r.asset_id, fmt_num(r.median), f"{fmt_num(r.q25)}-{fmt_num(r.q75)}",
             f"{fmt_num(r.q05)}-{fmt_num(r.q95)}", window_short(report, r)]
            for i, r in enumerate(report.assets[:40], start=1)
        ]  # fmt: skip
        ax = fig.add_axes((0.06, 0.05, 0.88, 0.83))
        ax.axis("off")
        if cells:
            table = ax.table(cellText=cells, colLabels=head, loc="upper left")
            table.set_fontsize(7)
        pdf.savefig(fig)
        plt.close(fig)
        for make in (plot_fleet_survival, plot_ranked, plot_rul_histogram):
            fig = make(report)
            pdf.savefig(fig, bbox_inches="tight")
            plt.close(fig)
    return pdf_path

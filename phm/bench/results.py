"""What every `phm bench NAME` shares: the result file convention and the printed table.

`phm bench NAME ... --out DIR` writes DIR/NAME.json with its headline figures as flat top-level
keys (s1_total, rmse, nasa_score, accuracy, macro_f1, ...) plus a `details` object, writes
DIR/NAME.md with the markdown table, and prints the table.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, Path):
        return str(x)
    if x is None or isinstance(x, str | int | float | bool):
        return x
    return repr(x)  # estimators, functions: recorded by name rather than failing the bench


def write_result(
    out_dir: str | Path,
    name: str,
    headline: dict[str, Any],
    details: dict[str, Any],
    table: str,
) -> Path:
    """Write DIR/NAME.json and DIR/NAME.md, print the table, return the JSON path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "bench": name,
        **headline,
        "details": details,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(_jsonable(record), indent=2) + "\n")
    (out / f"{name}.md").write_text(table + "\n")
    print(table)
    print(f"\nwrote {path}")
    return path


def fmt(x: Any, digits: int = 4) -> str:
    """A number for a markdown cell: NaN as '-', large numbers in scientific notation."""
    if x is None:
        return "-"
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        if not math.isfinite(x):
            return "-"
        if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
            return f"{x:.3e}"
        return f"{x:.{digits}g}"
    return str(x)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells go through `fmt`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(lines)


class Stopwatch:
    """Wall-clock seconds of named steps, for a bench's `details`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, step: str) -> _Lap:
        return _Lap(self, step)


class _Lap:
    def __init__(self, watch: Stopwatch, step: str) -> None:
        self.watch, self.step = watch, step

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.watch.seconds[self.step] = self.watch.seconds.get(self.step, 0.0) + (
            time.perf_counter() - self.t0
        )

"""A plant's own fault history: its past failures with their confirmed root causes, which
update the graph's cause priors (`phm.kg.inference.update_priors`: the FMEA occurrence
ratings are a Dirichlet prior worth `weight` failures, the plant's counts update it).

The file is a CSV with a header row and at least the columns

    asset,failed_at,cause
    pump-003,2024-03-11,worn bearing
    pump-011,2025-07-02T14:20,c.soft_foot

`cause` is a cause node of the graph, by id or by label (case and spaces ignored); `asset`
and `failed_at` (an ISO date or time) say which failure it was. Other columns (work order,
notes) are kept out of the count. A cause the graph does not know, an empty field or a bad
date fails naming the file, the line and the field.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from phm.kg.inference import update_priors
from phm.kg.schema import GraphError, KnowledgeGraph

COLUMNS = ("asset", "failed_at", "cause")


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def cause_index(graph: KnowledgeGraph) -> dict[str, str]:
    """Cause ids of `graph` by their id and by their label (normalised)."""
    index: dict[str, str] = {}
    for cid in graph.of_type("cause"):
        index[_key(cid)] = cid
        index[_key(graph.nodes[cid].label)] = cid
    return index


def count_causes(
    causes: Iterable[str], graph: KnowledgeGraph, places: Sequence[str] | None = None
) -> Counter:
    """{cause id: failures} of confirmed causes given by id or label; an unknown one fails,
    named by its place (`places`, one per cause: e.g. file:line) or its position."""
    index = cause_index(graph)
    counts: Counter = Counter()
    for k, cause in enumerate(causes, 1):
        cid = index.get(_key(cause))
        if cid is None:
            at = places[k - 1] if places is not None else f"fault history entry {k}"
            raise GraphError(f"{at}: cause {cause!r} is not a cause of graph {graph.name!r}")
        counts[cid] += 1
    return counts


def read_fault_history(path: str | Path) -> list[tuple[str, dict[str, str]]]:
    """The rows of the fault-history CSV at `path` as (place "file:line", {column: stripped
    value}), each checked: the COLUMNS present and not empty, `failed_at` an ISO date or time.
    Other columns are kept as they are (e.g. the `mode` that `phm train --dataset lake`
    reads)."""
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: no such fault-history file")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise GraphError(
                f"{path}: fault history lacks column(s) {missing} (expected {list(COLUMNS)})"
            )
        rows: list[tuple[str, dict[str, str]]] = []
        for line, row in enumerate(reader, 2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            for col in COLUMNS:
                if not row.get(col):
                    raise GraphError(f"{path}:{line}: field {col!r} is empty")
            try:
                datetime.fromisoformat(row["failed_at"])
            except ValueError:
                raise GraphError(
                    f"{path}:{line}: field 'failed_at' {row['failed_at']!r} is not an ISO "
                    "date or time"
                ) from None
            rows.append((f"{path}:{line}", row))
    return rows


def load_fault_history(path: str | Path, graph: KnowledgeGraph) -> Counter:
    """{cause id: failures} from the fault-history CSV at `path` (see the module doc)."""
    rows = read_fault_history(path)
    return count_causes([r["cause"] for _, r in rows], graph, [place for place, _ in rows])


def with_fault_history(
    graph: KnowledgeGraph, path: str | Path, weight: float = 10.0
) -> KnowledgeGraph:
    """`graph` with its cause priors updated by the fault history at `path`."""
    return update_priors(graph, load_fault_history(path, graph), weight=weight)

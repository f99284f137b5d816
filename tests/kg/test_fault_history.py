"""A plant's fault history: CSV parsing, its errors, and the priors it updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from phm.kg.fault_history import count_causes, load_fault_history, with_fault_history
from phm.kg.inference import rank_causes
from phm.kg.loader import load_graph
from phm.kg.schema import GraphError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_counts_causes_by_label_or_id_and_raises_their_priors(tmp_path):
    g = load_graph("rotating_equipment")
    path = write(
        tmp_path / "h.csv",
        "asset,failed_at,cause,work_order\n"
        "pump-001,2024-03-11,Soft  Foot,WO-1\n"
        "pump-002,2025-07-02T14:20,c.soft_foot,WO-2\n"
        "pump-003,2025-08-01,thermal growth,\n",
    )
    counts = load_fault_history(path, g)
    assert counts == {"c.soft_foot": 2, "c.thermal_growth": 1}
    h = with_fault_history(g, path)
    assert h.prior("c.soft_foot") > g.prior("c.soft_foot")
    assert h.prior("c.coupling_misalignment") < g.prior("c.coupling_misalignment")
    total = sum(g.prior(c) for c in g.of_type("cause"))
    assert sum(h.prior(c) for c in h.of_type("cause")) == pytest.approx(total)


def test_history_decides_between_causes_the_evidence_cannot_tell_apart(tmp_path):
    g = load_graph("rotating_equipment")
    evidence = {"vib.2x": 0.95, "vib.1x": 0.8}  # misalignment, cause unknown
    before = rank_causes(g, evidence)[0].cause
    assert before != "c.pipe_strain"
    # a plant whose misalignments were nearly all pipe strain
    rows = [f"pump-{k:03d},2025-01-{1 + k % 28:02d},pipe strain" for k in range(40)]
    h = with_fault_history(
        g, write(tmp_path / "h.csv", "asset,failed_at,cause\n" + "\n".join(rows))
    )
    assert rank_causes(h, evidence)[0].cause == "c.pipe_strain"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("asset,cause\npump-001,soft foot\n", "lacks column(s) ['failed_at']"),
        ("asset,failed_at,cause\npump-001,2025-01-01,\n", ":2: field 'cause' is empty"),
        ("asset,failed_at,cause\npump-001,last spring,soft foot\n", "'last spring' is not an ISO"),
        ("asset,failed_at,cause\np,2025-01-01,soft foot\np,2025-01-02,gremlins\n", ":3: cause"),
    ],
)
def test_bad_history_files_name_the_line_and_field(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(GraphError) as err:
        load_fault_history(path, load_graph("rotating_equipment"))
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_file_and_unknown_cause_in_counts():
    g = load_graph("rotating_equipment")
    with pytest.raises(GraphError, match="no such fault-history file"):
        load_fault_history("nowhere.csv", g)
    with pytest.raises(GraphError, match="'gremlins' is not a cause"):
        count_causes(["soft foot", "gremlins"], g)

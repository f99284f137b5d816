"""`phm bench rootcause` on a few scenarios, and the CWRU envelope location on real records."""

from __future__ import annotations

import json

import pytest

from phm.bench.rootcause import (
    evaluate_cwru,
    evaluate_simulated,
    lookup_ranking,
    lookup_table,
    rpn_ranking,
    simulate_scenarios,
)
from phm.cli import main
from phm.kg.loader import load_graph
from tests.datadir import real_data_dir


def test_simulated_scenarios_name_the_failure_mode():
    g = load_graph("rotating_equipment")
    # a tuning seed, not the bench's evaluation seed
    scenarios = simulate_scenarios(14, seed=11, noise=0.5, missing=0.3)
    assert all(set(s["evidence"]) <= set(s["clean"]) for s in scenarios)
    assert any(len(s["evidence"]) < len(s["clean"]) for s in scenarios)  # some dropped
    result = evaluate_simulated(g, scenarios)
    assert result["overall"]["mode1"] >= 0.8
    assert result["overall"]["kg3"] >= result["overall"]["rpn3"]


def test_baselines_are_fixed_rankings():
    g = load_graph("rotating_equipment")
    rpn = rpn_ranking(g)
    assert sorted(rpn) == sorted(g.of_type("cause"))
    table = lookup_table(g)
    assert "c.contamination" in table["vib.env_bpfo"]
    order = lookup_ranking(table, {"proc.suction_low": 0.9, "vib.1x": 0.2}, rpn)
    assert order[0] in ("c.low_suction_head", "c.clogged_strainer")
    assert sorted(order) == sorted(rpn)


def test_bench_command_writes_json(tmp_path):
    code = main(
        [
            "bench",
            "rootcause",
            "--scenarios",
            "7",
            "--no-cwru",
            "--out",
            str(tmp_path),
            "--seed",
            "5",
        ]
    )
    assert code == 0
    record = json.loads((tmp_path / "rootcause.json").read_text())
    for key in (
        "top1",
        "top3",
        "mode_top1",
        "rpn_top1",
        "lookup_top1",
        "clean_top3",
        "sensors_top1",
        "within_mode_top1",
    ):
        assert 0 <= record[key] <= 1
    assert record["details"]["timing"]["random500"]["nodes"] == 500


@pytest.mark.integration
def test_cwru_envelope_names_the_fault_location():
    folder = real_data_dir("cwru", "105.mat")
    # IR007, OR007@6, B007, B028 at 0 hp
    result = evaluate_cwru(load_graph("rotating_equipment"), folder, 8192, [105, 130, 118, 3005])
    per = result["per_class"]
    assert per["inner_race"] >= 0.8 and per["outer_race"] >= 0.8
    assert 0 <= per["ball"] <= 1
    assert [r["file"] for r in result["records"]] == [105, 118, 130, 3005]

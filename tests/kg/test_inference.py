"""Noisy-OR posterior: hand-computed cases, ranking, unknown vs absent, priors, speed."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phm.bench.rootcause import random_graph
from phm.kg.inference import (
    explain_alert,
    model_evidence,
    posterior,
    rank_causes,
    rank_modes,
    update_priors,
)
from phm.kg.loader import load_graph
from phm.kg.schema import KnowledgeGraph, Node


def two_causes() -> KnowledgeGraph:
    """A (0.1) and B (0.2) both lead to mode M (0.8, 0.5); M shows S1 (0.9), B shows S2 (0.7);
    symptom leaks 0.1."""
    nodes = [
        Node("A", "cause", "cause A", 0.1),
        Node("B", "cause", "cause B", 0.2),
        Node("M", "failure_mode", "mode M"),
        Node("S1", "symptom", "s1", leak=0.1, detector="d1"),
        Node("S2", "symptom", "s2", leak=0.1),
        Node("fixA", "action", "fix A"),
    ]
    edges = [
        ("A", "M", 0.8),
        ("B", "M", 0.5),
        ("M", "S1", 0.9),
        ("B", "S2", 0.7),
        ("A", "fixA", 0.9),
    ]
    return KnowledgeGraph.from_parts("two", nodes, edges)


def test_posterior_matches_the_hand_computed_two_cause_example():
    # P(S1 | M on) = 1 - 0.9 * 0.1 = 0.91, P(S1 | M off) = 0.1
    # H_A: P(S1) = 0.8 * 0.91 + 0.2 * 0.1 = 0.748, P(not S2) = 0.9          -> L = 0.6732
    # H_B: P(S1) = 0.5 * 0.91 + 0.5 * 0.1 = 0.505, P(not S2) = 0.9 * 0.3    -> L = 0.13635
    # prior odds 0.1 / 0.9 and 0.2 / 0.8
    a, b = 0.6732 / 9, 0.13635 / 4
    post = posterior(two_causes(), {"S1": 1.0, "S2": 0.0})
    assert post.causes["A"] == pytest.approx(a / (a + b), abs=1e-3)
    assert post.causes["B"] == pytest.approx(b / (a + b), abs=1e-3)
    # P(M on | e) = sum over hypotheses of P(H | e) P(M | H, e)
    m_a = 0.8 * 0.91 / 0.748
    m_b = 0.5 * 0.91 / 0.505
    assert post.latents["M"] == pytest.approx((a * m_a + b * m_b) / (a + b), abs=1e-3)


def test_soft_evidence_of_one_half_says_nothing():
    post = posterior(two_causes(), {"d1": 0.5})
    odds = (0.1 / 0.9) / (0.2 / 0.8)
    assert post.causes["A"] == pytest.approx(odds / (1 + odds), abs=1e-6)


def test_unknown_and_absent_symptoms_behave_differently():
    g = two_causes()
    unknown = posterior(g, {"S1": 1.0})  # S2 not measured
    absent = posterior(g, {"S1": 1.0, "S2": 0.0})  # S2 measured and absent
    # unknown: H_A 0.748 / 9 vs H_B 0.505 / 4
    a, b = 0.748 / 9, 0.505 / 4
    assert unknown.causes["B"] == pytest.approx(b / (a + b), abs=1e-3)
    assert absent.causes["B"] < unknown.causes["B"] - 0.2
    present = posterior(g, {"S1": 1.0, "S2": 1.0})
    assert present.causes["B"] > 0.9


def test_rank_causes_gives_path_and_actions():
    ranked = rank_causes(two_causes(), {"S1": 1.0, "S2": 0.0})
    assert [r.cause for r in ranked] == ["A", "B"]
    assert ranked[0].path == ("A", "M", "S1")
    assert ranked[0].actions == ("fixA",)
    assert sum(r.probability for r in ranked) == pytest.approx(1.0)


def test_pairs_hypotheses_are_normalised_and_explain_two_symptom_groups():
    g = two_causes()
    post = posterior(g, {"S1": 1.0, "S2": 1.0}, pairs=True)
    assert sum(p for _, p in post.hypotheses) == pytest.approx(1.0)
    assert (("A", "B")) in [h for h, _ in post.hypotheses]


ROTATING_CLEAN = {
    # outer race spall from contamination: BPFO peaks, impulsive, particles in the grease
    "c.contamination": {
        "vib.env_bpfo": 0.95,
        "vib.env_bpfi": 0.05,
        "vib.kurtosis": 0.9,
        "vib.1x": 0.05,
        "vib.2x": 0.05,
        "vib.hf_floor": 0.3,
        "oil.particles": 0.9,
        "ctx.bearing_age": 0.1,
        "ctx.recent_install": 0.05,
        "insp.housing_bore": 0.05,
    },
    # cavitation from a clogged strainer
    "c.clogged_strainer": {
        "vib.hf_floor": 0.9,
        "vib.env_vane": 0.8,
        "proc.suction_low": 0.95,
        "proc.flow_unsteady": 0.9,
        "proc.strainer_dp_high": 0.95,
        "proc.tank_level_low": 0.05,
        "temp.bearing_de_rise": 0.05,
    },
    # misalignment from thermal growth: 2x, rising after warm-up
    "c.thermal_growth": {
        "vib.2x": 0.95,
        "vib.3x": 0.7,
        "trend.2x_vs_temperature": 0.95,
        "insp.cold_alignment": 0.05,
        "insp.soft_foot": 0.05,
        "insp.pipe_strain": 0.05,
        "vib.subharmonics": 0.05,
    },
    # lubrication: hot bearing, HF floor, relube overdue
    "c.insufficient_lubrication": {
        "vib.hf_floor": 0.9,
        "temp.bearing_de_rise": 0.95,
        "ctx.relube_overdue": 0.95,
        "vib.env_bpfo": 0.05,
        "vib.env_bpfi": 0.05,
        "proc.suction_low": 0.05,
    },
}


@pytest.mark.parametrize("cause", sorted(ROTATING_CLEAN))
def test_clean_evidence_puts_the_right_cause_first(cause):
    g = load_graph("rotating_equipment")
    ranked = rank_causes(g, ROTATING_CLEAN[cause])
    assert ranked[0].cause == cause
    assert ranked[0].probability > 0.5
    assert ranked[0].actions  # a remedy is always offered


def test_rank_modes_with_and_without_field_priors():
    g = load_graph("rotating_equipment")
    ev = {"vib.env_bsf": 0.95, "vib.env_bpfo": 0.1, "vib.env_bpfi": 0.1}
    assert rank_modes(g, ev, given_mode=True)[0][0] == "ball"
    assert sum(p for _, p in rank_modes(g, ev, given_mode=True)) == pytest.approx(1.0)


def test_fault_history_moves_the_priors():
    g = two_causes()
    h = update_priors(g, {"B": 30}, weight=10)
    assert h.prior("B") > g.prior("B") and h.prior("A") < g.prior("A")
    assert h.prior("A") + h.prior("B") == pytest.approx(g.prior("A") + g.prior("B"))
    with pytest.raises(ValueError, match="unknown cause 'Z'"):
        update_priors(g, {"Z": 1})


def test_explain_alert_takes_model_fault_probabilities():
    g = load_graph("rotating_equipment")
    probs = {"healthy": 0.05, "cavitation": 0.9, "imbalance": 0.02, "inner_race": 0.01}
    ranked = explain_alert(g, probs, {"proc.suction_low": 0.95})
    assert ranked[0].label in ("low suction head", "clogged suction strainer")
    assert "cavitation" in ranked[0].path
    assert "s.model_cavitation" in ranked[0].path


def test_ranking_is_deterministic_and_fast_on_500_nodes():
    g = random_graph(500, seed=3)
    assert len(g.nodes) == 500
    ev = {f"d{i}": (i % 7) / 6 for i in range(0, 150, 3)}
    t0 = time.perf_counter()
    first = rank_causes(g, ev)  # includes compiling the tables
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = rank_causes(g, ev)
    warm = time.perf_counter() - t0
    assert [(r.cause, r.probability) for r in first] == [(r.cause, r.probability) for r in second]
    # issue 6 asks < 50 ms; generous bounds for a loaded CI machine
    assert warm < 0.25 and cold < 0.5, (warm, cold)


_SYMS = ["vib.env_bpfo", "vib.env_bpfi", "vib.2x", "temp.bearing_de_rise", "proc.suction_low"]


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_SYMS), st.floats(0, 1), min_size=1),
    st.floats(0.0, 0.9),
)
def test_posterior_is_normalised_and_monotone_in_a_symptom(evidence, low):
    g = load_graph("rotating_equipment")
    post = posterior(g, evidence)
    assert sum(post.causes.values()) == pytest.approx(1.0)
    # more evidence for outer-race peaks never lowers the outer-race mode
    weak = posterior(g, {**evidence, "vib.env_bpfo": low}).latents["outer_race"]
    strong = posterior(g, {**evidence, "vib.env_bpfo": low + 0.1}).latents["outer_race"]
    assert strong >= weak - 1e-12


def test_model_evidence():
    ev = model_evidence({"healthy": 0.7, "inner_race": 1.0, "cavitation": float("nan")})
    assert ev == {"model.inner_race": pytest.approx(0.98)}

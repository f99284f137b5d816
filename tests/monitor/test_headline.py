"""One headline mode per alert: the graph's posterior mode, the disagreement said in words."""

from __future__ import annotations

import pytest

from phm.monitor.headline import headline


def analysis(modes, causes):
    return {
        "modes": [[m, p] for m, p in modes],
        "root_causes": [
            {"cause": c, "label": label, "probability": p, "path": path}
            for c, label, p, path in causes
        ],
    }


BOLTS = ("bolts", "loose hold-down bolts", 0.96, ["bolts", "looseness", "sym.1x"])


def test_the_graph_mode_heads_the_alert_and_a_model_disagreement_is_said() -> None:
    probs = {"healthy": 0.1, "imbalance": 0.42, "looseness": 0.3, "misalignment": 0.18}
    head = headline(probs, analysis([("looseness", 0.9), ("imbalance", 0.08)], [BOLTS]))
    assert (head.mode, head.source, head.probability) == ("looseness", "evidence", 0.9)
    assert (head.model_mode, head.model_probability) == ("imbalance", 0.42)
    assert (head.top_cause, head.top_cause_mode) == ("loose hold-down bolts", "looseness")
    assert head.disagreement == (
        "model: imbalance 42% / evidence: loose hold-down bolts (looseness 90%)"
    )
    assert head.text().startswith("looseness 90% (model: imbalance 42%")


def test_model_graph_and_top_cause_agreeing_say_no_disagreement() -> None:
    probs = {"healthy": 0.05, "looseness": 0.9, "imbalance": 0.05}
    head = headline(probs, analysis([("looseness", 0.97)], [BOLTS]))
    assert head.mode == "looseness" and head.disagreement is None
    assert head.text() == "looseness 97%"


def test_a_top_cause_leading_to_another_mode_than_the_headline_is_said() -> None:
    probs = {"healthy": 0.05, "imbalance": 0.9, "looseness": 0.05}
    modes = [("imbalance", 0.6), ("looseness", 0.4)]
    head = headline(probs, analysis(modes, [BOLTS]))
    assert head.mode == "imbalance" and head.top_cause_mode == "looseness"
    assert head.disagreement == "top cause loose hold-down bolts points to looseness, not imbalance"


def test_without_an_analysis_the_model_top_fault_is_shown() -> None:
    head = headline({"healthy": 0.7, "imbalance": 0.2, "looseness": 0.1}, None)
    assert (head.mode, head.source, head.model_mode) == ("imbalance", "model", "healthy")
    assert head.probability == pytest.approx(0.2) and head.disagreement is None
    assert headline({}, None).mode is None


def test_a_healthy_model_and_no_evident_mode_head_the_alert_as_healthy() -> None:
    probs = {"healthy": 0.98, "ball": 0.01, "looseness": 0.01}
    head = headline(probs, analysis([("ball", 0.004), ("looseness", 0.002)], [BOLTS]))
    assert (head.mode, head.source, head.probability) == ("healthy", "model", 0.98)
    assert head.disagreement == "no failure mode evident: ball 0% at most"
    weak = headline({"healthy": 0.3, "ball": 0.7}, analysis([("ball", 0.2)], []))
    assert weak.mode == "ball" and weak.text().startswith("ball (weak evidence, 20%)")

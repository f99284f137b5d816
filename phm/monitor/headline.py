"""The one failure mode an operator reads for an asset: the alert's headline and the fleet
page's mode column both come from `headline`, so the two never tell different stories.

With a root-cause analysis (an open alert's details: `modes`, the knowledge graph's posterior
over failure modes given the model's probabilities and the symptom detectors, and
`root_causes`, ranked), the headline is the graph's most probable failure mode ("evidence"),
unless no mode is more likely active than not while the model sees the asset healthy (an alert
clearing after a repair): then it is "healthy", saying that no failure mode is evident.
The model's own most probable class is kept beside it; where the two differ, or where the top
cause leads to another mode than the headline's, `disagreement` says so in words, e.g.
"model: imbalance 42% / evidence: loose hold-down bolts (looseness 96%)". Without an
analysis (no open alert) the headline is the model's most probable fault ("model").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WEAK_MODE = 0.5  # a headline mode less probable than this is shown as weak evidence


@dataclass(frozen=True)
class Headline:
    """The displayed failure mode and where it comes from."""

    mode: str | None  # the displayed failure mode (None: nothing scored)
    probability: float | None
    source: str  # "evidence" (graph posterior) or "model" (the model's classes alone)
    model_mode: str | None  # the model's most probable class ("healthy" included)
    model_probability: float | None
    top_cause: str | None = None  # label of the top-ranked root cause
    top_cause_mode: str | None = None  # the failure mode on the top cause's evidence path
    disagreement: str | None = None  # None when model, graph and top cause agree

    def as_details(self) -> dict[str, Any]:
        """The alert details' fields of the headline."""
        return {
            "mode": self.mode,
            "mode_probability": self.probability,
            "mode_source": self.source,
            "model_mode": self.model_mode,
            "model_probability": self.model_probability,
            "top_cause": self.top_cause,
            "top_cause_mode": self.top_cause_mode,
            "disagreement": self.disagreement,
        }

    def text(self) -> str:
        """`looseness 96%`, `ball (weak evidence, 2%)` when the mode is less likely active
        than not, with the disagreement after it when there is one."""
        if self.mode is None:
            return "no diagnosis"
        p = self.probability
        out = self.mode if p is None else f"{self.mode} {p:.0%}"
        if p is not None and p < WEAK_MODE:
            out = f"{self.mode} (weak evidence, {p:.0%})"
        return out if self.disagreement is None else f"{out} ({self.disagreement})"


def model_top(fault_probs: Mapping[str, float]) -> tuple[str | None, float | None]:
    """The model's most probable class ("healthy" included) and its probability."""
    if not fault_probs:
        return None, None
    mode = max(fault_probs, key=lambda k: fault_probs[k])
    return mode, float(fault_probs[mode])


def top_fault(fault_probs: Mapping[str, float]) -> tuple[str | None, float | None]:
    """The model's most probable fault mode other than `healthy`, with its probability."""
    faults = {k: v for k, v in fault_probs.items() if k != "healthy"}
    return model_top(faults)


def headline(fault_probs: Mapping[str, float], analysis: Mapping[str, Any] | None) -> Headline:
    """The displayed mode of one scoring: the graph's top failure mode when `analysis` (an
    alert's details with `modes` and `root_causes`) holds one, else the model's top fault."""
    model_mode, model_p = model_top(fault_probs)
    modes = [(str(m), float(p)) for m, p in (analysis or {}).get("modes") or []]
    if not modes:
        mode, p = top_fault(fault_probs)
        return Headline(mode, p, "model", model_mode, model_p)
    mode, p = max(modes, key=lambda t: t[1])
    if p < WEAK_MODE and model_mode == "healthy":
        # no failure mode more likely on than off and the model sees the asset healthy (a
        # repaired pump whose alert is clearing): the headline says so, the graph's guess after
        return Headline(
            "healthy",
            model_p,
            "model",
            model_mode,
            model_p,
            disagreement=f"no failure mode evident: {mode} {p:.0%} at most",
        )
    causes = (analysis or {}).get("root_causes") or []
    top = max(causes, key=lambda c: c.get("probability") or 0.0) if causes else None
    cause_label = None if top is None else str(top.get("label") or top.get("cause"))
    mode_ids = {m for m, _ in modes}
    cause_mode = None
    if top is not None:
        cause_mode = next((str(n) for n in top.get("path") or [] if n in mode_ids), None)
    reasons = []
    if model_mode is not None and model_mode != mode:
        evidence = cause_label if cause_label is not None else mode
        reasons.append(f"model: {model_mode} {model_p:.0%} / evidence: {evidence} ({mode} {p:.0%})")
    if cause_mode is not None and cause_mode != mode:
        reasons.append(f"top cause {cause_label} points to {cause_mode}, not {mode}")
    return Headline(
        mode,
        p,
        "evidence",
        model_mode,
        model_p,
        cause_label,
        cause_mode,
        "; ".join(reasons) or None,
    )

"""Ranked root causes: exact posterior of a noisy-OR Bayesian network under soft evidence.

The network: causes are independent roots with priors (FMEA occurrence, updated by the plant's
fault history with `update_priors`); mechanisms and failure modes are noisy-OR nodes of their
parents (no leak: they arise only from causes in the graph); symptoms are noisy-OR leaves with a
leak (false alarms, unmodelled causes). An edge's likelihood p is the link probability: the
parent alone switches the child on with probability p.

Hypotheses: exactly one active cause (and, with `pairs=True`, two: every pair of the `pair_top`
best single causes). For each hypothesis the latent mechanisms and modes it can reach are
enumerated exactly (2^k joint states, k <= MAX_LATENT), so P(evidence | H) is exact;
the posterior is exact within the hypothesis space (the usual single-fault assumption of
diagnosis, optionally relaxed to double faults).

Evidence: {symptom id or detector key: strength q in [0, 1]} is virtual (soft) evidence with
P(obs | symptom on) = q, P(obs | symptom off) = 1 - q: q = 1 present for sure, 0 absent for
sure, 0.5 says nothing. A symptom not in the evidence is unknown and marginalised out, which
is not the same as absent (q = 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from phm.kg.schema import CAUSAL_KINDS, LATENT_TYPES, GraphError, KnowledgeGraph

MAX_LATENT = 16
STRENGTH_EPS = 1e-4  # q is clipped to [eps, 1 - eps]: no single reading is infallible
# the strengths a detector emits (phm.diagnosis) and the model's evidence are clipped to this
STRENGTH_RANGE = (0.02, 0.98)


@dataclass(frozen=True)
class RankedCause:
    """A cause with its posterior probability, the evidence path cause -> mechanism -> mode ->
    observed symptoms (node ids), and the recommended actions (best first)."""

    cause: str
    probability: float
    path: tuple[str, ...]
    actions: tuple[str, ...]
    label: str = ""


@dataclass
class Posterior:
    """Posterior over causes and latent nodes (mechanisms, failure modes) given evidence."""

    causes: dict[str, float]
    latents: dict[str, float]
    hypotheses: list[tuple[tuple[str, ...], float]]
    unmatched: list[str] = field(default_factory=list)


@dataclass
class _Hypothesis:
    causes: tuple[str, ...]
    latents: list[str]
    states: np.ndarray  # (n, k) bool joint states of the reachable latents
    log_p_state: np.ndarray  # (n,)
    symptoms: np.ndarray  # (m,) indices into the graph's symptom list
    p_on: np.ndarray  # (n, m) P(symptom on | state, H)


@dataclass
class _Compiled:
    causes: list[str]
    log_odds: np.ndarray  # prior log odds per cause
    symptoms: list[str]
    sym_index: dict[str, int]
    leak: np.ndarray
    detector: dict[str, list[int]]
    topo: dict[str, int]
    parents: dict[str, list[tuple[str, float]]]  # causal parents (source, likelihood)
    singles: list[_Hypothesis]
    pairs: dict[tuple[str, str], _Hypothesis] = field(default_factory=dict)
    modes: dict[str, _Hypothesis] = field(default_factory=dict)


def _topo_order(graph: KnowledgeGraph) -> dict[str, int]:
    indeg = {n: len(graph.in_edges(n)) for n in graph.nodes}
    ready = [n for n in graph.nodes if indeg[n] == 0]
    order: dict[str, int] = {}
    while ready:
        n = ready.pop()
        order[n] = len(order)
        for e in graph.out_edges(n):
            indeg[e.target] -= 1
            if indeg[e.target] == 0:
                ready.append(e.target)
    return order


def _hypothesis(graph: KnowledgeGraph, comp: _Compiled, causes: tuple[str, ...]) -> _Hypothesis:
    reach: set[str] = set()
    todo = list(causes)
    while todo:
        n = todo.pop()
        for e in graph.out_edges(n, "causes"):
            if e.target not in reach:
                reach.add(e.target)
                todo.append(e.target)
    latents = sorted(reach, key=comp.topo.__getitem__)
    k = len(latents)
    if k > MAX_LATENT:
        raise GraphError(
            f"{graph.source}: cause(s) {', '.join(causes)} reach {k} mechanisms/modes; exact "
            f"enumeration allows {MAX_LATENT}"
        )
    col = {n: j for j, n in enumerate(latents)}
    states = ((np.arange(2**k)[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)  # (n, k)
    active = set(causes)

    def log_off(nodes: Sequence[str], leaks: np.ndarray) -> np.ndarray:
        """log P(node off | state) (n, len(nodes)): noisy-OR of the active parents."""
        w = np.zeros((k, len(nodes)))  # log(1 - p) of latent parents
        const = np.log1p(-leaks)
        for j, node in enumerate(nodes):
            for src, p in comp.parents[node]:
                if src in active:
                    const[j] += np.log1p(-p) if p < 1 else -np.inf
                elif src in col:
                    w[col[src], j] += np.log1p(-p) if p < 1 else -1e300
        with np.errstate(invalid="ignore"):
            out = states.astype(np.float64) @ w + const
        return np.nan_to_num(out, nan=-np.inf)

    log_p = np.zeros(states.shape[0])
    with np.errstate(divide="ignore"):
        for j, n in enumerate(latents):
            off = np.exp(log_off([n], np.zeros(1))[:, 0])
            log_p += np.log(np.where(states[:, j], 1.0 - off, off))
    affected = sorted(
        {comp.sym_index[e.target] for n in (*causes, *latents) for e in graph.out_edges(n, "shows")}
    )
    names = [comp.symptoms[i] for i in affected]
    p_sym = 1.0 - np.exp(log_off(names, comp.leak[affected].copy()))
    keep = np.isfinite(log_p)
    return _Hypothesis(
        causes, latents, states[keep], log_p[keep], np.array(affected, dtype=int), p_sym[keep]
    )


def compile_graph(graph: KnowledgeGraph) -> _Compiled:
    """The evidence-independent tables of a graph (cached on it)."""
    cached = graph._cache.get("compiled")
    if cached is not None:
        return cached
    causes = graph.of_type("cause")
    if not causes:
        raise GraphError(f"{graph.source}: the graph has no cause nodes to rank")
    priors = np.array([graph.prior(c) for c in causes])
    symptoms = graph.of_type("symptom")
    detector: dict[str, list[int]] = {}
    for i, s in enumerate(symptoms):
        key = graph.nodes[s].detector
        if key:
            detector.setdefault(key, []).append(i)
    comp = _Compiled(
        causes,
        np.log(priors) - np.log1p(-priors),
        symptoms,
        {s: i for i, s in enumerate(symptoms)},
        np.array([graph.leak(s) for s in symptoms]),
        detector,
        _topo_order(graph),
        {
            n: [(e.source, e.likelihood) for e in graph.in_edges(n) if e.kind in CAUSAL_KINDS]
            for n in graph.nodes
        },
        [],
    )
    comp.singles = [_hypothesis(graph, comp, (c,)) for c in causes]
    graph._cache["compiled"] = comp
    return comp


def _evidence_vector(comp: _Compiled, evidence: Mapping[str, float]) -> tuple[np.ndarray, list]:
    """q per symptom (NaN = unknown) and the evidence keys that match no symptom."""
    q = np.full(len(comp.symptoms), np.nan)
    unmatched = []
    for key, strength in evidence.items():
        if strength is None or not np.isfinite(strength):
            continue  # an unknown reading is no evidence
        idx = [comp.sym_index[key]] if key in comp.sym_index else comp.detector.get(key)
        if not idx:
            unmatched.append(key)
            continue
        if not 0 <= strength <= 1:
            raise ValueError(f"evidence {key!r}: strength {strength} outside [0, 1]")
        q[idx] = float(strength)
    return np.clip(q, STRENGTH_EPS, 1 - STRENGTH_EPS), unmatched


def _log_lik(h: _Hypothesis, q: np.ndarray, leak: np.ndarray) -> tuple[float, np.ndarray]:
    """log P(e | H) - log P(e | nothing active), and the posterior weights of H's states."""
    qs = q[h.symptoms]
    seen = ~np.isnan(qs)
    if not seen.any():
        return 0.0, np.exp(h.log_p_state)
    qs, p1, lk = qs[seen], h.p_on[:, seen], leak[h.symptoms][seen]
    ratio = np.log(qs * p1 + (1 - qs) * (1 - p1)) - np.log(qs * lk + (1 - qs) * (1 - lk))
    joint = h.log_p_state + ratio.sum(axis=1)
    top = joint.max()
    w = np.exp(joint - top)
    total = w.sum()
    return float(top + np.log(total)), w / total


def posterior(
    graph: KnowledgeGraph,
    evidence: Mapping[str, float],
    *,
    pairs: bool = False,
    pair_top: int = 6,
) -> Posterior:
    """Posterior of causes and latents given soft evidence (see the module docstring)."""
    comp = compile_graph(graph)
    q, unmatched = _evidence_vector(comp, evidence)
    hyps: list[tuple[_Hypothesis, float, np.ndarray]] = []
    for i, h in enumerate(comp.singles):
        ll, w = _log_lik(h, q, comp.leak)
        hyps.append((h, ll + comp.log_odds[i], w))
    if pairs and len(comp.causes) > 1:
        best = sorted(range(len(hyps)), key=lambda i: -hyps[i][1])[:pair_top]
        for a, b in combinations(sorted(best), 2):
            key = (comp.causes[a], comp.causes[b])
            if key not in comp.pairs:
                comp.pairs[key] = _hypothesis(graph, comp, key)
            ll, w = _log_lik(comp.pairs[key], q, comp.leak)
            hyps.append((comp.pairs[key], ll + comp.log_odds[a] + comp.log_odds[b], w))
    logs = np.array([s for _, s, _ in hyps])
    post = np.exp(logs - logs.max())
    post /= post.sum()
    causes = dict.fromkeys(comp.causes, 0.0)
    latents: dict[str, float] = {n: 0.0 for n in graph.nodes if graph.nodes[n].type in LATENT_TYPES}
    for (h, _, w), ph in zip(hyps, post, strict=True):
        for c in h.causes:
            causes[c] += float(ph)
        if h.latents:
            marg = w @ h.states
            for n, m in zip(h.latents, marg, strict=True):
                latents[n] += float(ph * m)
    return Posterior(
        causes,
        latents,
        [(h.causes, float(p)) for (h, _, _), p in zip(hyps, post, strict=True)],
        unmatched,
    )


def rank_causes(
    graph: KnowledgeGraph,
    evidence: Mapping[str, float],
    *,
    top: int | None = None,
    pairs: bool = False,
    present: float = 0.5,
) -> list[RankedCause]:
    """Causes by posterior probability (ties in graph order), each with its evidence path and
    actions. `present`: the strength from which an observed symptom joins a path."""
    comp = compile_graph(graph)
    post = posterior(graph, evidence, pairs=pairs)
    q, _ = _evidence_vector(comp, evidence)
    order = sorted(range(len(comp.causes)), key=lambda i: -post.causes[comp.causes[i]])
    out = []
    for i in order[: top if top is not None else len(order)]:
        cause = comp.causes[i]
        h = comp.singles[i]
        _, w = _log_lik(h, q, comp.leak)
        path = _path(graph, comp, h, w, q, present)
        out.append(
            RankedCause(
                cause,
                post.causes[cause],
                path,
                _actions(graph, path),
                graph.nodes[cause].label,
            )
        )
    return out


def _path(
    graph: KnowledgeGraph,
    comp: _Compiled,
    h: _Hypothesis,
    w: np.ndarray,
    q: np.ndarray,
    present: float,
) -> tuple[str, ...]:
    marg = w @ h.states if h.latents else np.zeros(0)
    on = [n for n, m in zip(h.latents, marg, strict=True) if m >= 0.5]
    if not on and h.latents:
        on = [h.latents[int(np.argmax(marg))]]
    seen = []
    for n in (*h.causes, *on):
        for e in graph.out_edges(n, "shows"):
            i = comp.sym_index[e.target]
            if not np.isnan(q[i]) and q[i] >= present and e.target not in seen:
                seen.append(e.target)
    return (*h.causes, *on, *seen)


def _actions(graph: KnowledgeGraph, path: Sequence[str]) -> tuple[str, ...]:
    found: dict[str, float] = {}
    for rank, n in enumerate(path):
        for e in graph.out_edges(n, "remedied_by"):
            # the cause's own remedies first, then those of the mechanisms and modes
            score = e.likelihood - rank
            found[e.target] = max(found.get(e.target, -np.inf), score)
    return tuple(sorted(found, key=lambda a: -found[a]))


def rank_modes(
    graph: KnowledgeGraph, evidence: Mapping[str, float], *, given_mode: bool = False
) -> list[tuple[str, float]]:
    """Failure modes by posterior probability of being active.

    given_mode=False: through the causes and their priors (the field view). given_mode=True:
    each failure mode alone is a hypothesis with equal prior (a seeded-fault test rig, where the
    field priors of causes do not apply): P(mode | e) proportional to P(e | mode).
    """
    modes = graph.of_type("failure_mode")
    if not given_mode:
        post = posterior(graph, evidence)
        return sorted(((m, post.latents[m]) for m in modes), key=lambda t: -t[1])
    comp = compile_graph(graph)
    q, _ = _evidence_vector(comp, evidence)
    hyps = comp.modes
    logs = []
    for m in modes:
        if m not in hyps:
            hyps[m] = _hypothesis(graph, comp, (m,))
        logs.append(_log_lik(hyps[m], q, comp.leak)[0])
    p = np.exp(np.array(logs) - max(logs))
    p /= p.sum()
    return sorted(zip(modes, p.tolist(), strict=True), key=lambda t: -t[1])


def update_priors(
    graph: KnowledgeGraph, history: Mapping[str, int], weight: float = 10.0
) -> KnowledgeGraph:
    """Priors updated by a plant's own fault history {cause id: count of failures}.

    The graph's priors, normalised, are a Dirichlet prior over which cause a failure has,
    worth `weight` failures; counts update it and the total prior mass is kept.
    """
    causes = graph.of_type("cause")
    unknown = [c for c in history if c not in causes]
    if unknown:
        raise GraphError(f"{graph.source}: fault history names unknown cause {unknown[0]!r}")
    if any(n < 0 for n in history.values()):
        raise GraphError(f"{graph.source}: fault history counts must be >= 0")
    priors = np.array([graph.prior(c) for c in causes])
    mass = priors.sum()
    n = np.array([history.get(c, 0) for c in causes], dtype=float)
    share = (weight * priors / mass + n) / (weight + n.sum())
    new = np.clip(share * mass, 1e-9, 0.999)
    return graph.with_priors(dict(zip(causes, new.tolist(), strict=True)))


def model_evidence(fault_probs: Mapping[str, float], prefix: str = "model.") -> dict[str, float]:
    """The diagnosis model's fault probabilities as evidence `model.<mode>` (healthy skipped)."""
    return {
        prefix + mode: float(np.clip(p, *STRENGTH_RANGE))
        for mode, p in fault_probs.items()
        if mode != "healthy" and p is not None and np.isfinite(p)
    }


def explain_alert(
    graph: KnowledgeGraph,
    prediction_fault_probs: Mapping[str, float],
    features: Mapping[str, float] | None = None,
    *,
    top: int = 5,
) -> list[RankedCause]:
    """Ranked causes for an alert: the model's fault probabilities (`model.<mode>` evidence)
    plus symptom strengths from `phm.diagnosis` detectors (`features`)."""
    evidence = dict(model_evidence(prediction_fault_probs))
    evidence.update(features or {})
    return rank_causes(graph, evidence, top=top)


def explain_modes(
    graph: KnowledgeGraph,
    prediction_fault_probs: Mapping[str, float],
    features: Mapping[str, float] | None = None,
) -> list[tuple[str, float]]:
    """Failure modes by posterior probability (through the causes and their priors) on the
    same evidence as `explain_alert`: the model's fault probabilities plus the detectors'
    symptom strengths."""
    evidence = dict(model_evidence(prediction_fault_probs))
    evidence.update(features or {})
    return rank_modes(graph, evidence)

"""PhmModel: modality combinations, masks, heads and likelihoods, configs, checkpoints."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from phm.errors import ConfigError
from phm.models.checkpoint import CheckpointHeader
from phm.models.encoder import attention_mask
from phm.models.heads import (
    calibrated_interval,
    conformal_factor,
    grouped_conformal_factors,
    hazard_nll,
    hazard_survival,
    mixture_hazard_logits,
    restricted_mean,
    survival_quantile,
    weibull_nll,
)
from phm.models.model import (
    ModelConfig,
    PhmEnsemble,
    PhmModel,
    load_checkpoint,
    load_config,
    save_checkpoint,
)

CONFIGS = Path(__file__).parents[2] / "phm" / "configs" / "models"
B, T, S, L = 3, 7, 4, 64


def tiny_config(**changes: object) -> ModelConfig:
    cfg = load_config(CONFIGS / "tiny.toml")
    base = {
        "process_channels": 5,
        "vibration_channels": 2,
        "context_cardinalities": (3, 2),
        "n_classes": 4,
        "n_fault_modes": 3,
        "max_positions": 16,
    }
    return dataclasses.replace(cfg, **(base | changes))


def make_inputs(names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    all_inputs = {
        "process": torch.randn(B, T, 5, generator=g),
        "vibration": torch.randn(B, S, 2, L, generator=g),
        "context": torch.stack([torch.tensor([0, 1, 2]), torch.tensor([1, 0, 1])], dim=1),
    }
    return {k: all_inputs[k] for k in names}


COMBOS = [
    c for r in (1, 2, 3) for c in itertools.combinations(("process", "vibration", "context"), r)
]


@pytest.mark.parametrize("names", COMBOS, ids=lambda c: "+".join(c))
def test_output_shapes_for_every_modality_combination(names: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    model = PhmModel(cfg).eval()
    out = model(make_inputs(names))
    assert out["fault"].shape == (B, 4)
    assert out["rul"].shape == (B, cfg.rul_bins)
    assert out["ttf"].shape == (B, 3, cfg.ttf_bins)
    summary = model.predict_rul(make_inputs(names))
    assert set(summary) == {"point", "median", "mean", "lower", "upper"}
    for v in summary.values():
        assert v.shape == (B,)
        assert not torch.isnan(v).any()
    assert (summary["lower"] <= summary["median"]).all()
    assert (summary["median"] <= summary["upper"]).all()
    loads = model.expert_load()
    assert len(loads) == cfg.n_layers - cfg.n_dense_blocks
    assert loads[0].shape == (cfg.n_routed_experts,)
    assert loads[0].sum() == pytest.approx(1.0)


def test_no_modality_is_an_error() -> None:
    with pytest.raises(ValueError, match="no modality"):
        PhmModel(tiny_config())({})


def test_unconfigured_modality_is_an_error() -> None:
    model = PhmModel(tiny_config(vibration_channels=0))
    with pytest.raises(ValueError, match="vibration"):
        model(make_inputs(("vibration",)))


def test_padding_does_not_change_outputs() -> None:
    torch.manual_seed(0)
    model = PhmModel(tiny_config()).eval()
    x = make_inputs(("process", "vibration", "context"))
    x["process_mask"] = torch.ones(B, T, dtype=torch.bool)
    x["process_mask"][:, :3] = False  # front padding, as in causal windows
    x["vibration_mask"] = torch.ones(B, S, dtype=torch.bool)
    x["vibration_mask"][1, -1] = False
    ref = model(x)
    x2 = {k: v.clone() for k, v in x.items()}
    x2["process"][:, :3] = 1e3
    x2["vibration"][1, -1] = -50.0
    out = model(x2)
    for k in ref:
        torch.testing.assert_close(out[k], ref[k])


def test_local_attention_window_mask() -> None:
    mask = torch.ones(1, 6, dtype=torch.bool)
    pos = torch.tensor([[-1, 0, 1, 2, 3, 4]])  # a global summary token, then five steps
    allowed = attention_mask(mask, pos, window=2)[0, 0]
    assert allowed[0].all() and allowed[:, 0].all()  # global token sees and is seen by all
    assert allowed[1, 2] and not allowed[1, 3]  # positions 0 and 2 are 2 apart: cut
    pad = torch.tensor([[True, True, True, False, True, True]])
    allowed = attention_mask(pad, pos, window=0)[0, 0]
    assert not allowed[1, 3] and allowed[3, 3]  # padded key unseen; every row keeps itself


def test_local_window_changes_far_dependence_only() -> None:
    torch.manual_seed(0)
    model = PhmModel(tiny_config(attn_window=2, n_layers=1, n_dense_blocks=1)).eval()
    x = make_inputs(("process",))
    h1, _ = model.encoder(x)
    x2 = {"process": x["process"].clone()}
    x2["process"][:, 0] += 5.0
    h2, _ = model.encoder(x2)
    # token for step 6 (index 7, after the summary) cannot see step 0 in a single layer
    torch.testing.assert_close(h1[:, 7], h2[:, 7])
    assert not torch.allclose(h1[:, 2], h2[:, 2])


def test_attention_gate_scales_head_outputs() -> None:
    torch.manual_seed(0)
    model = PhmModel(tiny_config(n_layers=1, n_dense_blocks=1)).eval()
    attn = model.encoder.blocks[0].attn
    x = torch.randn(2, 5, 16)
    m = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    with torch.no_grad():
        attn.gate.weight.zero_()
        attn.gate.bias.fill_(-30.0)  # sigmoid ~ 0: every head closed
    assert attn(x, m).abs().max() < 1e-6
    with torch.no_grad():
        attn.gate.bias.fill_(30.0)  # sigmoid ~ 1: plain attention
    assert attn(x, m).abs().max() > 1e-3


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PhmModel(tiny_config()).train()
    x = make_inputs(("process", "vibration", "context"))
    model(x)
    model.update_expert_bias()  # non-zero balancing bias must travel too
    model.rul.conformal_factor.copy_(torch.tensor([0.1, 0.2, 0.37, 0.5]))
    model.rul.conformal_edges.copy_(torch.tensor([1.0, 2.0, 3.0]))
    model.eval()
    path = tmp_path / "m.pt"
    header = CheckpointHeader(
        dataset="cmapss", channels=("s2", "s3"), feature_mean=np.arange(3.0), window=4
    )
    save_checkpoint(path, model, header)
    loaded, got = load_checkpoint(path)
    assert loaded.config == model.config
    assert got.channels == ("s2", "s3") and got.window == 4
    np.testing.assert_array_equal(got.feature_mean, np.arange(3.0))
    assert loaded.rul.conformal_factor.tolist() == pytest.approx([0.1, 0.2, 0.37, 0.5])
    torch.testing.assert_close(loaded.moe_layers()[0].gate.bias, model.moe_layers()[0].gate.bias)
    assert model.moe_layers()[0].gate.bias.abs().sum() > 0
    a, b = model(x), loaded(x)
    for k in a:
        assert torch.equal(a[k], b[k])
    pa, pb = model.predict_rul(x), loaded.predict_rul(x)
    for k in pa:
        assert torch.equal(pa[k], pb[k])


def test_load_checkpoint_rejects_a_non_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(ConfigError, match="not a phm checkpoint"):
        load_checkpoint(path)


# --- configs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_builds(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name == path.stem
    if cfg.name.startswith("dense-"):
        assert cfg.dense
    PhmModel(dataclasses.replace(cfg, process_channels=3))


@pytest.mark.parametrize("size", ["tiny", "small", "base"])
def test_dense_ablation_matches_active_parameters(size: str) -> None:
    moe_cfg = dataclasses.replace(load_config(CONFIGS / f"{size}.toml"), process_channels=3)
    dense_cfg = dataclasses.replace(load_config(CONFIGS / f"dense-{size}.toml"), process_channels=3)
    assert dense_cfg.d_model == moe_cfg.d_model
    moe, dense = PhmModel(moe_cfg), PhmModel(dense_cfg)
    n_moe_layers = moe_cfg.n_layers - moe_cfg.n_dense_blocks
    routers = sum(p.numel() for m in moe.moe_layers() for p in m.gate.parameters())
    assert len(moe.moe_layers()) == n_moe_layers
    # same active parameters per token, apart from the MoE's routers
    assert moe.n_params(active=True) - routers == dense.n_params(active=True)
    assert moe.n_params() > dense.n_params()


def test_unknown_config_key_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\nn_layerz = 3\n')
    with pytest.raises(ConfigError, match=r"bad\.toml.*n_layerz"):
        load_config(path)
    path.write_text('name = "bad"\nd_model = "wide"\n')
    with pytest.raises(ConfigError, match="d_model"):
        load_config(path)


# --- likelihoods and summaries -------------------------------------------------------------


def simulate_hazard(logits: torch.Tensor, edges: torch.Tensor, n: int, seed: int):
    """Draw event times from per-bin hazards; the time is the start of the failure bin."""
    g = torch.Generator().manual_seed(seed)
    h = torch.sigmoid(logits)
    fails = torch.rand(n, len(h), generator=g) < h  # (n, J)
    first = torch.where(fails.any(1), fails.float().argmax(1), torch.tensor(len(h)))
    return torch.cat([edges, edges[-1:]])[first] + 0.5 * (edges[1] - edges[0])


def test_hazard_nll_prefers_true_parameters() -> None:
    edges = torch.linspace(0, 100, 11)
    true = torch.linspace(-3, 0, 10)
    t = simulate_hazard(true, edges, 4000, 0)
    event = torch.ones_like(t, dtype=torch.bool)
    nll_true = hazard_nll(true.expand(len(t), -1), t, event, edges).mean()
    for wrong in (true + 0.5, true - 0.5, true.flip(0)):
        assert nll_true < hazard_nll(wrong.expand(len(t), -1), t, event, edges).mean()


def test_censored_rows_only_penalise_mass_before_censoring() -> None:
    edges = torch.linspace(0, 100, 11)
    base = torch.zeros(1, 10)
    t, e = torch.tensor([35.0]), torch.tensor([False])  # censored in bin 3: survived bins 0-2
    after = base.clone()
    after[0, 3:] = 4.0  # more failure mass from 30 on (bin 3 included: not fully survived)
    assert hazard_nll(after, t, e, edges) == pytest.approx(hazard_nll(base, t, e, edges))
    before = base.clone()
    before[0, 1] = 4.0  # more mass in 10-20, before the censoring time
    assert hazard_nll(before, t, e, edges) > hazard_nll(base, t, e, edges) + 1.0
    # hand value: survive 3 bins of hazard 0.5 -> -log(0.125)
    assert float(hazard_nll(base, t, e, edges)) == pytest.approx(-math.log(0.125), rel=1e-5)
    # an event in bin 3 adds the log hazard of that bin
    assert float(hazard_nll(base, t, ~e, edges)) == pytest.approx(-math.log(0.0625), rel=1e-5)


def test_weibull_nll_prefers_true_parameters_and_handles_censoring() -> None:
    rng = np.random.default_rng(0)
    scale, shape = 80.0, 2.5
    t = torch.tensor(scale * rng.weibull(shape, 4000), dtype=torch.float32)
    censor = torch.tensor(rng.uniform(20, 200, 4000), dtype=torch.float32)
    obs, event = torch.minimum(t, censor), t <= censor
    ls, lk = torch.full_like(obs, math.log(scale)), torch.full_like(obs, math.log(shape))
    nll_true = weibull_nll(ls, lk, obs, event).mean()
    for dls, dlk in ((0.2, 0.0), (-0.2, 0.0), (0.0, 0.3), (0.0, -0.3)):
        assert nll_true < weibull_nll(ls + dls, lk + dlk, obs, event).mean()
    # a censored row is -log S(c) = (c / scale) ** shape
    one = weibull_nll(ls[:1], lk[:1], torch.tensor([40.0]), torch.tensor([False]))
    assert float(one) == pytest.approx((40 / 80) ** 2.5, rel=1e-5)


def test_survival_quantiles_and_restricted_mean_hand_case() -> None:
    grid = torch.tensor([0.0, 10.0, 20.0])
    surv = torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.9, 0.8]])
    med = survival_quantile(surv, grid, 0.5)
    assert med[0] == pytest.approx(10.0)
    assert math.isinf(med[1])  # never reaches 0.5 within the grid
    assert survival_quantile(surv, grid, 0.25)[0] == pytest.approx(5.0)
    torch.testing.assert_close(restricted_mean(surv, grid), torch.tensor([10.0, 18.0]))
    s = hazard_survival(torch.zeros(1, 2))
    torch.testing.assert_close(s, torch.tensor([[1.0, 0.5, 0.25]]))


def test_conformal_factor_reaches_the_target_coverage() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, 4000)
    med = np.full_like(y, 50.0)
    lo, hi = med - 5.0, med + 5.0  # far too narrow: covers ~38%
    q = conformal_factor(lo[:2000], med[:2000], hi[:2000], y[:2000], 0.9, 1.0)
    assert q > 1.0
    clo, chi = calibrated_interval(
        torch.tensor(lo[2000:]), torch.tensor(med[2000:]), torch.tensor(hi[2000:]), q, 1.0
    )
    cover = np.mean((y[2000:] >= clo.numpy()) & (y[2000:] <= chi.numpy()))
    assert 0.88 <= cover <= 0.92
    # an open upper bound never misses above and stays open
    clo, chi = calibrated_interval(
        torch.tensor([40.0]), torch.tensor([50.0]), torch.tensor([math.inf]), 0.5, 1.0
    )
    assert float(clo) == pytest.approx(35.0) and math.isinf(float(chi))


def test_conformal_factor_counts_assets_when_their_windows_move_together() -> None:
    # 20 validation assets of 50 windows each; an asset's windows share one error offset, so
    # there are 20 exchangeable draws, not 1000. Counting rows under-covers new assets;
    # counting assets keeps the guarantee (expected coverage >= 0.9 over repetitions).
    rng = np.random.default_rng(2)
    by_rows, by_units = [], []
    units = np.repeat(np.arange(20), 50)
    for _ in range(300):
        y = np.repeat(rng.normal(0, 10, 20), 50) + rng.normal(0, 0.5, 1000)
        med = np.zeros(1000)
        lo, hi = med - 1.0, med + 1.0
        new_y = rng.normal(0, 10, 200) + rng.normal(0, 0.5, 200)
        for out, u in ((by_rows, None), (by_units, units)):
            f = conformal_factor(lo, med, hi, y, 0.9, 1.0, u)
            out.append(np.mean(np.abs(new_y) <= 1.0 + f))
    assert np.mean(by_rows) < 0.89
    assert np.mean(by_units) >= 0.9


def test_grouped_conformal_covers_each_band_under_a_shifted_mix() -> None:
    rng = np.random.default_rng(1)
    n = 6000
    med = np.where(rng.random(n) < 0.8, 150.0, 60.0)  # validation: mostly "healthy"
    noise = np.where(med > 100, 2.0, 15.0)  # the near-failure band is much noisier
    y = med + rng.normal(0, 1, n) * noise
    lo, hi = med - 5.0, med + 5.0
    factors, edges = grouped_conformal_factors(lo, med, hi, y, 0.9, 1.0, n_groups=2)
    assert factors[0] > factors[1]  # the noisy band gets the wider interval
    # test rows: mostly near failure (the opposite mix)
    tmed = np.where(rng.random(n) < 0.2, 150.0, 60.0)
    ty = tmed + rng.normal(0, 1, n) * np.where(tmed > 100, 2.0, 15.0)
    group = np.searchsorted(edges, tmed, side="right")
    t = [torch.tensor(v) for v in (tmed - 5.0, tmed, tmed + 5.0)]
    tlo, thi = calibrated_interval(*t, torch.tensor(factors[group]), 1.0)
    assert 0.87 <= np.mean((ty >= tlo.numpy()) & (ty <= thi.numpy())) <= 0.93
    pooled = conformal_factor(lo, med, hi, y, 0.9, 1.0)
    plo, phi = calibrated_interval(*t, pooled, 1.0)
    assert np.mean((ty >= plo.numpy()) & (ty <= phi.numpy())) < 0.8  # pooled under-covers


def test_ttf_head_no_fault_maps_to_nan() -> None:
    model = PhmModel(tiny_config()).eval()
    logits = torch.full((2, 3, model.config.ttf_bins), -20.0)  # nothing fails
    logits[0, 1] = 5.0  # mode 1 of row 0 fails in the first bin
    pred = model.ttf.predict(logits)
    assert torch.isnan(pred[1]).all()
    assert torch.isnan(pred[0, 0]) and not torch.isnan(pred[0, 1])
    assert float(pred[0, 1]) < model.config.ttf_horizon / model.config.ttf_bins
    assert model.ttf.no_fault_prob(logits)[1].min() > 0.99


# --- deep ensembles ------------------------------------------------------------------------------


def test_mixture_hazard_logits_give_back_the_mean_survival() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 6, 10, generator=g) * 2.0  # K=4 members, 6 windows, 10 bins
    mixed = mixture_hazard_logits(logits)
    assert mixed.shape == (6, 10)
    want = hazard_survival(logits).mean(0)
    torch.testing.assert_close(hazard_survival(mixed), want, atol=1e-6, rtol=1e-5)
    # one member: the mixture is that member
    torch.testing.assert_close(mixture_hazard_logits(logits[:1]), logits[0], atol=1e-4, rtol=1e-4)


def test_ensemble_outputs_are_the_members_mixture() -> None:
    cfg = tiny_config()
    members = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        members.append(PhmModel(cfg).eval())
    ensemble = PhmEnsemble(members).eval()
    inputs = make_inputs(("process", "vibration", "context"))
    with torch.no_grad():
        out = ensemble(inputs)
        outs = [m(inputs) for m in members]
    probs = torch.stack([o["fault"].softmax(-1) for o in outs]).mean(0)
    torch.testing.assert_close(out["fault"].softmax(-1), probs, atol=1e-6, rtol=1e-5)
    surv = torch.stack([hazard_survival(o["rul"]) for o in outs]).mean(0)
    torch.testing.assert_close(hazard_survival(out["rul"]), surv, atol=1e-6, rtol=1e-5)
    ttf = torch.stack([hazard_survival(o["ttf"]) for o in outs]).mean(0)
    torch.testing.assert_close(hazard_survival(out["ttf"]), ttf, atol=1e-6, rtol=1e-5)
    # the mixture's median lies between the members' extremes
    med = ensemble.predict_rul(inputs)["median"]
    each = torch.stack([m.predict_rul(inputs)["median"] for m in members])
    assert ((med >= each.min(0).values - 1e-4) & (med <= each.max(0).values + 1e-4)).all()
    assert ensemble.n_params() == 3 * members[0].n_params()
    assert len(ensemble.expert_load()) == 3 * len(members[0].expert_load())


def test_ensemble_checkpoint_round_trips(tmp_path: Path) -> None:
    cfg = tiny_config()
    ensemble = PhmEnsemble([PhmModel(cfg), PhmModel(cfg)]).eval()
    ensemble.rul.conformal_factor.fill_(0.25)
    path = tmp_path / "ens.pt"
    save_checkpoint(path, ensemble, CheckpointHeader(dataset="cmapss", training={"note": "x"}))
    loaded, header = load_checkpoint(path)
    assert isinstance(loaded, PhmEnsemble) and len(loaded.members) == 2
    assert header.training == {"note": "x"}
    inputs = make_inputs(("process", "context"))
    with torch.no_grad():
        a, b = ensemble.predict_rul(inputs), loaded.predict_rul(inputs)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert float(loaded.rul.conformal_factor[0]) == 0.25


def test_ensemble_rejects_weibull_and_mixed_configs() -> None:
    with pytest.raises(ConfigError, match="weibull"):
        PhmEnsemble([PhmModel(tiny_config(rul_head="weibull"))])
    with pytest.raises(ValueError, match="member 1"):
        PhmEnsemble([PhmModel(tiny_config()), PhmModel(tiny_config(d_model=8))])

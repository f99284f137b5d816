"""C-MAPSS operating conditions in the networks: condition inputs, the checkpoint, expert load."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from phm.datasets.cmapss import load_cmapss
from phm.errors import ConfigError
from phm.models.data import TrainConfig, load_train_config
from phm.models.expert_load import condition_information, expert_load_by_condition
from phm.models.model import PhmModel, load_checkpoint, load_config, save_checkpoint
from phm.models.predictor import Predictor
from phm.models.prepare import CmapssOptions, prepare_cmapss
from phm.models.windows import cmapss_token_conditions, cmapss_windows

_spec = importlib.util.spec_from_file_location(
    "cmapss_test_helpers", Path(__file__).parents[1] / "datasets" / "test_cmapss.py"
)
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

TINY = Path(__file__).parents[2] / "phm" / "configs" / "models" / "tiny.toml"


@pytest.fixture(scope="module")
def fd002(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return helpers.write_fd002_like(tmp_path_factory.mktemp("d") / "cmapss", n_train=8, seed=3)


def _tcfg(condition_input: str) -> TrainConfig:
    return dataclasses.replace(load_train_config(TINY), condition_input=condition_input)


@pytest.mark.parametrize(
    ("mode", "token", "extra_channels"),
    [("token", True, 0), ("channels", False, 6), ("both", True, 6), ("none", False, 0)],
)
def test_condition_inputs_on_six_conditions(
    fd002: Path, mode: str, token: bool, extra_channels: int
) -> None:
    prep = prepare_cmapss(CmapssOptions(data=fd002, subset="FD002"), _tcfg(mode), seed=0)
    n_sensors = len(prep.header.channels)
    x = prep.fit.inputs["process"]  # (N, T, C)
    assert x.shape[2] == n_sensors + extra_channels + 1  # sensors, one-hot, cycle last
    assert prep.config_updates["process_channels"] == x.shape[2]
    assert ("context" in prep.fit.inputs) is token
    assert prep.config_updates["context_cardinalities"] == ((6,) if token else ())
    assert prep.header.condition_input == mode
    if extra_channels:
        onehot = x[:, :, n_sensors : n_sensors + 6]
        real = prep.fit.inputs["process_mask"]
        assert (onehot[real].sum(axis=1) == 1).all() and (onehot[~real] == 0).all()
        # The last step's one-hot is the condition of the window's last cycle.
        data = load_cmapss(fd002, "FD002")
        first = data.train[0] if data.train[0].asset_id in prep.fit.groups else data.train[1]
        cond = first.signals["condition"].to_numpy()
        rows = np.flatnonzero(prep.fit.groups == first.asset_id)
        assert (onehot[rows, -1].argmax(axis=1) == cond).all()


def test_one_condition_gets_no_constant_channels(fd002: Path) -> None:
    data = load_cmapss(fd002, "FD002")
    w = cmapss_windows(data.train[:2], ["s2"], 5, 125.0, False, False, "both", n_conditions=1)
    assert w.inputs["process"].shape[2] == 1 and "context" in w.inputs


def test_unknown_condition_input_names_the_field(fd002: Path) -> None:
    with pytest.raises(ConfigError, match="condition_input = 'regime'"):
        prepare_cmapss(CmapssOptions(data=fd002, subset="FD002"), _tcfg("regime"), seed=0)


def test_regimes_deterministic_and_kept_in_the_checkpoint(fd002: Path, tmp_path: Path) -> None:
    options = CmapssOptions(data=fd002, subset="FD002")
    a = prepare_cmapss(options, _tcfg("both"), seed=1)
    b = prepare_cmapss(options, _tcfg("both"), seed=1)
    np.testing.assert_array_equal(a.header.condition_centres, b.header.condition_centres)
    np.testing.assert_array_equal(a.header.feature_mean, b.header.feature_mean)
    assert a.header.condition_centres.shape == (6, 3) and a.header.feature_mean.shape[0] == 6
    np.testing.assert_allclose(a.header.condition_centres, helpers.SIX_CONDITIONS, atol=0.01)
    cfg = dataclasses.replace(load_config(TINY), **a.config_updates)
    torch.manual_seed(0)
    model = PhmModel(cfg)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, a.header)
    _, header = load_checkpoint(path)
    assert header.condition_input == "both"
    np.testing.assert_array_equal(header.condition_centres, a.header.condition_centres)
    # Serving rebuilds the test windows exactly as training built them.
    _, windows = Predictor.load(path).cmapss_inputs(load_cmapss(fd002, "FD002").test)
    assert a.test is not None
    for key in ("process", "process_mask", "context"):
        np.testing.assert_array_equal(windows.inputs[key], a.test.inputs[key])


def test_condition_information_hand_computed() -> None:
    assert condition_information(np.array([[2, 0], [0, 2]])) == pytest.approx(1.0)
    assert condition_information(np.array([[1, 1], [1, 1]])) == pytest.approx(0.0)
    assert condition_information(np.zeros((3, 4))) == 0.0


def test_expert_load_counts_each_conditions_tokens(fd002: Path) -> None:
    prep = prepare_cmapss(CmapssOptions(data=fd002, subset="FD002"), _tcfg("token"), seed=0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    torch.manual_seed(0)
    model = PhmModel(cfg)
    data = load_cmapss(fd002, "FD002")
    val = set(prep.extra["val_units"])
    cond = cmapss_token_conditions([r for r in data.train if r.asset_id in val], 10)
    assert cond.shape == prep.val.inputs["process_mask"].shape
    assert ((cond >= 0) == prep.val.inputs["process_mask"]).all()
    # Force every token onto experts 2 and 3 with the balancing bias (it only shifts choice).
    for moe in model.moe_layers():
        moe.gate.bias.copy_(torch.tensor([0.0, 0.0, 100.0, 100.0]))
    loads = expert_load_by_condition(model, prep.val, cond, 6, batch_size=7)
    assert [(ld.member, ld.layer) for ld in loads] == [(0, 0)]  # tiny: one MoE layer
    counts = loads[0].counts
    per_condition = np.bincount(cond[cond >= 0], minlength=6)
    np.testing.assert_array_equal(counts.sum(axis=1), 2 * per_condition)  # top-2 slots
    np.testing.assert_array_equal(counts[:, :2], 0)
    np.testing.assert_array_equal(counts[:, 2], per_condition)
    d = loads[0].to_dict()
    assert d["tokens_per_condition"] == per_condition.tolist()
    assert d["condition_information_bits"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="rows for"):
        expert_load_by_condition(model, prep.val, cond[:-1], 6)
    # An ensemble: one table per member's MoE layer, each counting every token once.
    from phm.models.model import PhmEnsemble

    ensemble = PhmEnsemble([model, PhmModel(cfg)])
    loads = expert_load_by_condition(ensemble, prep.val, cond, 6)
    assert [(ld.member, ld.layer) for ld in loads] == [(0, 0), (1, 0)]
    for ld in loads:
        np.testing.assert_array_equal(ld.counts.sum(axis=1), 2 * per_condition)


def test_cmapss_default_configs_are_the_small_model_as_ensembles() -> None:
    from phm.bench.cmapss import CMAPSS_NETWORKS
    from phm.models.cli import DATASET_CONFIGS

    assert DATASET_CONFIGS["cmapss"] == CMAPSS_NETWORKS["moe"]
    small = load_config(CMAPSS_NETWORKS["moe"].with_name("small.toml"))
    for model, path in CMAPSS_NETWORKS.items():
        cfg, tcfg = load_config(path), load_train_config(path)
        assert tcfg.members == 5 and tcfg.condition_input == "both" and tcfg.window == 100
        assert cfg.dense is (model == "dense") and cfg.d_model == small.d_model

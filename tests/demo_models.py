"""Untrained tiny checkpoints in a `phm demo` store, so tests skip its first-start training."""

from __future__ import annotations

import dataclasses
from pathlib import Path

ROOT = Path(__file__).parents[1]
TINY = ROOT / "phm" / "configs" / "models" / "tiny.toml"


def place_demo_models(store: Path) -> None:
    """STORE/models/pump.pt (dataset plant) and ion_mill.pt (dataset phm2018), untrained: an
    untrained pump model gives P(healthy) ~ 1/8, so alerts come quickly."""
    from phm.models.data import TrainConfig
    from phm.models.model import PhmModel, load_config, save_checkpoint
    from phm.models.prepare import Phm2018Options, prepare_phm2018
    from phm.models.prepare_plant import PlantOptions, prepare_plant
    from phm.sim.ion_mill_files import simulate_phm2018

    models = store / "models"
    models.mkdir(parents=True, exist_ok=True)
    tcfg = TrainConfig(snapshots=3, snapshot=256)
    prep = prepare_plant(PlantOptions(pumps=3, test_pumps=0, plant=None), tcfg, 0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    save_checkpoint(models / "pump.pt", PhmModel(cfg), prep.header)
    sim = models / "ion_mill_tiny"
    simulate_phm2018(sim, tools=2, days=1.0, seed=2, test_tools=1, workers=1, progress=False)
    tcfg = TrainConfig(val_fraction=0.5)
    prep = prepare_phm2018(Phm2018Options(data=sim, stride=60, near_stride=20), tcfg, 0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    save_checkpoint(models / "ion_mill.pt", PhmModel(cfg), prep.header)


def trained_ion_mill_model(folder: Path, seed: int = 2) -> Path:
    """FOLDER/ion_mill.pt: the tiny config trained 10 epochs on a simulated 2-tool day
    (about 5 s), so its outputs carry the base rates (P(no fault within the horizon) ~ 0.85)
    rather than an untrained model's noise."""
    from phm.models.prepare import Phm2018Options
    from phm.models.train import TrainOptions, train_and_save
    from phm.sim.ion_mill_files import simulate_phm2018

    folder.mkdir(parents=True, exist_ok=True)
    sim = folder / "ion_mill_tiny"
    simulate_phm2018(sim, tools=2, days=1.0, seed=seed, test_tools=1, workers=1, progress=False)
    data = Phm2018Options(data=sim, stride=60, near_stride=20)
    out = folder / "ion_mill.pt"
    options = TrainOptions(data=data, out=out, config=TINY, epochs=10, threads=1, test=False)
    return train_and_save(options)


def random_tiny_pump(seed: int):
    """A tiny pump model (tiny.toml) with random, not initial, weights (so its outputs differ
    between pumps), and the prepared windows of 3 simulated pumps it was sized on:
    (model, prep); save with `save_checkpoint(path, model, prep.header)`."""
    import torch

    from phm.models.data import TrainConfig
    from phm.models.model import PhmModel, load_config
    from phm.models.prepare_plant import PlantOptions, prepare_plant

    prep = prepare_plant(PlantOptions(pumps=3, test_pumps=0, plant=None),
                         TrainConfig(snapshots=3, snapshot=256), 0)  # fmt: skip
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    torch.manual_seed(seed)
    model = PhmModel(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model, prep

"""The three training stages: masked pretraining and init, PCGrad, distillation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from phm.cli import main
from phm.errors import ConfigError
from phm.models.data import TrainConfig, WindowSet
from phm.models.distill import bin_mass, distillation_loss, teacher_loss
from phm.models.model import PhmModel, load_checkpoint, load_config
from phm.models.pretrain import (
    MaskedPretrainer,
    PretrainConfig,
    Source,
    load_pretrained,
    pretrain,
    save_pretrained,
    token_mask,
)
from phm.models.surgery import pcgrad, surgery_backward, task_losses
from phm.models.train import fit
from tests.models.test_train import write_fd001_like

TINY = Path(__file__).parents[2] / "phm" / "configs" / "models" / "tiny.toml"


def multitask_windows(n: int, seed: int) -> WindowSet:
    """Process windows whose class sets a channel's level and whose RUL sets another's slope."""
    rng = np.random.default_rng(seed)
    fault = rng.integers(0, 3, n)
    rul = rng.uniform(0, 40, n).astype(np.float32)
    t = np.arange(8, dtype=np.float32)
    x = rng.normal(0, 0.1, (n, 8, 3)).astype(np.float32)
    x[..., 0] += fault[:, None]
    x[..., 1] += (40 - rul)[:, None] / 40 * (1 + 0.1 * t[None])
    return WindowSet(
        inputs={"process": x},
        targets={
            "fault": fault,
            "rul_time": np.minimum(rul, 30.0),
            "rul_event": rul < 30.0,
            "rul_true": rul,
        },
        groups=np.arange(n) // 8,
    )


def tiny_config(**changes):
    cfg = dataclasses.replace(
        load_config(TINY), process_channels=3, max_positions=8, rul_horizon=30.0, n_classes=3
    )
    return dataclasses.replace(cfg, **changes)


# --- PCGrad ------------------------------------------------------------------------------------


def test_pcgrad_projects_two_conflicting_gradients_on_each_others_normal_plane() -> None:
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # g1 . g2 = -1 < 0
    # g1' = g1 - (-1 / 2) g2 = (0.5, 0.5); g2' = g2 - (-1 / 1) g1 = (0, 1)
    out = pcgrad([g1, g2])
    torch.testing.assert_close(out, torch.tensor([0.5, 1.5]))
    g1p = g1 - torch.dot(g1, g2) / g2.pow(2).sum() * g2
    assert abs(float(torch.dot(g1p, g2))) < 1e-7  # orthogonal to the gradient it conflicted with
    # gradients that agree are summed untouched
    torch.testing.assert_close(pcgrad([g1, torch.tensor([1.0, 1.0])]), torch.tensor([2.0, 1.0]))


def test_surgery_backward_sets_shared_grads_to_pcgrad_and_heads_to_their_own() -> None:
    torch.manual_seed(0)
    model = PhmModel(tiny_config())
    data = multitask_windows(32, 0).to(torch.device("cpu"))
    inputs, targets = data.batch(torch.arange(32))
    model.train()
    parts = model.loss_parts(model(inputs), targets)
    tasks, rest = task_losses(parts)
    assert set(tasks) == {"fault", "rul"} and rest is None
    shared = list(model.encoder.parameters())
    per_task = []
    for loss in tasks.values():
        grads = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True)
        per_task.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(shared, grads, strict=True)
                ]
            )
        )
    fault_head = torch.autograd.grad(tasks["fault"], model.fault.proj.weight, retain_graph=True)[0]
    gen = torch.Generator().manual_seed(1)
    expected = pcgrad(per_task, torch.Generator().manual_seed(1))
    surgery_backward(model, parts, gen)
    got = torch.cat([p.grad.reshape(-1) for p in shared])
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(model.fault.proj.weight.grad, fault_head)
    assert float(torch.dot(per_task[0], per_task[1])) != 0.0


def test_terms_outside_the_task_groups_join_the_shared_gradient_unprojected() -> None:
    torch.manual_seed(0)
    model = PhmModel(tiny_config())
    data = multitask_windows(16, 0).to(torch.device("cpu"))
    inputs, targets = data.batch(torch.arange(16))
    shared = list(model.encoder.parameters())

    def parts_of() -> dict:
        parts = model.loss_parts(model(inputs), targets)
        parts["extra"] = 0.1 * sum(p.pow(2).sum() for p in shared)  # e.g. a distillation term
        return parts

    surgery_backward(model, parts_of(), torch.Generator().manual_seed(1))
    with_extra = torch.cat([p.grad.reshape(-1) for p in shared])
    parts = parts_of()
    del parts["extra"]
    model.zero_grad()
    surgery_backward(model, parts, torch.Generator().manual_seed(1))
    without = torch.cat([p.grad.reshape(-1) for p in shared])
    extra = torch.cat([0.2 * p.detach().reshape(-1) for p in shared])  # d/dp 0.1 p^2
    torch.testing.assert_close(with_extra, without + extra)


def test_fit_with_pcgrad_trains_and_an_unknown_surgery_is_refused() -> None:
    tcfg = TrainConfig(batch_size=32, lr=3e-3, warmup_steps=2, epochs=3, patience=5)
    train, val = multitask_windows(256, 0), multitask_windows(64, 1)
    model = PhmModel(tiny_config())
    result = fit(
        model, train, val, dataclasses.replace(tcfg, gradient_surgery="pcgrad"), progress=False
    )
    losses = [h["loss"] for h in result.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    with pytest.raises(ConfigError, match="gradient_surgery"):
        fit(model, train, val, dataclasses.replace(tcfg, gradient_surgery="mgda"), progress=False)


# --- pretraining and init ----------------------------------------------------------------------


def toy_source(n: int, seed: int, name: str = "toy") -> Source:
    """Each window holds one random level per channel (plus noise): a masked step is
    predictable from the visible ones."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 1, (n, 1, 3))
    x = (level + rng.normal(0, 0.1, (n, 16, 3))).astype(np.float32)
    cfg = dataclasses.replace(load_config(TINY), process_channels=3, max_positions=16)
    half = n // 2
    return Source(name, cfg, {"process": x[:half]}, {"process": x[half:]})


def test_token_mask_masks_spans_of_real_tokens_only() -> None:
    real = torch.ones(200, 20, dtype=torch.bool)
    real[:, :5] = False  # front padding
    m = token_mask(real, 0.5, 4, torch.Generator().manual_seed(0))
    assert not m[:, :5].any() and m.any(1).all()
    share = m[:, 5:].float().mean()
    assert 0.35 < share < 0.65


def test_pretraining_lowers_the_held_out_masked_reconstruction_loss() -> None:
    source = toy_source(1024, 0)
    pcfg = PretrainConfig(epochs=6, batch_size=32, warmup_steps=5, lr=2e-2, span=2)
    _, result = pretrain([source], source.config, pcfg, seed=0, log=lambda _: None)
    before, after = result.history[0]["val_toy"], result.history[-1]["val_toy"]
    assert after < 0.3 * before


def test_init_loads_matching_trunk_tensors_and_reports_mismatches(tmp_path: Path) -> None:
    source = toy_source(32, 0)
    torch.manual_seed(0)
    pre = MaskedPretrainer(source.config, {"toy": source.config})
    ckpt = tmp_path / "pre.pt"
    save_pretrained(ckpt, pre, {})
    model = PhmModel(source.config)
    report = load_pretrained(model, ckpt, "toy")
    for name, value in pre.state_dict().items():
        if name.startswith("blocks."):
            torch.testing.assert_close(model.encoder.state_dict()[name], value)
    torch.testing.assert_close(
        model.encoder.embed.process.weight, pre.heads["toy"].embed.process.weight
    )
    assert not report.skipped and not report.random
    # another channel count: the process embedder is skipped and reported, the trunk loads
    other = PhmModel(dataclasses.replace(source.config, process_channels=5))
    report = load_pretrained(other, ckpt, "toy")
    assert any(s.startswith("embed.process.weight: shape") for s in report.skipped)
    assert "embed.process.weight" in report.random and "blocks.0.attn.qkv.weight" in report.loaded
    # another source: no embedders, only the trunk
    report = load_pretrained(PhmModel(source.config), ckpt, "cwru")
    assert any("no embedders for cwru" in s for s in report.skipped)
    # another width: nothing matches
    wide = PhmModel(dataclasses.replace(source.config, d_model=32, n_heads=2))
    with pytest.raises(ConfigError, match="no pretrained tensor matches"):
        load_pretrained(wide, ckpt, "toy")
    torch.save({"format": 2}, tmp_path / "model.pt")
    with pytest.raises(ConfigError, match="not a pretrained checkpoint"):
        load_pretrained(model, tmp_path / "model.pt", "toy")
    with pytest.raises(ConfigError, match="not found"):
        load_pretrained(model, tmp_path / "missing.pt", "toy")


# --- distillation ------------------------------------------------------------------------------


def test_bin_mass_is_a_distribution_and_equal_outputs_have_zero_kl() -> None:
    logits = torch.randn(4, 6)
    mass = bin_mass(logits)
    assert mass.shape == (4, 7)
    torch.testing.assert_close(mass.sum(-1), torch.ones(4), atol=1e-5, rtol=0)
    out = {"fault": torch.randn(4, 3), "rul": logits}
    assert float(distillation_loss(out, out, 2.0)) == pytest.approx(0.0, abs=1e-5)
    other = {"fault": torch.randn(4, 3), "rul": torch.randn(4, 6)}
    assert float(distillation_loss(out, other, 2.0)) > 0


def test_a_distilled_student_matches_the_teacher_better_than_an_untrained_one() -> None:
    tcfg = TrainConfig(batch_size=32, lr=3e-3, warmup_steps=2, epochs=4, patience=5)
    train, val = multitask_windows(256, 0), multitask_windows(64, 1)
    torch.manual_seed(0)
    teacher = PhmModel(tiny_config())
    fit(teacher, train, val, tcfg, progress=False)
    small = tiny_config(d_model=8, n_heads=2, dense_hidden=16, expert_hidden=8, rul_bins=6)
    torch.manual_seed(1)
    untrained = PhmModel(small)
    torch.manual_seed(1)
    student = PhmModel(small)
    extra = teacher_loss(teacher, student, 1.0, 2.0)
    fit(student, train, val, tcfg, progress=False, extra_loss=extra)
    inputs, _ = val.to(torch.device("cpu")).batch(torch.arange(len(val)))
    teacher.eval(), student.eval(), untrained.eval()
    with torch.no_grad():
        target = teacher(inputs)
        grids = {"rul": (teacher.rul.grid, student.rul.grid)}  # 10 bins -> 6
        kl_student = float(distillation_loss(target, student(inputs), 1.0, grids))
        kl_untrained = float(distillation_loss(target, untrained(inputs), 1.0, grids))
    assert kl_student < 0.5 * kl_untrained


def test_bin_mass_moves_onto_another_grid() -> None:
    logits = torch.randn(5, 4)
    grid, onto = torch.linspace(0, 40, 5), torch.linspace(0, 40, 3)  # 4 bins -> 2 bins
    mass = bin_mass(logits, grid, onto)
    fine = bin_mass(logits)  # (5, 5): bins 0-10, 10-20, 20-30, 30-40, tail
    torch.testing.assert_close(mass[:, 0], fine[:, 0] + fine[:, 1])
    torch.testing.assert_close(mass[:, 1], fine[:, 2] + fine[:, 3])
    torch.testing.assert_close(mass[:, 2], fine[:, 4])


# --- the commands end to end -------------------------------------------------------------------


def test_pretrain_train_init_and_distill_commands_run_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = write_fd001_like(tmp_path)
    pre = tmp_path / "pre.pt"
    rc = main(["pretrain", "--datasets", "cmapss,femto", "--subsets", "FD001", "--data",
               str(data), "--config", str(TINY), "--epochs", "1", "--out", str(pre)])  # fmt: skip
    assert rc == 0 and pre.exists()
    printed = capsys.readouterr().out
    assert "skip femto" in printed and "cmapss-FD001" in printed
    teacher = tmp_path / "teacher.pt"
    rc = main(["train", "--dataset", "cmapss", "--data", str(data), "--config", str(TINY),
               "--epochs", "1", "--init", str(pre), "--out", str(teacher)])  # fmt: skip
    assert rc == 0
    assert "init from" in capsys.readouterr().out
    student, report = tmp_path / "student.pt", tmp_path / "distill.json"
    rc = main(["distill", "--teacher", str(teacher), "--config", str(TINY), "--data", str(data),
               "--epochs", "1", "--alphas", "0,1", "--out", str(student),
               "--metrics-out", str(report)])  # fmt: skip
    assert rc == 0
    result = json.loads(report.read_text())
    assert result["alpha"] == 1.0
    for name in ("teacher", "student", "student_alone"):
        assert result[name]["cpu_latency"]["p50_ms_batch1"] > 0
        assert result[name]["cpu_latency"]["windows_per_s_batch64"] > 0
        assert "rul_rmse" in result[name]["test"]
    _, header = load_checkpoint(student)
    assert header.training["distilled_from"] == str(teacher)
    rc = main(["distill", "--teacher", str(pre), "--config", str(TINY), "--out", str(student)])
    assert rc == 2  # a pretrained checkpoint is no teacher

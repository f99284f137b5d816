"""Vibration augmentation: a speed change moves a tone's frequency by the same factor; gain
scales amplitude; the default does nothing."""

from __future__ import annotations

import numpy as np
import torch

from phm.models.augment import VibrationAugment, resample


def test_resample_scales_a_tone_frequency_by_the_rate() -> None:
    n, f = 4096, 200.0  # cycles per n samples... as bins of the rFFT
    t = torch.arange(n, dtype=torch.float32)
    x = torch.sin(2 * torch.pi * f * t / n)[None, None, :].repeat(2, 1, 1)
    y = resample(x, torch.tensor([0.95, 1.05]))
    spec = torch.fft.rfft(y[:, 0, : n // 2 * 2]).abs()
    peaks = spec[:, 1:].argmax(-1) + 1
    assert abs(int(peaks[0]) - 0.95 * f) <= 1
    assert abs(int(peaks[1]) - 1.05 * f) <= 2  # reflected tail adds little energy elsewhere


def test_augment_changes_speed_and_gain_per_window_but_not_without_jitter() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, 1, 256)
    same = VibrationAugment(0.0, 0.0)({"vibration": x}, gen)["vibration"]
    assert same is x
    out = VibrationAugment(0.0, 0.25)({"vibration": x}, gen)["vibration"]
    ratio = (out.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))).numpy()
    assert np.all(ratio >= 1 / 1.25 - 1e-5) and np.all(ratio <= 1.25 + 1e-5)
    assert ratio.std() > 0.01  # one gain per window
    moved = VibrationAugment(0.03, 0.0)({"vibration": x}, gen)["vibration"]
    assert moved.shape == x.shape and not torch.allclose(moved, x)
    assert torch.allclose(moved[:, 0, :, 0], x[:, 0, :, 0])  # position 0 reads sample 0

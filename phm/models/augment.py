"""Training-time augmentation of vibration windows for changes of load and speed.

A bearing record at another motor load differs from the training records in two ways the
physics predicts: the shaft turns slightly slower or faster (CWRU: 1797 rpm at 0 hp, 1772 rpm at
1 hp, -1.4%), which scales every shaft-locked and defect frequency by the same factor, and
vibration amplitudes change with the load on the bearing. `VibrationAugment` draws, per
window, a time-scale factor (resampling the waveform, so every frequency moves together) and a
gain, so the classifier learns fault signatures that hold across loads instead of the exact
frequencies and levels of one load. The ranges are set from that physics, not tuned on any
test load.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class VibrationAugment:
    """Random speed change and gain on `inputs["vibration"]` (B, S, C, L), per window.

    speed: the time-scale factor r is uniform in [1 - speed, 1 + speed]; the window's S
    snapshots are resampled as one waveform at positions r * t (linear interpolation, the
    end reflected when r > 1). gain: log-uniform in [1 / (1 + gain), 1 + gain].
    """

    speed: float = 0.0
    gain: float = 0.0

    def __call__(self, inputs: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
        x = inputs.get("vibration")
        if x is None or (self.speed <= 0 and self.gain <= 0):
            return inputs
        b, s, c, n = x.shape
        u = torch.rand(b, 2, generator=generator).to(x.device)  # (B, 2) in [0, 1)
        y = x.float()
        if self.speed > 0:
            rate = 1.0 + self.speed * (2.0 * u[:, 0] - 1.0)  # (B,)
            y = resample(y.permute(0, 2, 1, 3).reshape(b, c, s * n), rate)  # (B, C, S*L)
            y = y.reshape(b, c, s, n).permute(0, 2, 1, 3)
        if self.gain > 0:
            log_g = torch.log1p(torch.tensor(self.gain)) * (2.0 * u[:, 1] - 1.0)
            y = y * log_g.exp()[:, None, None, None]
        return inputs | {"vibration": y.to(x.dtype).contiguous()}


def resample(x: Tensor, rate: Tensor) -> Tensor:
    """x (B, C, N) read at positions rate_b * t, t = 0 .. N-1, linearly interpolated.

    Positions past the last sample are reflected back into the signal (N - 1 - overshoot).
    """
    b, c, n = x.shape
    t = torch.arange(n, device=x.device, dtype=torch.float32)
    pos = rate[:, None].float() * t[None, :]  # (B, N)
    last = float(n - 1)
    pos = torch.where(pos > last, 2 * last - pos, pos).clamp(0.0, last)
    lo = pos.floor().long().clamp_max(n - 2) if n > 1 else pos.floor().long()
    frac = (pos - lo.float())[:, None, :]  # (B, 1, N)
    idx = lo[:, None, :].expand(b, c, n)
    a = x.gather(-1, idx)
    z = x.gather(-1, (idx + 1).clamp_max(n - 1))
    return a + frac * (z - a)

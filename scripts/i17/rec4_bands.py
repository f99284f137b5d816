# ruff: noqa  (one-off experiment script, kept for reproducibility)
"""Issue 17 part 4 (validation only): envelope features in several demodulation bands.
python scripts/i17/rec4_bands.py  -> /tmp/rec4/bands.pkl (per recording: (W, B*K) line ratios,
band kurtosis per band), then rec2_validation-style cells on the training recordings."""

import pickle, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np

sys.path.insert(0, ".")
from phm.bench.recordings import load_recordings
from phm.datasets.recordings import read_signal
from phm.features.orders import OrderConfig, angle_windows, defect_lines, _kurtosis

import os

SETS = {
    "b5": ((300, 1200), (1200, 2400), (2400, 3600), (3600, 4800), (4800, 5800)),
    "b3": ((500, 2000), (2000, 3500), (3500, 5000)),
    "b8": tuple((lo, lo + 700) for lo in range(300, 5800, 700)),
}
SET = os.environ.get("BANDSET", "b5")
BANDS = SETS[SET]
out = {}
t0 = time.time()
for ds, man, bearing in (
    ("cwru", Path("/work/shared/data/cwru"), None),
    ("hitsm", Path("/work/shared/data/hitsm"), "6205"),
):
    for r in load_recordings([man], "label", bearing):
        x = read_signal(r)
        cols, kurt = [], []
        for b in BANDS:
            w = angle_windows(x, r.fs_hz, r.rpm, replace(OrderConfig(), envelope_band=b))
            L = defect_lines(w, r.defect_orders)
            cols.append(np.stack([L[k] for k in L], axis=1))
            kurt.append(_kurtosis(w.band))
        out[r.key] = dict(lines=np.stack(cols, 1), names=list(L), kurt=np.stack(kurt, 1))
print(time.time() - t0, len(out))
pickle.dump(out, open(f"/tmp/rec4/bands_{SET}.pkl", "wb"))

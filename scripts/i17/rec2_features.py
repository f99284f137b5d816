# ruff: noqa  (one-off experiment script, kept for reproducibility)
"""Issue 17 part 2 validation (training recordings only): feature cache. Run from the repo root:
python scripts/i17/rec2_features.py  (writes /tmp/rec2/feats.pkl, ~4 s)."""

import pickle, sys, time
from pathlib import Path
import numpy as np

sys.path.insert(0, ".")
from phm.bench.recordings import load_recordings
from phm.datasets.recordings import read_signal
from phm.features.orders import OrderConfig, angle_windows, order_features, order_spectrum

cfg = OrderConfig()
out = {}
t0 = time.time()
for ds, man, bearing in (
    ("cwru", Path("/work/shared/data/cwru"), None),
    ("hitsm", Path("/work/shared/data/hitsm"), "6205"),
):
    recs = load_recordings([man], "label", bearing)
    for r in recs:
        x = read_signal(r)
        w = angle_windows(x, r.fs_hz, r.rpm, cfg)
        F, names = order_features(w, r.defect_orders)
        o, a = order_spectrum(w.envelope, cfg.samples_per_rev)
        ro, ra = order_spectrum(w.raw, cfg.raw_samples_per_rev)
        out[r.key] = dict(
            ds=ds,
            fields=r.fields,
            label=r.label,
            F=F,
            names=names,
            eo=o,
            ea=a,
            ro=ro,
            ra=ra,
            bk=None,
        )
print(time.time() - t0, len(out))
Path("/tmp/rec2").mkdir(exist_ok=True)
pickle.dump(out, open("/tmp/rec2/feats.pkl", "wb"))

# ruff: noqa  (one-off experiment script, kept for reproducibility)
"""Issue 17 part 4 validation: BANDSET=b5|b3|b8 python scripts/i17/rec4_validation.py val KINDS MODELS
KINDS: Fm (part-2 default), Fm+max / Fm+maxk / Fm+all / Fm+allk / Fm+kurt / Fm+sel (the 45 features plus the
envelope lines in every band of BANDSET at their max / all bands / band kurtosis / the most impulsive band),
recording mean. Needs scripts/i17/rec2_features.py and BANDSET=... scripts/i17/rec4_bands.py first."""

import sys, pickle, itertools
import numpy as np

sys.path.insert(0, "scripts/i17")
sys.path.insert(0, ".")
import rec2_validation as V

B = pickle.load(
    open("/tmp/rec4/bands_" + __import__("os").environ.get("BANDSET", "b5") + ".pkl", "rb")
)
for k in V.D:
    V.D[k]["key"] = k
orig = V.feats


def extra(d, kind):
    b = B[d["key"]]
    L = b["lines"]  # (W, nb, K)
    n = d["F"].shape[0]
    L = L[:n] if L.shape[0] >= n else L
    if kind == "all":
        X = L.reshape(L.shape[0], -1)
    elif kind == "max":
        X = np.nanmax(L, axis=1)
    elif kind == "kurt":
        X = np.log(np.maximum(b["kurt"] + 3, 1e-3))
    elif kind == "sel":
        i = np.argmax(np.nanmean(b["kurt"], 0))
        X = L[:, i, :]
    elif kind == "allk":
        X = np.hstack([L.reshape(L.shape[0], -1), np.log(np.maximum(b["kurt"] + 3, 1e-3))])
    elif kind == "maxk":
        X = np.hstack([np.nanmax(L, axis=1), np.log(np.maximum(b["kurt"] + 3, 1e-3))])
    return X


def feats(d, kind):
    base, _, ex = kind.partition("+")
    F = orig(d, "F") if base in ("F", "Fm") else None
    X = F
    if ex:
        E = extra(d, ex)
        m = min(len(E), len(F))
        X = np.hstack([F[:m], E[:m]]) if base != "E" else E
    if base.startswith("Fm") or base == "E":
        pass
    if kind.startswith("Fm") or kind.startswith("E"):
        X = np.repeat(np.nanmean(X, axis=0, keepdims=True), X.shape[0], 0)
    return X


V.feats = feats
# XY truncation for halves uses d["F"], d["ea"]; our extra aligns by count, fine for val halves? handle
_XY = V.XY


def XY(keys, kind, lab, part=None):
    xs, ys = [], []
    for k in keys:
        d = dict(V.D[k])
        n = d["F"].shape[0]
        sl = (
            slice(None)
            if part is None
            else (slice(0, n // 2) if part == "a" else slice(n // 2 + 1, None))
        )
        d["F"] = d["F"][sl]
        b = B[k]
        saved = B[k]
        B[k] = dict(lines=b["lines"][:n][sl], kurt=b["kurt"][:n][sl], names=b["names"])
        X = feats(d, kind)
        B[k] = saved
        xs.append(X)
        ys += [V.D[k]["fields"][lab] if lab != "label" else V.D[k]["label"]] * X.shape[0]
    return np.nan_to_num(np.concatenate(xs), nan=0.0), np.array(ys)


V.XY = XY
mode = sys.argv[1]
for kind, m in itertools.product(sys.argv[2].split(","), sys.argv[3].split(",")):
    r = V.validation(kind, m)
    print(
        f"{kind:9s} {m:5s} mean {np.mean(list(r.values())):.3f} hit {np.mean([v for k, v in r.items() if not k.startswith('cw')]):.3f} | "
        + " ".join(f"{k} {v:.3f}" for k, v in r.items()),
        flush=True,
    )

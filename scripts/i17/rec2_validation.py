# ruff: noqa  (one-off experiment script, kept for reproducibility)
"""Issue 17 part 2 validation: python scripts/i17/rec2_validation.py val KINDS MODELS
KINDS: F (45 order features per window), Fm (recording mean), Fc (both), S<k>/FS<k> (log envelope
order spectrum 0.5-12 orders, max-pooled +-k bins); MODELS: gbm, lr<C>, knn<k>, lrknn, lrgbm.
HIT-SM: train one training speed, validate on the other, for every held-out test speed; CWRU:
first/second half of each load-0 (load-1) recording (loads 2, 3 are not in ../shared/data).
The `test` mode was not used: the test side was scored once through `phm bench recordings`."""

import pickle, sys, time, itertools
import numpy as np
from scipy.ndimage import maximum_filter1d

sys.path.insert(0, ".")
from phm.models.classifiers import GbmFaultClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.neighbors import KNeighborsClassifier
from sklearn.impute import SimpleImputer

D = pickle.load(open("/tmp/rec2/feats.pkl", "rb"))
T10 = "normal|IR007|IR014|IR021|B007|B014|B021|OR007@6|OR014@6|OR021@6".split("|")


def spec(d, hi=12.0, pool=2):
    o, a = d["eo"], d["ea"]
    la = np.log(np.maximum(a, 1e-300))
    ref = np.median(la[:, (o >= 0.5) & (o < 32)], axis=1, keepdims=True)
    z = la - ref
    if pool:
        z = maximum_filter1d(z, 2 * pool + 1, axis=1)
    return z[:, (o >= 0.5) & (o <= hi)]


def feats(d, kind):
    F = d["F"]
    if kind == "F":
        return F
    if kind == "Fc":
        return np.hstack([F, np.repeat(np.nanmean(F, axis=0, keepdims=True), F.shape[0], 0)])
    if kind == "FSm":
        X = np.hstack([F, spec(d, pool=2)])
        return np.repeat(np.nanmean(X, axis=0, keepdims=True), F.shape[0], 0)
    if kind == "Sm":
        X = spec(d, pool=2)
        return np.repeat(np.nanmean(X, axis=0, keepdims=True), F.shape[0], 0)
    if kind == "Fms":
        X = np.hstack([np.nanmean(F, axis=0), np.nanstd(F, axis=0)])[None]
        return np.repeat(X, F.shape[0], 0)
    if kind == "Fm":
        return np.repeat(np.nanmean(F, axis=0, keepdims=True), F.shape[0], 0)
    if kind.startswith("S"):
        S = spec(d, pool=int(kind[1:] or 2))
        return S
    if kind.startswith("FS"):
        return np.hstack([F, spec(d, pool=int(kind[2:] or 2))])


def model(name, seed):
    if name == "gbm":
        return GbmFaultClassifier(random_state=seed)
    if name.startswith("lr") and name[2:3] in "0123456789":
        C = float(name[2:] or 1.0)
        return make_pipeline(
            SimpleImputer(),
            StandardScaler(),
            LogisticRegression(C=C, max_iter=2000, class_weight="balanced"),
        )
    if name == "lrknn":
        from sklearn.ensemble import VotingClassifier

        return make_pipeline(
            SimpleImputer(),
            StandardScaler(),
            VotingClassifier(
                [
                    ("lr", LogisticRegression(max_iter=2000, class_weight="balanced")),
                    ("knn", KNeighborsClassifier(5)),
                ],
                voting="soft",
            ),
        )
    if name == "lrgbm":
        from sklearn.ensemble import VotingClassifier

        return VotingClassifier(
            [
                (
                    "lr",
                    make_pipeline(
                        SimpleImputer(),
                        StandardScaler(),
                        LogisticRegression(max_iter=2000, class_weight="balanced"),
                    ),
                ),
                ("g", GbmFaultClassifier(random_state=seed)),
            ],
            voting="soft",
        )
    if name.startswith("knn"):
        return make_pipeline(
            SimpleImputer(), StandardScaler(), KNeighborsClassifier(int(name[3:] or 5))
        )


def XY(keys, kind, lab, part=None):
    xs, ys = [], []
    for k in keys:
        d = dict(D[k])
        n = d["F"].shape[0]
        if part == "a":
            d["F"], d["ea"] = d["F"][: n // 2], d["ea"][: n // 2]
        elif part == "b":
            d["F"], d["ea"] = d["F"][n // 2 + 1 :], d["ea"][n // 2 + 1 :]
        X = feats(d, kind)
        xs.append(X)
        ys += [D[k]["fields"][lab] if lab != "label" else D[k]["label"]] * X.shape[0]
    return np.nan_to_num(np.concatenate(xs), nan=0.0), np.array(ys)


def score(tr, te, kind, mname, lab, ptr=None, pte=None, seed=0):
    Xf, yf = XY(tr, kind, lab, ptr)
    Xv, yv = XY(te, kind, lab, pte)
    m = model(mname, seed).fit(Xf, yf)
    return float(np.mean(m.predict(Xv) == yv))


def hit(rig, rpm):
    return [
        k
        for k, d in D.items()
        if d["ds"] == "hitsm" and d["fields"]["rig"] == rig and d["fields"]["rpm"] == rpm
    ]


def cw(load):
    return [
        k
        for k, d in D.items()
        if d["ds"] == "cwru" and d["fields"]["load"] == load and d["label"] in T10
    ]


def validation(kind, mname):
    res = {}
    for rig in ("spectraquest", "selfbuilt"):
        for lab in ("label", "location"):
            accs = []
            for C in ("600", "900", "1200"):
                A, B = [r for r in ("600", "900", "1200") if r != C]
                accs += [
                    score(hit(rig, A), hit(rig, B), kind, mname, lab),
                    score(hit(rig, B), hit(rig, A), kind, mname, lab),
                ]
            res[f"{rig[:5]}-{lab[:3]}"] = np.mean(accs)
    for load in ("0", "1"):
        for lab in ("label", "location"):
            res[f"cw{load}-{lab[:3]}"] = np.mean(
                [
                    score(cw(load), cw(load), kind, mname, lab, "a", "b"),
                    score(cw(load), cw(load), kind, mname, lab, "b", "a"),
                ]
            )
    return res


def test(kind, mname, seed=0):
    res = {}
    for rig in ("spectraquest", "selfbuilt"):
        for lab in ("label", "location"):
            accs = []
            for C in ("600", "900", "1200"):
                A, B = [r for r in ("600", "900", "1200") if r != C]
                accs.append(
                    score(hit(rig, A) + hit(rig, B), hit(rig, C), kind, mname, lab, seed=seed)
                )
            res[f"{rig[:5]}-{lab[:3]}"] = np.mean(accs)
    for a, b in (("0", "1"), ("1", "0")):
        for lab in ("label", "location"):
            te = [k for k in cw(b) if D[k]["label"] in {D[j]["label"] for j in cw(a)}]
            res[f"cw{a}{b}-{lab[:3]}"] = score(cw(a), te, kind, mname, lab, seed=seed)
    return res


if __name__ == "__main__":
    mode = sys.argv[1]
    for kind, mname in itertools.product(sys.argv[2].split(","), sys.argv[3].split(",")):
        t = time.time()
        r = (validation if mode == "val" else test)(kind, mname)
        print(
            f"{mode} {kind:5s} {mname:6s} mean {np.mean(list(r.values())):.3f} hit {np.mean([v for k, v in r.items() if not k.startswith('cw')]):.3f} | "
            + " ".join(f"{k} {v:.3f}" for k, v in r.items())
            + f" | {time.time() - t:.0f}s",
            flush=True,
        )

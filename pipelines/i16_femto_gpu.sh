#!/usr/bin/env bash
# Issue 16, PRONOSTIA: the figures of docs/i16/femto.md that need a GPU (the networks, 3 seeds),
# beside the CPU models for the same data, all in parallel.
#
#   bash pipelines/i16_femto_gpu.sh DATA OUT
#     DATA  folder holding femto/ (Learning_set/ or Learning_set.tar.xz; Test_set too for the
#           challenge protocol)
#     OUT   result folder; each run writes OUT/NAME/*.json and OUT/NAME.log
#
# Runs: degradation (the default model), gbm, moe and dense on leave-one-bearing-out; moe,
# dense (3 seeds each), degradation and gbm on the challenge protocol when a Test_set is there.
# Seeds are separate processes (`--seed S --seeds 1`); `python3 pipelines/seed_summary.py OUT`
# gives mean and std over them.
set -u
data=$1 out=$2
epochs=${EPOCHS:-20}
seeds=${SEEDS:-0 1 2}
mkdir -p "$out"
cache=$(mktemp -d)  # parse cache outside the repository, shared by every run below
phm() { python3 -m phm "$@"; }
# Parse (and extract) once before the parallel runs, so they do not race on the cache.
sets='("Learning_set",)'
if [ -e "$data/femto/Test_set" ] || ls "$data"/femto/Test_set.tar* >/dev/null 2>&1; then
    sets='("Learning_set", "Test_set")'
fi
python3 -c "from phm.datasets.femto import load_femto; load_femto('$data', sets=$sets, cache_dir='$cache')" \
    >"$out/parse.log" 2>&1 || { cat "$out/parse.log" >&2; exit 1; }
protocols=lobo
[ "$sets" != '("Learning_set",)' ] && protocols="lobo challenge"
for protocol in $protocols; do
    for model in degradation gbm; do
        name=femto-$protocol-$model
        phm bench femto --data "$data" --cache "$cache" --protocol "$protocol" --model $model \
            --out "$out/$name" >"$out/$name.log" 2>&1 &
    done
    for model in moe dense; do
        for seed in $seeds; do
            name=femto-$protocol-$model-$seed
            phm bench femto --data "$data" --cache "$cache" --protocol "$protocol" --model $model \
                --device cuda --seed "$seed" --seeds 1 --epochs "$epochs" --threads 1 \
                --out "$out/$name" >"$out/$name.log" 2>&1 &
        done
    done
done
status=0
for job in $(jobs -p); do
    wait "$job" || status=1
done
rm -rf "$cache"
exit $status
